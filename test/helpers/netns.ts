import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * Network namespaces and veth pairs for live-capture tests. Every name carries the caller's
 * unique prefix so test files running in parallel (or a CI runner reusing the host) never meet,
 * and `remove()` deletes the namespaces, which deletes every veth end inside them.
 *
 * Traffic never leaves the namespaces: each veth pair joins two namespaces created here, and
 * IPv6 is disabled on every link so no router solicitations or MLD reports appear unasked.
 */
export class NetnsLab {
  readonly namespaces: string[] = [];
  private readonly hostLinks: string[] = [];

  constructor(
    /** Short unique prefix, at most 6 characters (interface names are limited to 15). */
    readonly prefix: string,
  ) {}

  /** Whether this process can create namespaces (root with CAP_SYS_ADMIN and iproute2). */
  static available(): boolean {
    try {
      execFileSync('ip', ['netns', 'add', 'flowlog-probe-ns'], { stdio: 'ignore' });
      execFileSync('ip', ['netns', 'del', 'flowlog-probe-ns'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  }

  /** Creates namespace `<prefix>-<name>` with loopback up; returns its full name. */
  namespace(name: string): string {
    const ns = `${this.prefix}-${name}`;
    ip(['netns', 'del', ns], true); // left over from an interrupted run
    ip(['netns', 'add', ns]);
    this.namespaces.push(ns);
    this.exec(ns, 'ip', ['link', 'set', 'lo', 'up']);
    return ns;
  }

  /**
   * Creates a veth pair with end `nameA` (address `cidrA`) in `nsA` and `nameB` in `nsB`, both up.
   * Returns the MAC addresses of both ends.
   */
  veth(
    nsA: string,
    nameA: string,
    cidrA: string,
    nsB: string,
    nameB: string,
    cidrB: string,
  ): { macA: string; macB: string } {
    ip(['link', 'add', nameA, 'netns', nsA, 'type', 'veth', 'peer', 'name', nameB, 'netns', nsB]);
    for (const [ns, name, cidr] of [
      [nsA, nameA, cidrA],
      [nsB, nameB, cidrB],
    ]) {
      this.exec(ns, 'sysctl', ['-qw', `net.ipv6.conf.${name}.disable_ipv6=1`]);
      this.exec(ns, 'ip', ['addr', 'add', cidr, 'dev', name]);
      this.exec(ns, 'ip', ['link', 'set', name, 'up']);
    }
    return { macA: this.mac(nsA, nameA), macB: this.mac(nsB, nameB) };
  }

  /**
   * A veth pair between `ns` (end `name`, address `cidr`) and the test's own namespace (end
   * `hostName`, address `hostCidr`), both up: how a daemon in `ns` reaches a server the test runs
   * (the local Log Service). Deleting `ns` deletes both ends; `remove` also deletes the host end.
   */
  uplink(ns: string, name: string, cidr: string, hostName: string, hostCidr: string): void {
    ip(['link', 'del', hostName], true); // left over from an interrupted run
    ip(['link', 'add', hostName, 'type', 'veth', 'peer', 'name', name, 'netns', ns]);
    this.hostLinks.push(hostName);
    execFileSync('sysctl', ['-qw', `net.ipv6.conf.${hostName}.disable_ipv6=1`]);
    ip(['addr', 'add', hostCidr, 'dev', hostName]);
    ip(['link', 'set', hostName, 'up']);
    this.exec(ns, 'sysctl', ['-qw', `net.ipv6.conf.${name}.disable_ipv6=1`]);
    this.exec(ns, 'ip', ['addr', 'add', cidr, 'dev', name]);
    this.exec(ns, 'ip', ['link', 'set', name, 'up']);
  }

  /** Creates Linux bridge `name` in `ns`, up, without addresses. */
  bridge(ns: string, name: string): void {
    this.exec(ns, 'ip', ['link', 'add', name, 'type', 'bridge']);
    this.exec(ns, 'sysctl', ['-qw', `net.ipv6.conf.${name}.disable_ipv6=1`]);
    this.exec(ns, 'ip', ['link', 'set', name, 'up']);
  }

  /**
   * A VM on a bridge: a veth pair with end `vmName` (address `cidr`) in `nsVm` and `hostName`
   * in `nsHost`, enslaved to `bridge`, both up. Returns the VM end's MAC.
   */
  bridgePort(nsHost: string, hostName: string, bridge: string, nsVm: string, vmName: string, cidr: string): string {
    ip(['link', 'add', hostName, 'netns', nsHost, 'type', 'veth', 'peer', 'name', vmName, 'netns', nsVm]);
    this.exec(nsHost, 'sysctl', ['-qw', `net.ipv6.conf.${hostName}.disable_ipv6=1`]);
    this.exec(nsHost, 'ip', ['link', 'set', hostName, 'master', bridge, 'up']);
    this.exec(nsVm, 'sysctl', ['-qw', `net.ipv6.conf.${vmName}.disable_ipv6=1`]);
    this.exec(nsVm, 'ip', ['addr', 'add', cidr, 'dev', vmName]);
    this.exec(nsVm, 'ip', ['link', 'set', vmName, 'up']);
    return this.mac(nsVm, vmName);
  }

  /** MAC of `dev` in `ns`, lower-case colon form. */
  mac(ns: string, dev: string): string {
    return this.exec(ns, 'cat', [`/sys/class/net/${dev}/address`]).trim();
  }

  /** Runs a command inside `ns` and returns its stdout; throws on a non-zero exit. */
  exec(ns: string, cmd: string, args: string[], input?: string): string {
    return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], {
      encoding: 'utf8',
      input,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: 30_000,
    });
  }

  /** Starts a long-running command inside `ns` (the pid is the command's own: `ip netns exec` execs it). */
  spawn(ns: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
    return spawn('ip', ['netns', 'exec', ns, cmd, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** Deletes every namespace created here (and with them their veth ends). */
  remove(): void {
    for (const ns of this.namespaces.splice(0)) ip(['netns', 'del', ns], true);
    for (const link of this.hostLinks.splice(0)) ip(['link', 'del', link], true);
  }
}

function ip(args: string[], ignoreFailure = false): void {
  try {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    if (!ignoreFailure) throw err;
  }
}

/** Python program sending `count` UDP datagrams of `payloadBytes` from `src` to `dst:port`. */
export function udpSenderScript(
  dstIp: string,
  dstPort: number,
  count: number,
  payloadBytes: number,
  srcPort: number,
): string {
  return [
    'import socket',
    's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
    `s.bind(("0.0.0.0", ${srcPort}))`,
    `p = b"x" * ${payloadBytes}`,
    `for _ in range(${count}): s.sendto(p, ("${dstIp}", ${dstPort}))`,
  ].join('\n');
}

/** Reads the counters of `dev` in the calling namespace (sysfs), for sanity checks. */
export function readInterfaceCounter(dev: string, counter: string): number {
  return Number(readFileSync(`/sys/class/net/${dev}/statistics/${counter}`, 'utf8'));
}
