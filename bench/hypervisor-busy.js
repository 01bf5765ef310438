'use strict';
/**
 * The busy phase of bench/hypervisor-bench.js (veth shape): a fixed number of UDP datagrams at a
 * fixed rate out of the VM namespace, either round-robin over all N VM devices (one packet to each
 * ENI in turn) or all out of VM 0's device, and the kernel's own count of what each ENI device
 * received (the oracle the records are checked against).
 *
 * The sender is one python3 process with one bound UDP socket per VM, paced in 1 ms batches
 * (rate/1000 datagrams, then a sleep to the batch's due time). Why not tcpreplay, as the bridge
 * shape uses: tcpreplay sends out of one device, and the veth shape needs a packet out of each of
 * N devices in turn (N tcpreplay processes would each pace at 150 pps and wake 200 times as
 * often). A socket per VM keeps the round-robin exact and the rate steady at 30 k pps on 2 cores:
 * the sender's per-packet cost is one sendto (the veth delivers to the ENI device within that call).
 */
const { execFileSync, spawn } = require('node:child_process');
const { treeCpuNs } = require('./live-contenders');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const SENDER = `
import json, socket, sys, time
n, count, pps, port, first = map(int, sys.argv[1:6])
a = lambda v: socket.inet_ntoa(v.to_bytes(4, "big"))
targets = []
for i in range(first, first + n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a(0x0a640000 + i * 8 + 2), port))
    targets.append((s.sendto, (a(0x0a640000 + i * 8 + 3), 7000)))
payload = b"x" * 32
batch = max(1, pps // 1000)
retries = 0
t0 = time.monotonic()
k = 0
while k < count:
    m = min(batch, count - k)
    for j in range(k, k + m):
        send, to = targets[j % n]
        while True:
            try:
                send(payload, to)
                break
            except OSError:  # ENOBUFS: sent again, so the count stays exact
                retries += 1
                time.sleep(0.0001)
    k += m
    late = t0 + k / pps - time.monotonic()
    if late > 0:
        time.sleep(late)
print(json.dumps({"sent": k, "sec": time.monotonic() - t0, "retries": retries}))
`;

/**
 * Sends `count` datagrams at `pps` from port `port` of VMs first..first+n-1 (in namespace `ns`),
 * round-robin. Resolves { sent, sec, retries }; datagram j goes out of VM first + (j % n).
 */
function sendPaced(ns, { n, count, pps, port, first = 0 }) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        ns,
        'python3',
        '-c',
        SENDER,
        String(n),
        String(count),
        String(pps),
        String(port),
        String(first),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`send datagrams: python3 exited ${code}: ${err.trim().slice(-300)}`));
      resolve(JSON.parse(out.trim().split('\n').pop()));
    });
  });
}

/** rx_packets of every device in `ns` whose name starts with `prefix` (ip -s -j link). */
function deviceRx(ns, prefix) {
  const links = JSON.parse(execFileSync('ip', ['-n', ns, '-s', '-j', 'link', 'show'], { encoding: 'utf8' }));
  const rx = new Map();
  for (const l of links) if (l.ifname.startsWith(prefix)) rx.set(l.ifname, l.stats64.rx.packets);
  return rx;
}

/** Packets expected on ENI i when `count` go round-robin over `n` ENIs. */
const shareOf = (i, n, count) => Math.floor(count / n) + (i < count % n ? 1 : 0);

/** Source ports of the phases, so each phase's packets are told apart in the records. */
const PORT = { exact: 40000, spread: 40001, one: 40002 };
const TAIL_MS = 2500;

/**
 * The busy phases in `order` ('spread', 'one'): each sends `packets` at `pps`, its CPU read off
 * `pid`'s tree (treeCpuNs) from the send's start to TAIL_MS after its end, and the ENI devices' rx counts.
 */
async function busyPhases(pid, n, { hostNs, vmNs }, { packets, pps, order }) {
  const phases = {};
  for (const name of order) {
    const rx0 = deviceRx(hostNs, 'fhv');
    const t0 = new Map();
    const c0 = treeCpuNs(pid, t0);
    const sent = await sendPaced(vmNs, { n: name === 'spread' ? n : 1, count: packets, pps, port: PORT[name] });
    await sleep(TAIL_MS);
    const t1 = new Map();
    const cpuSec = (treeCpuNs(pid, t1) - c0) / 1e9;
    // Where the CPU went, by thread name (main "node", "libuv-worker", V8's "V8 DefaultWorke"...).
    const threads = {};
    for (const [key, ns] of t1) {
      const comm = key.slice(key.indexOf(' ') + 1);
      threads[comm] = Math.round(((threads[comm] || 0) + (ns - (t0.get(key) || 0)) / 1e9) * 1e4) / 1e4;
    }
    const rx1 = deviceRx(hostNs, 'fhv');
    let deviceRxTotal = 0;
    for (const [dev, v] of rx1) deviceRxTotal += v - (rx0.get(dev) || 0);
    phases[name] = {
      sent: sent.sent,
      sendSec: sent.sec,
      retries: sent.retries,
      deviceRx: deviceRxTotal,
      cpuSec,
      threads,
    };
  }
  return phases;
}

/** OK UDP packets per "eni srcport" in the records. */
function okPackets(recs) {
  const by = new Map();
  for (const r of recs)
    if (r['log-status'] === 'OK' && r.protocol === '17') {
      const k = `${r['eni-id']} ${r.srcport}`;
      by.set(k, (by.get(k) || 0) + Number(r.packets));
    }
  return by;
}

/** The busy phases' records against what was sent: sums, ENIs exact, and the first few misses. */
function checkBusy(phases, by, n, prefix, misses) {
  for (const [name, p] of Object.entries(phases)) {
    let recorded = 0;
    let exact = 0;
    const enis = name === 'spread' ? n : 1;
    for (let i = 0; i < enis; i++) {
      const want = name === 'spread' ? shareOf(i, n, p.sent) : p.sent;
      const got = by.get(`${prefix}${i} ${PORT[name]}`) || 0;
      recorded += got;
      if (got === want) exact++;
      else if (misses.length < 10) misses.push({ phase: name, eni: `${prefix}${i}`, want, got });
    }
    Object.assign(p, { recorded, exactEnis: exact, enis });
  }
}

module.exports = { PORT, busyPhases, checkBusy, okPackets, sendPaced, deviceRx, shareOf };
