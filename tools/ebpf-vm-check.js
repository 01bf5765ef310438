// Runs inside the kernel tools/ebpf-vm-check.sh boots (qemu, the host's root over 9p, read-only):
// does the flow program load (this kernel's verifier), attach (TCX, else clsact) and count there?
// Prints CHECK lines; expected flows: out UDP 1001->2001 6p 768B, 1005->2005 2p 96B (802.1Q),
// 1011->2011 2p 160B (IPv6 behind two extension headers), 3001->4001 4p 3640B (IPv4 fragments).
const { execFileSync } = require('child_process');
const { writeFileSync } = require('fs');
const { EbpfFlowEngine, deviceHooks } = require(`${process.env.FLOWLOG_REPO}/dist/capture/ebpf/ebpf-engine.js`);
const { probeEbpf } = require(`${process.env.FLOWLOG_REPO}/dist/capture/ebpf/ebpf-probe.js`);
const out = (k, v) => console.log(`CHECK ${k} ${JSON.stringify(v)}`);
(async () => {
  execFileSync('uname', ['-r'], { stdio: 'inherit' });
  out('probe', probeEbpf());
  const t0 = Date.now();
  const e = EbpfFlowEngine.open({ flowCapacity: 4096, maxSlots: 16, maxDevices: 4 });
  out('open-ms', Date.now() - t0);
  const eni = Buffer.from([2, 0, 0x5e, 0, 0, 1]);
  e.setSlot(1, { flowQuota: 0, onSharedDevices: false });
  e.setMac(eni, 1);
  execFileSync('ip', ['link', 'add', 'h0', 'type', 'veth', 'peer', 'name', 'p0']);
  execFileSync('ip', ['link', 'set', 'h0', 'up']);
  execFileSync('ip', ['link', 'set', 'p0', 'up']);
  const idx = Number(require('fs').readFileSync('/sys/class/net/h0/ifindex', 'utf8'));
  try {
    await e.attach(idx, { slot: 1, shared: false, mode: 'tcx' });
    out('tcx-forced', 'attached');
  } catch (err) {
    out('tcx-forced', err.message);
  }
  out('attach-auto', await e.attach(idx, { slot: 1, shared: false }));
  out('hooks', deviceHooks(idx));
  // frames: UDP out x3, IPv6 UDP behind hop-by-hop + destination options, VLAN-tagged UDP, IPv4 fragments
  const peer = [2, 0, 0x5e, 0, 0, 2];
  const eth = (type, body, tags = []) => Buffer.from([...peer, ...eni, ...tags, type >> 8, type & 255, ...body]);
  // prettier-ignore
  const ip4 = (proto, body, id = 1, frag = 0) => { const t = 20 + body.length; return [0x45, 0, t >> 8, t & 255, id >> 8, id & 255, frag >> 8, frag & 255, 64, proto, 0, 0, 192, 0, 2, 1, 198, 51, 100, 7, ...body]; };
  const udp = (s, d, n) => [
    s >> 8,
    s & 255,
    d >> 8,
    d & 255,
    (8 + n) >> 8,
    (8 + n) & 255,
    0,
    0,
    ...new Array(n).fill(0x61),
  ];
  const a6 = [0x20, 1, 0xd, 0xb8, ...new Array(11).fill(0), 1];
  const b6 = [0x20, 1, 0xd, 0xb8, ...new Array(11).fill(0), 7];
  const ext = (next) => [next, 0, 1, 4, 0, 0, 0, 0];
  const ip6 = (next, body) => [0x60, 0, 0, 0, body.length >> 8, body.length & 255, next, 64, ...a6, ...b6, ...body];
  const big = udp(3001, 4001, 1472);
  const frames = [
    eth(0x0800, ip4(17, udp(1001, 2001, 100))),
    eth(0x0800, ip4(17, udp(1001, 2001, 100))),
    eth(0x0800, ip4(17, udp(1001, 2001, 100))),
    eth(0x86dd, ip6(0, [...ext(60), ...ext(17), ...udp(1011, 2011, 16)])),
    eth(0x0800, ip4(17, udp(1005, 2005, 20)), [0x81, 0, 0, 100]),
    eth(0x0800, ip4(17, big.slice(0, 1480), 0x4242, 0x2000)),
    eth(0x0800, ip4(17, new Array(300).fill(0x61), 0x4242, 185)),
  ];
  const pcap = [
    Buffer.from([0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0]),
  ];
  for (const f of frames) {
    const h = Buffer.alloc(16);
    h.writeUInt32LE(f.length, 8);
    h.writeUInt32LE(f.length, 12);
    pcap.push(h, f);
  }
  writeFileSync('/tmp/frames.pcap', Buffer.concat(pcap));
  const buf = e.drainBuffers();
  await e.drain(buf);
  execFileSync('tcpreplay', ['-q', '-i', 'p0', '/tmp/frames.pcap'], { stdio: 'ignore' }); // into h0's ingress
  execFileSync('tcpreplay', ['-q', '-i', 'h0', '/tmp/frames.pcap'], { stdio: 'ignore' }); // h0's egress
  await new Promise((r) => setTimeout(r, 300));
  const r = await e.drain(buf);
  const rows = [];
  for (let i = 0; i < r.flows; i++) {
    const o = i * 80;
    rows.push(
      `${buf.records[o + 34] & 1 ? 'out' : 'in'} ${buf.records[o + 35]} ${buf.recordsU16[i * 40 + 18]}->${buf.recordsU16[i * 40 + 19]} ${buf.recordsF64[i * 10 + 6]}p ${buf.recordsF64[i * 10 + 7]}B`,
    );
  }
  out('flows', rows.sort());
  out('drain-ms', { swap: r.swapNs / 1e6, read: r.readNs / 1e6, clear: r.clearNs / 1e6 });
  const st = new Float64Array(9);
  e.readCounters(st);
  out('counters', Array.from(st));
  out('test-run', e.testRun(frames[0], 100000));
  await e.close();
  out('hooks-after-close', deviceHooks(idx));
  out('done', true);
})().catch((err) => {
  out('error', err.stack);
});
