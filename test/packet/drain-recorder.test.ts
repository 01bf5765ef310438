/**
 * DrainRecorder: the eBPF engine's drained records (drain-layout.ts, written here by hand as the
 * addon writes them) become the same records a pipeline writes for the packets they stand for:
 * addresses, ports, protocol, direction, TCP flags, packets, bytes, start and end. A flow that
 * straddles a window boundary inside one drain is split there (its last packet after it); loss
 * counters of SKIPDATA reasons go to their slot, unattributed ones to the recorder's counter.
 */
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BYTE_FLAGS,
  BYTE_PROTOCOL,
  BYTE_TCP_FLAGS,
  createDrainBuffers,
  F64_BYTES,
  F64_FIRST_US,
  F64_LAST_US,
  F64_PACKETS,
  F64_PER_RECORD,
  LOSS_REASONS,
  LossReason,
  RECORD_BYTES,
  RECORD_IPV6,
  RECORD_OUT,
  U16_DST_PORT,
  U16_PER_RECORD,
  U16_SLOT,
  U16_SRC_PORT,
} from '../../src/capture/ebpf/drain-layout';
import { loadConfig } from '../../src/config/load';
import type { RecordBatch } from '../../src/flow/record';
import { buildPipeline } from '../../src/agent/pipeline';
import { DrainRecorder } from '../../src/packet/drain-recorder';
import { scratchDir, writeConfig } from '../helpers/replay-run';

const dir = scratchDir('drain-recorder');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const MAX_SLOTS = 4;

interface Flow {
  slot: number;
  out: boolean;
  src: number[];
  dst: number[];
  protocol: number;
  sport: number;
  dport: number;
  tcpFlags: number;
  packets: number;
  bytes: number;
  firstUs: number;
  lastUs: number;
}

function write(buffers: ReturnType<typeof createDrainBuffers>, i: number, f: Flow): void {
  const at = i * RECORD_BYTES;
  buffers.records.fill(0, at, at + RECORD_BYTES);
  buffers.records.set(f.src, at); // offset 0: source address, network order
  buffers.records.set(f.dst, at + 16); // offset 16: destination address
  buffers.recordsU16[i * U16_PER_RECORD + U16_SLOT] = f.slot;
  buffers.records[at + BYTE_FLAGS] = (f.out ? RECORD_OUT : 0) | (f.src.length === 16 ? RECORD_IPV6 : 0);
  buffers.records[at + BYTE_PROTOCOL] = f.protocol;
  buffers.recordsU16[i * U16_PER_RECORD + U16_SRC_PORT] = f.sport;
  buffers.recordsU16[i * U16_PER_RECORD + U16_DST_PORT] = f.dport;
  buffers.records[at + BYTE_TCP_FLAGS] = f.tcpFlags;
  buffers.recordsF64[i * F64_PER_RECORD + F64_PACKETS] = f.packets;
  buffers.recordsF64[i * F64_PER_RECORD + F64_BYTES] = f.bytes;
  buffers.recordsF64[i * F64_PER_RECORD + F64_FIRST_US] = f.firstUs;
  buffers.recordsF64[i * F64_PER_RECORD + F64_LAST_US] = f.lastUs;
}

function pipeline() {
  const { config } = loadConfig(
    writeConfig(
      dir,
      `region: cn-hangzhou
accountId: "1234567890123456"
stateDir: ${dir}/state
enis:
  - { id: eni-a, ips: ["10.0.0.5", "2001:db8::5"], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-1 }
  - { id: eni-b, ips: ["10.0.0.6"], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-1 }
flowLogs:
  - { id: fl-1m, resourceType: vpc, resourceId: vpc-1, aggregationInterval: 1, sink: { type: stdout } }
`,
    ),
  );
  const batches: RecordBatch[] = [];
  const p = buildPipeline(config, { submit: (b) => batches.push(b) }, { maxGapWindows: 1, wallClock: true });
  return { p, batches };
}

const V4 = (...b: number[]) => b;
const V6_A = [0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 5];
const V6_PEER = [0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 9];

