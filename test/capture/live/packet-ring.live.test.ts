/**
 * The capture addon's own TPACKET_V3 ring (src/capture/native/packet-ring.c) on real devices
 * (root, inside a network namespace): Ethernet devices get it, with the kernel's segmentation in
 * word 1 of each record and the device's MTU; others (loopback) stay on libpcap; failures name
 * what libpcap would (a missing device, one that is down, a filter that does not compile, a
 * device deleted while open); a filter and the snaplen apply in the kernel; a VLAN tag the device
 * took off is put back into the frame, as libpcap does.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { NetnsLab } from '../../helpers/netns';

const canRun = NetnsLab.available();
const OPTIONS = { filter: '', bufferBytes: 1 << 20, snaplenBytes: 128, bufferTimeoutMs: 20, promiscuous: false };

describe.skipIf(!canRun)("the capture addon's own ring", () => {
  const lab = new NetnsLab('fpr');
  afterAll(() => lab.remove());
  const ns = () => lab.namespaces[0] ?? lab.namespace('a');
  const run = (script: string) => lab.exec(ns(), process.execPath, ['-e', script]);

  it("opens Ethernet devices with the kernel's segmentation and MTU, loopback through libpcap, and names failures as libpcap does", () => {
    const a = ns();
    lab.exec(a, 'ip', ['link', 'add', 'fpr0', 'mtu', '9000', 'type', 'veth', 'peer', 'name', 'fpr1']);
    lab.exec(a, 'ip', ['link', 'set', 'fpr0', 'up']);
    lab.exec(a, 'ip', ['link', 'set', 'fpr1', 'up']);
    lab.exec(a, 'ip', ['link', 'add', 'fprdown', 'type', 'veth', 'peer', 'name', 'fprdown1']);
    // The addon is loaded by a node process inside the namespace (devices are per namespace),
    // through the compiled build in dist/.
    const script = (device: string, filter = '') => `
      const { ChunkHandle } = require(${JSON.stringify(require.resolve('../../../dist/capture/live/chunk-handle'))});
      const h = new ChunkHandle(${JSON.stringify(device)});
      try {
        const link = h.open({ ...${JSON.stringify(OPTIONS)}, filter: ${JSON.stringify(filter)} });
        console.log(JSON.stringify({ link, mtu: h.mtu, kernel: h.kernelSegmentation }));
        h.close();
      } catch (e) { console.log(JSON.stringify({ error: e.message })); }`;
    expect(JSON.parse(run(script('fpr0')))).toEqual({ link: 1, mtu: 9000, kernel: true });
    expect(JSON.parse(run(script('lo')))).toEqual({ link: 1, mtu: 65536, kernel: false });
    expect(JSON.parse(run(script('fprnone')))).toEqual({ error: 'open capture device fprnone: No such device exists' });
    expect(JSON.parse(run(script('fprdown')))).toEqual({ error: 'open capture device fprdown: That device is not up' });
    expect(JSON.parse(run(script('fpr0', 'udp port nonsense'))).error).toMatch(/^open capture device fpr0: filter: /);
  });

  it('applies the filter and the snaplen in the kernel, puts a taken-off VLAN tag back, marks each record, survives the device going down and up, and fails a read once it is deleted', () => {
    const a = ns();
    lab.exec(a, 'ip', ['link', 'add', 'fpr2', 'type', 'veth', 'peer', 'name', 'fpr3']);
    lab.exec(a, 'ip', ['link', 'set', 'fpr2', 'up']);
    lab.exec(a, 'ip', ['link', 'set', 'fpr3', 'up']);
    // Tagged frames (VLAN 7) sent raw into the peer: the receiving end's stack takes the tag off
    // into the packet's metadata before any packet socket sees it.
    const send = [
      'import socket, struct',
      's = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)',
      's.bind(("fpr3", 0))',
      'ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + 1000, 1, 0, 64, 17, 0, bytes([10, 215, 7, 2]), bytes([10, 215, 7, 1]))',
      'udp = struct.pack("!HHHH", 40000, 9, 8 + 1000, 0)',
      'frame = bytes.fromhex("020000000007020000000008") + bytes.fromhex("81000007") + bytes.fromhex("0800") + ip + udp + b"x" * 1000',
      'for i in range(5): s.send(frame)',
    ].join('\\n');
    const script = `
      const { ChunkHandle } = require(${JSON.stringify(require.resolve('../../../dist/capture/live/chunk-handle'))});
      const { execFileSync } = require('node:child_process');
      const h = new ChunkHandle('fpr2');
      h.open({ ...${JSON.stringify(OPTIONS)}, snaplenBytes: 64, filter: 'vlan and udp' });
      execFileSync('python3', ['-c', '${send}']);
      execFileSync('sleep', ['0.2']);
      const chunk = Buffer.alloc(65536);
      const n = h.dispatch(chunk, 0, chunk.length);
      const recs = [];
      for (let p = 0; n - p >= 16; p += 16 + chunk.readUInt32LE(p + 8)) recs.push([chunk.readUInt32LE(p + 4).toString(16), chunk.readUInt32LE(p + 8), chunk.readUInt32LE(p + 12), chunk.readUInt16BE(p + 16 + 12), chunk.readUInt16BE(p + 16 + 14)]);
      // Down and up again: the ring stays (the kernel resumes the socket), as libpcap's handle did.
      execFileSync('ip', ['link', 'set', 'fpr2', 'down']);
      execFileSync('sleep', ['0.1']);
      const down = h.dispatch(chunk, 0, chunk.length);
      execFileSync('ip', ['link', 'set', 'fpr2', 'up']);
      execFileSync('sleep', ['0.1']);
      execFileSync('python3', ['-c', '${send}']);
      execFileSync('sleep', ['0.2']);
      let again = 0;
      for (let n2 = h.dispatch(chunk, 0, chunk.length), p = 0; n2 - p >= 16; p += 16 + chunk.readUInt32LE(p + 8)) again++;
      execFileSync('ip', ['link', 'del', 'fpr2']);
      execFileSync('sleep', ['0.1']);
      const gone = h.dispatch(chunk, 0, chunk.length);
      console.log(JSON.stringify({ recs, down, again, gone, error: h.lastError }));`;
    const r = JSON.parse(run(script)) as {
      recs: Array<[string, number, number, number, number]>;
      down: number;
      again: number;
      gone: number;
      error: string;
    };
    // Five datagrams: word 1 "read, not GSO", 64 bytes kept (the filter's snaplen), the tag
    // (0x8100, VLAN 7) back after the MACs, the wire length 4 longer than the untagged frame.
    expect(r.recs).toEqual(Array.from({ length: 5 }, () => ['80000000', 64, 14 + 4 + 20 + 8 + 1000, 0x8100, 7]));
    expect(r.down).toBe(0);
    expect(r.again).toBe(5);
    expect(r.gone).toBe(-1);
    expect(r.error).toBe('The interface disappeared');
  });
});
