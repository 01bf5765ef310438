import { execFileSync, type ChildProcess } from 'node:child_process';
import type { NetnsLab } from './netns';

/**
 * VMs on veth ENIs for the device-churn tests: VM i's device `<prefix><i>` in the host namespace
 * (the ENI's device, captured by the daemon), its peer `<prefix>p<i>` in the VM namespace with
 * address 10.<net>.<i>.2/24, fixed MACs, and a static neighbour for the phantom peer .3, so the
 * VM's datagrams need no ARP and get no answer: the host device carries exactly the VM's frames.
 * New devices start without IPv6 (set per namespace by `quietNamespaces`).
 */
export class VmVeths {
  constructor(
    private readonly lab: NetnsLab,
    readonly hostNs: string,
    readonly vmNs: string,
    readonly prefix: string,
    private readonly net: number,
  ) {}

  /** No IPv6 on devices created later in either namespace (router solicitations would be counted). */
  static quietNamespaces(lab: NetnsLab, namespaces: readonly string[]): void {
    for (const ns of namespaces)
      lab.exec(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  }

  device(i: number): string {
    return `${this.prefix}${i}`;
  }
  vmAddress(i: number): string {
    return `10.${this.net}.${i}.2`;
  }
  peerAddress(i: number): string {
    return `10.${this.net}.${i}.3`;
  }
  vmMac(i: number): string {
    return `02:bb:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
  }

  /** Creates VM i's veth; the host end comes up last (when packets can flow). */
  create(indexes: readonly number[]): void {
    batch(
      indexes.map(
        (i) =>
          `link add ${this.device(i)} netns ${this.hostNs} type veth peer name ${this.prefix}p${i} netns ${this.vmNs} address ${this.vmMac(i)}`,
      ),
    );
    batch(
      indexes.flatMap((i) => [
        `addr replace ${this.vmAddress(i)}/24 dev ${this.prefix}p${i}`,
        `link set ${this.prefix}p${i} up`,
        `neigh replace ${this.peerAddress(i)} lladdr 02:cc:00:00:00:01 dev ${this.prefix}p${i}`,
      ]),
      this.vmNs,
    );
    batch(
      indexes.map((i) => `link set ${this.device(i)} up`),
      this.hostNs,
    );
  }

  /** Deletes VM i's veth (both ends), after taking the host end down first when `down`. */
  remove(i: number, down: boolean): void {
    if (down) this.lab.exec(this.hostNs, 'ip', ['link', 'set', this.device(i), 'down']);
    this.lab.exec(this.hostNs, 'ip', ['link', 'del', this.device(i)]);
  }

  /**
   * VM i sends UDP at `pps` to its phantom peer for `seconds` from `flows` source ports (40000 +
   * k), in turn, on an absolute schedule; send errors (no device) are skipped. Nothing is sent
   * within `quietMs` of a multiple of `windowSec`, so each packet's window is unambiguous to an
   * oracle that samples counters every few milliseconds.
   */
  send(i: number, pps: number, seconds: number, windowSec: number, quietMs: number, flows = 1): ChildProcess {
    const script = [
      'import socket, time',
      `socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(${flows})]`,
      `for f, s in enumerate(socks): s.bind(("0.0.0.0", 40000 + f))`,
      `t0 = time.time(); k = 0; end = t0 + ${seconds}`,
      'while True:',
      `    t = t0 + k / ${pps}`,
      '    if t >= end: break',
      '    k += 1',
      `    off = t % ${windowSec}`,
      `    if off < ${quietMs / 1000} or off > ${windowSec - quietMs / 1000}: continue`,
      '    d = t - time.time()',
      '    if d > 0: time.sleep(d)',
      '    try:',
      `        socks[k % ${flows}].sendto(b"x" * 32, ("${this.peerAddress(i)}", 7000))`,
      '    except OSError:',
      '        pass',
    ].join('\n');
    return this.lab.spawn(this.vmNs, 'python3', ['-c', script]);
  }

  /**
   * Samples VM i's host device every 5 ms for `seconds`: [Unix ms, ifindex (0: absent), rx + tx],
   * a line at each change. Resolves when done.
   */
  sample(i: number, seconds: number): Promise<DeviceSample[]> {
    const script = [
      'import time',
      `d = "/sys/class/net/${this.device(i)}"`,
      'def rd(p):',
      '    with open(p) as f: return int(f.read())',
      `end = time.time() + ${seconds}`,
      'last = None',
      'while time.time() < end:',
      '    try:',
      '        v = (rd(d + "/ifindex"), rd(d + "/statistics/rx_packets") + rd(d + "/statistics/tx_packets"))',
      '    except (OSError, ValueError):',
      '        v = (0, 0)',
      '    if v != last:',
      '        print("%d %d %d" % (int(time.time() * 1000), v[0], v[1]), flush=True)',
      '        last = v',
      '    time.sleep(0.005)',
    ].join('\n');
    const child = this.lab.spawn(this.hostNs, 'python3', ['-c', script]);
    let text = '';
    child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
    return new Promise((resolve) =>
      child.on('exit', () =>
        resolve(
          text
            .trim()
            .split('\n')
            .filter(Boolean)
            .map((l) => l.split(' ').map(Number) as DeviceSample),
        ),
      ),
    );
  }
}

/** [Unix ms, ifindex (0: absent), rx_packets + tx_packets]. */
export type DeviceSample = [number, number, number];

/**
 * Packets the device carried in [fromMs, toMs) by its own counters: each run of samples of one
 * device instance (an ifindex, present) counts from 0 before its first sample (a new device's
 * counters start at 0), the value at a bound being the largest sample before the bound (a veth
 * being deleted reads 0 for a moment: its receive counts are its peer's, detached first).
 */
export function carried(samples: readonly DeviceSample[], fromMs: number, toMs: number): number {
  const runs: Array<{ ifindex: number; points: Array<[number, number]> }> = [];
  for (const [t, ifindex, n] of samples) {
    const run = runs[runs.length - 1];
    if (run === undefined || run.ifindex !== ifindex) runs.push({ ifindex, points: [[t, n]] });
    else run.points.push([t, n]);
  }
  const at = (points: Array<[number, number]>, ms: number) => {
    if (ms <= points[0][0]) return 0;
    let v = 0;
    for (const [t, n] of points) if (t < ms && n > v) v = n;
    return v;
  };
  return runs.filter((r) => r.ifindex > 0).reduce((sum, r) => sum + at(r.points, toMs) - at(r.points, fromMs), 0);
}

function batch(lines: readonly string[], ns?: string): void {
  execFileSync('ip', [...(ns === undefined ? [] : ['-n', ns]), '-batch', '-'], {
    input: lines.join('\n') + '\n',
    stdio: ['pipe', 'ignore', 'pipe'],
  });
}