describe('DrainRecorder', () => {
  it('records drained flows as the pipeline records packets; losses by reason', () => {
    const { p, batches } = pipeline();
    const buffers = createDrainBuffers(8, MAX_SLOTS);
    const drained = new DrainRecorder(buffers, MAX_SLOTS);
    p.recorder.tick(600);
    const t = (sec: number, us = 0) => sec * 1e6 + us;
    const flows: Flow[] = [
      // UDP into eni-a: 10 packets inside [600, 660).
      { slot: 0, out: false, src: V4(10, 9, 9, 9), dst: V4(10, 0, 0, 5), protocol: 17, sport: 5353, dport: 53 },
      // TCP out of eni-b, SYN|ACK|FIN seen; straddles 660: its last packet falls in the next window.
      { slot: 1, out: true, src: V4(10, 0, 0, 6), dst: V4(10, 9, 9, 8), protocol: 6, sport: 40000, dport: 443 },
      // IPv6 ICMP out of eni-a: one packet.
      { slot: 0, out: true, src: V6_A, dst: V6_PEER, protocol: 58, sport: 0, dport: 0 },
      // A slot beyond the pipeline's ENIs (freed meanwhile): not recorded, counted.
      { slot: 3, out: true, src: V4(10, 0, 0, 7), dst: V4(10, 9, 9, 9), protocol: 17, sport: 1, dport: 2 },
    ].map((f, i) => ({
      ...f,
      tcpFlags: i === 1 ? 0x13 : 0,
      packets: [10, 4, 1, 7][i],
      bytes: [10 * 128, 4 * 1500, 104, 7 * 60][i],
      firstUs: [t(610, 5), t(655, 1), t(620), t(612)][i],
      lastUs: [t(611, 999_999), t(660, 200_000), t(620), t(613)][i],
    }));
    flows.forEach((f, i) => write(buffers, i, f));
    const loss = buffers.loss;
    const at = (slot: number, reason: number) => (slot * LOSS_REASONS.length + reason) * 2;
    loss[at(0, LossReason.MapFull)] = 3;
    loss[at(0, LossReason.Unsupported)] = 2;
    loss[at(1, LossReason.Quota)] = 5;
    loss[at(1, LossReason.QuotaUsed)] = 40; // flows, not packets: not a loss
    loss[at(1, LossReason.Unattributed)] = 6;
    loss[at(1, LossReason.Malformed)] = 1;

    const totals = drained.record(p.recorder, flows.length, 2);
    expect(totals).toEqual({
      flows: 4,
      packets: 22,
      noEni: 7,
      skipdata: 10,
      malformed: 1,
      notIp: 0,
      unattributed: 6,
    });
    expect([drained.takeSkipdata(0), drained.takeSkipdata(1), drained.takeSkipdata(0)]).toEqual([5, 5, 0]);
    expect(p.recorder.counters.unattributed).toBe(6);
    expect([...drained.packetsBySlot]).toEqual([11, 4, 0, 0]); // recorded flows only

    p.recorder.tick(662);
    p.finish(721);
    const rows = batches
      .flatMap((b) => b.records.map((r): Record<string, string | number> => ({ ws: b.windowStartSec, ...r })))
      .filter((r) => r['log-status'] === 'OK')
      .map((r) =>
        [
          r.ws,
          r['eni-id'],
          r.srcaddr,
          r.srcport,
          r.dstaddr,
          r.dstport,
          r.protocol,
          r.direction,
          r.packets,
          r.bytes,
          r.start,
          r.end,
        ].join(' '),
      )
      .sort();
    expect(rows).toEqual(
      [
        '600 eni-a 10.9.9.9 5353 10.0.0.5 53 17 in 10 1280 610 611',
        '600 eni-a 2001:db8::5 0 2001:db8::9 0 58 out 1 104 620 620',
        '600 eni-b 10.0.0.6 40000 10.9.9.8 443 6 out 3 4500 655 655',
        '660 eni-b 10.0.0.6 40000 10.9.9.8 443 6 out 1 1500 660 660',
      ].sort(),
    );
  });
});
