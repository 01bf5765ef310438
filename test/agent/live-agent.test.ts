/**
 * The daemon's one pipeline across the changes a hypervisor makes: ENIs whose devices go and
 * come back, ENIs added and retired, an ENI's attributes edited, a flow log removed, all in place
 * mid-window, with the WebAssembly kernel taking the packets before and after each change. The
 * wall clock is faked (windows close on it); the capture set is a stand-in saying which devices
 * are open. Oracle: arithmetic on the packets written into the chunks.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config/load';
import type { AgentConfig, EniConfig } from '../../src/config/types';
import type { CaptureSet } from '../../src/daemon/capture-set';
import { EniSlots } from '../../src/daemon/eni-slots';
import { LiveAgent } from '../../src/agent/live-agent';
import type { ChunkRecorder } from '../../src/packet/chunk-recorder';
import type { EniResolution } from '../../src/enrich/eni-discovery';
import type { FlowRecord, RecordBatch } from '../../src/flow/record';

const START = 1_700_000_000; // a multiple of 10
const GRACE = 2;

/** N ENIs on devices d0..d(n-1), MAC 02:00:00:00:00:<i>, address 10.0.0.<i + 10>, one VPC. */
function configText(n: number, extraFlowLogs = ''): string {
  const enis = Array.from(
    { length: n },
    (_, i) =>
      `  - { id: eni-${i}, mac: "02:00:00:00:00:${i.toString(16).padStart(2, '0')}", ips: [10.0.0.${i + 10}], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-${i} }`,
  );
  return [
    'region: cn-hangzhou',
    'accountId: "1234567890123456"',
    'enis:',
    ...enis,
    'flowLogs:',
    '  - { id: fl-vpc, resourceType: vpc, resourceId: vpc-1, aggregationInterval: "10s", sink: { type: stdout } }',
    extraFlowLogs,
    '',
  ].join('\n');
}

const parse = (text: string): AgentConfig => parseConfig(text, '/cfg/live-pipeline.yaml').config;

/** The config's ENIs on their devices, except those named `missing` (their device is deleted). */
function resolve(config: AgentConfig, missing: ReadonlySet<number> = new Set()): EniResolution {
  const withDevice = (e: EniConfig, i: number) => ({
    eni: { ...e, interface: `d${i}` },
    device: `d${i}`,
    shared: false,
  });
  return {
    enis: config.enis.flatMap((e, i) => (missing.has(i) ? [] : [withDevice(e, i)])),
    unresolved: config.enis.flatMap((e, i) =>
      missing.has(i) ? [{ id: e.id, reason: 'interface not present', eni: e }] : [],
    ),
  };
}

/** A stand-in for the capture set: `open` devices have a handle. */
function captures(open: Set<string>): CaptureSet {
  return { source: (d: string) => (open.has(d) ? {} : null), sharedSources: () => [] } as unknown as CaptureSet;
}

/**
 * Writes a pcap record of an Ethernet/IPv4/UDP frame from ENI `eni`'s MAC and address to a peer
 * (10.0.1.1, 02:ff:..:01) at `at`; returns its length.
 * Record: 0 seconds, 4 microseconds, 8 captured length, 12 wire length. Frame: 0 destination MAC,
 * 6 source MAC, 12 EtherType; 14 IPv4 (+2 total length, +8 TTL, +9 protocol, +12 source, +16
 * destination); 34 UDP (source port, destination port, length).
 */
function udpOut(buf: Buffer, at: number, sec: number, eni: number, srcPort: number): number {
  const frame = 14 + 20 + 8 + 18;
  buf.writeUInt32LE(sec, at);
  buf.writeUInt32LE(0, at + 4);
  buf.writeUInt32LE(frame, at + 8);
  buf.writeUInt32LE(frame, at + 12);
  const f = at + 16;
  buf.fill(0, f, f + frame);
  Buffer.from([2, 0xff, 0, 0, 0, 1]).copy(buf, f);
  Buffer.from([2, 0, 0, 0, 0, eni]).copy(buf, f + 6);
  buf.writeUInt16BE(0x0800, f + 12);
  buf[f + 14] = 0x45;
  buf.writeUInt16BE(20 + 8 + 18, f + 16);
  buf[f + 22] = 64;
  buf[f + 23] = 17;
  buf.writeUInt32BE((10 << 24) | (eni + 10), f + 26);
  buf.writeUInt32BE((10 << 24) | (1 << 8) | 1, f + 30);
  buf.writeUInt16BE(srcPort, f + 34);
  buf.writeUInt16BE(53, f + 36);
  buf.writeUInt16BE(8 + 18, f + 38);
  return 16 + frame;
}

