// AssemblyScript, part of the packet kernel (packet-kernel.ts): the packet being handled and
// the fast lane that reads it (src/packet/decode/ethernet-ip-lane.ts, by the same rules).

@inline export function be16(p: usize): u32 { return <u32>bswap<u16>(load<u16>(p)); }
@inline export function be32(p: usize): u32 { return bswap<u32>(load<u32>(p)); }

// 1 for TCP, UDP, SCTP, UDP-Lite: a header starting with source and destination port
@inline function hasPorts(p: u32): bool { return p == 6 || p == 17 || p == 132 || p == 136; }

// ---- the packet being handled (module globals: no allocation, no struct passing) ----
export let ip: usize = 0; // IP header address
export let ipv6: bool = false;
export let protocol: u32 = 0;
export let l3Bytes: u32 = 0;
export let ports: u32 = 0;
export let tcpFlags: u32 = 0;
/** The transport header's address (valid with the lane's result). */
export let transport: usize = 0;
/** The packet's second (set by the record loops through `stamp`). */
export let tsSec: f64 = 0;

@inline export function stamp(sec: f64): void {
  tsSec = sec;
}

/** Ethernet, untagged, IPv4 with a 20-byte header and no fragment, or IPv6 without extension headers. */
@inline export function decodeLane(b: usize, end: usize): bool {
  if (end - b < 34) return false;
  ip = b + 14;
  const ethertype = be16(b + 12); // 12: ethertype
  let t: usize;
  if (ethertype == 0x0800 && load<u8>(ip) == 0x45) {
    // 2: total length; 6: flags | fragment offset; 9: protocol
    l3Bytes = be16(ip + 2);
    if (l3Bytes < 20 || (be16(ip + 6) & 0x3fff) != 0) return false;
    protocol = load<u8>(ip + 9);
    ipv6 = false;
    t = ip + 20;
  } else if (ethertype == 0x86dd && end - ip >= 40 && (load<u8>(ip) >> 4) == 6) {
    // 4: payload length (0: jumbo or TSO); 6: next header
    const payload = be16(ip + 4);
    protocol = load<u8>(ip + 6);
    if (payload == 0 || protocol == 0 || protocol == 43 || protocol == 44 || protocol == 51 || protocol == 60) return false;
    l3Bytes = 40 + payload;
    ipv6 = true;
    t = ip + 40;
  } else {
    return false;
  }
  const transportEnd = ip + <usize>l3Bytes < end ? ip + <usize>l3Bytes : end;
  transport = t;
  ports = 0;
  tcpFlags = 0;
  if (hasPorts(protocol) && t + 4 <= transportEnd) {
    ports = be32(t); // source port << 16 | destination port
    if (protocol == 6 && t + 14 <= transportEnd) tcpFlags = load<u8>(t + 13); // 13: TCP flags
  }
  return true;
}
