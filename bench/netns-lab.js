'use strict';
// The two namespaces the hypervisor benches build their VMs in (a host side with the ENI
// devices, a VM side), made with `ip`, IPv6 off so no router solicitation reaches the counters.
const { execFileSync } = require('node:child_process');

function ip(args, ignore = false) {
  try {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    if (!ignore) throw e;
  }
}

/** Runs `lines` through `ip -batch` (one process for thousands of commands), in `ns` if given. */
function ipBatch(lines, ns) {
  execFileSync('ip', [...(ns ? ['-n', ns] : []), '-batch', '-'], {
    input: lines.join('\n') + '\n',
    stdio: ['pipe', 'ignore', 'pipe'],
  });
}

const inNs = (ns, cmd, args) => ['netns', 'exec', ns, cmd, ...args];

/** Namespaces `names`, made afresh (a left-over one deleted first), loopback up, IPv6 off. */
function namespaces(names) {
  for (const ns of names) {
    ip(['netns', 'del', ns], true);
    ip(['netns', 'add', ns]);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    execFileSync(
      'ip',
      inNs(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']),
    );
  }
}

function tearDown(names) {
  for (const ns of names) ip(['netns', 'del', ns], true);
}

/** Address `host` of VM i's /29 in the /16 starting at `base` (a 32-bit number). */
function vmAddress(base, i, host) {
  const v = base + i * 8 + host;
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

module.exports = { ip, ipBatch, inNs, namespaces, tearDown, vmAddress };