/**
 * `count` packets of each source port from the `n`th ENI of the config, stamped `sec`, through
 * the chunk path as its own device's (the device bound to its index, `slot`; default `n`).
 */
/** The chunk entry the agent gives its capture sources. */
function chunksOf(live: LiveAgent): ChunkRecorder {
  let chunks: ChunkRecorder | undefined;
  live.bindSource({ bind: (c) => (chunks = c) }, 0);
  return chunks as ChunkRecorder;
}

function send(live: LiveAgent, n: number, sec: number, ports: number[], count: number, slot = n): void {
  let end = 0;
  for (let k = 0; k < count; k++) for (const port of ports) end += udpOut(chunksOf(live).chunk, end, sec, n, port);
  chunksOf(live).record(slot, 1, end);
}

describe('LiveAgent: changes in place keep windows whole', () => {
  let records: Array<FlowRecord & { fl: string }>;
  const submitter = { submit: (b: RecordBatch) => records.push(...b.records.map((r) => ({ ...r, fl: b.flowLogId }))) };
  const at = (sec: number) => vi.setSystemTime(sec * 1000);
  beforeEach(() => {
    records = [];
    vi.useFakeTimers({ toFake: ['Date'] });
    at(START);
  });
  afterEach(() => vi.useRealTimers());

  it('one record per flow and one NODATA per idle ENI per window through device deletion, ENI edits, a removed flow log', async () => {
    const text = configText(
      3,
      '  - { id: fl-eni1, resourceType: eni, resourceId: eni-1, aggregationInterval: "10s", sink: { type: stdout } }',
    );
    const config = parse(text);
    const slots = new EniSlots();
    slots.apply(resolve(config), START);
    const live = new LiveAgent(config, slots, submitter, START, 256);
    const open = new Set(['d0', 'd1', 'd2']);
    live.updateCapturing(captures(open), slots, START);
    expect(live.kernelUnavailable).toBeUndefined();

    send(live, 0, START + 1, [4001, 4002, 4003], 5);
    // +3 s: eni-1's device is deleted, eni-2's vm-id edited, flow log fl-eni1 removed (a reload).
    at(START + 3);
    open.delete('d1');
    const edited = parse(text.replace('vmId: i-2 }', 'vmId: i-2-moved }').replace(/ {2}- \{ id: fl-eni1.*\n/, ''));
    const changes = slots.apply(resolve(edited, new Set([1])), START + 3);
    expect(changes.retired.map((e) => e.vmId)).toEqual(['i-2']);
    expect(live.reconfigure(edited, slots, START + 3)).toBe(true);
    live.updateCapturing(captures(open), slots, START + 3);
    const kernelBefore = live.counters().kernelPackets;
    send(live, 0, START + 4, [4001, 4002, 4003], 5); // same flows after the change
    const moved = slots.ofDevice('d2')?.index ?? -1;
    expect(moved).toBe(3); // a new index: the old one is retired until its window closes
    send(live, 2, START + 5, [5001], 4, moved); // d2's handle, bound to eni-2's new index
    expect(live.counters().kernelPackets - kernelBefore).toBe(15 + 4);
    // fl-eni1's open window was written at the change, ending then.
    expect(
      records.filter((r) => r.fl === 'fl-eni1').map((r) => [r['eni-id'], r['log-status'], r.start, r.end]),
    ).toEqual([['eni-1', 'NODATA', String(START), String(START + 3)]]);

    at(START + 10 + GRACE);
    live.tick(START + 10);
    at(START + 20 + GRACE);
    live.tick(START + 20);
    await live.drained();
    const w0 = records.filter((r) => r.fl === 'fl-vpc' && Number(r.start) < START + 10);
    const ok = w0.filter((r) => r['log-status'] === 'OK');
    expect(
      ok
        .filter((r) => r['eni-id'] === 'eni-0')
        .map((r) => [r.srcport, r.packets, r.start, r.end])
        .sort(),
    ).toEqual([
      ['4001', '10', String(START + 1), String(START + 4)],
      ['4002', '10', String(START + 1), String(START + 4)],
      ['4003', '10', String(START + 1), String(START + 4)],
    ]);
    expect(ok.filter((r) => r['eni-id'] === 'eni-2').map((r) => [r['vm-id'], r.packets])).toEqual([['i-2-moved', '4']]);
    // eni-1 captured until its device went: NODATA once; eni-2 before the edit: NODATA under its old vm-id.
    expect(
      w0
        .filter((r) => r['log-status'] !== 'OK')
        .map((r) => [r['eni-id'], r['vm-id'], r['log-status']])
        .sort(),
    ).toEqual([
      ['eni-1', 'i-1', 'NODATA'],
      ['eni-2', 'i-2', 'NODATA'],
    ]);
    // The next window: eni-1's device never existed in it (no record), the others idle.
    const w1 = records.filter((r) => Number(r.start) >= START + 10);
    expect(w1.map((r) => [r['eni-id'], r['vm-id'], r['log-status'], r.start, r.end]).sort()).toEqual([
      ['eni-0', 'i-0', 'NODATA', String(START + 10), String(START + 20)],
      ['eni-2', 'i-2-moved', 'NODATA', String(START + 10), String(START + 20)],
    ]);
  });

  it('an ENI whose device returns within the window keeps its flows; one deleted for good frees its index after its last window', async () => {
    const config = parse(configText(2));
    const slots = new EniSlots();
    slots.apply(resolve(config), START);
    const live = new LiveAgent(config, slots, submitter, START, 256);
    const open = new Set(['d0', 'd1']);
    live.updateCapturing(captures(open), slots, START);
    send(live, 1, START + 1, [7001], 3);
    at(START + 2);
    open.delete('d1');
    slots.apply(resolve(config, new Set([1])), START + 2);
    live.updateCapturing(captures(open), slots, START + 2);
    at(START + 3);
    open.add('d1');
    slots.apply(resolve(config), START + 3);
    live.updateCapturing(captures(open), slots, START + 3);
    send(live, 1, START + 4, [7001], 2);
    // eni-1 leaves the config at +5: retired, still written with its window.
    at(START + 5);
    const without = parse(configText(2).replace(/ {2}- \{ id: eni-1.*\n/, ''));
    slots.apply({ enis: resolve(config).enis.slice(0, 1), unresolved: [] }, START + 5);
    expect(live.reconfigure(without, slots, START + 5)).toBe(true);
    open.delete('d1');
    live.updateCapturing(captures(open), slots, START + 5);
    at(START + 10 + GRACE);
    live.tick(START + 10);
    expect(slots.freeRetired(live.openWindowStartSec()).map((f) => f.eni.id)).toEqual(['eni-1']);
    await live.drained();
    expect(records.map((r) => [r['eni-id'], r['log-status'], r.srcport, r.packets]).sort()).toEqual([
      ['eni-0', 'NODATA', '-', '-'],
      ['eni-1', 'OK', '7001', '5'],
    ]);
  });

  it('50 idle ENIs whose devices go one by one 0.1 s apart, some during the grace: one NODATA per ENI per window', async () => {
    const config = parse(configText(50));
    const slots = new EniSlots();
    slots.apply(resolve(config), START);
    const live = new LiveAgent(config, slots, submitter, START, 256);
    const open = new Set(Array.from({ length: 50 }, (_, i) => `d${i}`));
    live.updateCapturing(captures(open), slots, START);
    const missing = new Set<number>();
    // Deletions from 9.0 s: the first ten before the boundary, the rest in the next window, ten of
    // them while the first window still waits out its grace (closed at +12 s).
    for (let i = 0; i < 50; i++) {
      const ms = (START + 9) * 1000 + i * 100;
      vi.setSystemTime(ms);
      const clock = Math.floor(ms / 1000) - GRACE;
      if (live.closesBy(clock)) live.tick(clock);
      open.delete(`d${i}`);
      missing.add(i);
      slots.apply(resolve(config, missing), Math.floor(ms / 1000));
      live.updateCapturing(captures(open), slots, Math.floor(ms / 1000));
    }
    for (const sec of [START + 20, START + 30]) {
      at(sec + GRACE);
      live.tick(sec);
    }
    await live.drained();
    const byWindow = new Map<string, string[]>();
    for (const r of records) byWindow.set(r.start, [...(byWindow.get(r.start) ?? []), r['eni-id']]);
    const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `eni-${from + i}`).sort();
    expect(records.every((r) => r['log-status'] === 'NODATA')).toBe(true);
    expect(byWindow.get(String(START))?.sort()).toEqual(ids(0, 50));
    expect(byWindow.get(String(START + 10))?.sort()).toEqual(ids(10, 50)); // deleted after +10 s
    expect(byWindow.get(String(START + 20))).toBeUndefined(); // none captured any more
  });
});
