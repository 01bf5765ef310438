/**
 * IP packets with random header fields for differential tests of the fast lane and the replay
 * kernel: random lengths, fragment bits, protocols, next headers and payloads, many of them on
 * purpose just outside what the fast lane takes. `fast` says whether the lane should take it
 * (when captured whole).
 */

// An IP packet with random header fields; `ethertype` says which family it claims.
export function randomPacket(r: () => number): { ethertype: number; ip: number[]; fast: boolean } {
  const byte = () => Math.floor(r() * 256);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const payload = Array.from({ length: Math.floor(r() * 60) }, byte);
  if (r() < 0.6) {
    const ihl = pick([5, 5, 5, 6, 4]);
    const options = ihl > 5 ? [1, 1, 1, 1] : [];
    const header = 20 + options.length;
    const totalLen = pick([
      header + payload.length,
      header + payload.length,
      0,
      12,
      header + 200,
      header + 3,
      header + 9,
    ]);
    const frag = pick([0, 0, 0x4000, 0x2000, 0x0001, 0x6000]);
    const protocol = pick([6, 17, 6, 17, 1, 132, 136, 47, 50, byte()]);
    const ip = [
      0x40 | ihl,
      0,
      totalLen >> 8,
      totalLen & 0xff,
      byte(),
      byte(),
      frag >> 8,
      frag & 0xff,
      64,
      protocol,
      0,
      0,
    ];
    ip.push(10, 0, 0, 5, byte(), byte(), byte(), byte(), ...options, ...payload);
    const fast = ihl === 5 && totalLen >= 20 && (frag & 0x3fff) === 0;
    return { ethertype: pick([0x0800, 0x0800, 0x0800, 0x86dd]), ip, fast };
  }
  const nextHeader = pick([6, 17, 58, 6, 17, 0, 43, 44, 60, 51, 59, 50, byte()]);
  const payloadLen = pick([payload.length, payload.length, 0, payload.length + 100, 3]);
  const ip = [pick([0x60, 0x60, 0x40]), 0, 0, 0, payloadLen >> 8, payloadLen & 0xff, nextHeader, 64];
  for (let i = 0; i < 32; i++) ip.push(byte());
  ip.push(...payload);
  const fast = ip[0] === 0x60 && payloadLen !== 0 && ![0, 43, 44, 51, 60].includes(nextHeader);
  return { ethertype: pick([0x86dd, 0x86dd, 0x86dd, 0x0800]), ip, fast };
}
