/**
 * The daemon's packet entry (ChunkRecorder) with the WebAssembly kernel against the TypeScript
 * path alone, over the same chunks of live-shaped pcap records: for a device of one ENI (each ENI
 * in turn) and for a shared device with a mask of the ENIs it may count. Records and every
 * counter must be equal, and the kernel must have taken most packets (so the test cannot pass
 * with the kernel idle). The clock is ticked between chunks as the daemon's grace-delayed wall
 * clock would be, so packets of the next window land in the ahead table.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CHUNK_BYTES } from '../../src/capture/file/capture-file-reader';
import { runGenerate } from '../../src/cli/generate-command';
import { loadConfig } from '../../src/config/load';
import { ChunkRecorder } from '../../src/packet/chunk-recorder';
import type { RecordBatch } from '../../src/flow/record';
import { buildPipeline } from '../../src/agent/pipeline';
import { scratchDir, writeConfig } from '../helpers/replay-run';
import { liveRecord, segmentationWord, superFrameMix, type SuperFrameSpec } from '../helpers/super-frames';
import { prng } from '../helpers/views';

const dir = scratchDir('chunk-recorder');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const quiet = { write: () => true };
const START = 1_700_000_000;

function capture(name: string, vlanIds: number[], seed: number): Buffer {
  const path = join(dir, name);
  const code = runGenerate(
    {
      out: path,
      packets: 12_000,
      flows: 200,
      seed,
      start: START,
      durationSec: 150,
      eniIps: ['10.0.0.5', '10.0.0.6', '10.0.0.7'],
      eniMacs: [],
      eniIpv6s: [],
      ipv6Share: 0.3,
      format: 'pcap',
      snapLen: 128,
      tsResolution: 'us',
      vlanIds,
      windowSec: 60,
    },
    quiet,
    quiet,
  );
  expect(code).toBe(0);
  return readFileSync(path).subarray(24); // the records, as ChunkHandle.dispatch lays them out
}

const configPath = () =>
  writeConfig(
    dir,
    `region: cn-hangzhou
accountId: "1234567890123456"
stateDir: ${dir}/state
flowTable: { capacity: 500 }
enis:
  - { id: eni-a, mac: "00:16:3e:00:00:05", ips: ["10.0.0.5"], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-1 }
  - { id: eni-b, ips: ["10.0.0.6", "fd00::a00:6"], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-2 }
  - { id: eni-c, ips: ["10.0.0.7/32", "198.18.0.0/15"], vpcId: vpc-1, vswitchId: vsw-2, vmId: i-3 }
flowLogs:
  - { id: fl-1m, resourceType: vpc, resourceId: vpc-1, aggregationInterval: 1, extraFields: [tcp-flags], sink: { type: stdout } }
  - { id: fl-b, resourceType: eni, resourceId: eni-b, aggregationInterval: "30s", sink: { type: stdout } }
`,
  );

/** Runs the records through a daemon-shaped pipeline in chunks; returns records and counters. */
function run(records: Buffer, eni: number, shared: Uint8Array, kernel: boolean, mtu = 1500) {
  const { config } = loadConfig(configPath());
  const out: string[] = [];
  const pipeline = buildPipeline(
    config,
    { submit: (b: RecordBatch) => b.records.forEach((r) => out.push(JSON.stringify({ fl: b.flowLogId, ...r }))) },
    { maxGapWindows: 1, wallClock: true, kernel },
  );
  expect(pipeline.kernel !== null).toBe(kernel);
  const chunks = new ChunkRecorder(pipeline.recorder, pipeline.kernel);
  chunks.setSharedEnis(shared);
  pipeline.recorder.tick(START);
  let pos = 0;
  let n = 0;
  while (pos < records.length) {
    // Chunks of whole records, at most 37 KiB (many per window, some windows closing mid-run).
    let end = pos;
    let last = pos;
    while (end < records.length && end - pos < 37 * 1024) {
      last = end;
      end += 16 + records.readUInt32LE(end + 8);
    }
    records.copy(chunks.chunk, 0, pos, end);
    n += chunks.record(eni, 1, end - pos, mtu);
    pipeline.recorder.tick(records.readUInt32LE(last) - 2); // the wall clock, 2 s of grace behind
    pos = end;
  }
  pipeline.finish();
  const c = pipeline.recorder.counters;
  return {
    records: out.sort(),
    handled: n,
    kernelPackets: chunks.kernelPackets,
    counters: {
      frames: c.frames,
      unattributed: c.unattributed,
      byStatus: [...c.byStatus],
      eniPackets: [...c.eniPackets],
      eniBytes: [...c.eniBytes],
    },
    superFrames: {
      byOutcome: [...pipeline.recorder.superFrames.byOutcome],
      extra: pipeline.recorder.superFrames.extraSegments,
    },
    aggregators: pipeline.aggregators.map((a) => ({
      late: a.latePackets,
      full: a.tableFullPackets,
      refused: [...a.refusedPackets],
    })),
  };
}

describe('ChunkRecorder: kernel and TypeScript path give the same records for live scopes', () => {
  const plain = capture('plain.pcap', [], 3);
  const tagged = capture('tagged.pcap', [20], 4);
  // Interleave: all plain records, then the tagged ones (the kernel leaves those to TypeScript).
  const records = Buffer.concat([plain, tagged]);
  expect(CHUNK_BYTES).toBeGreaterThan(37 * 1024 + 16 + 128);

  const scopes: Array<[string, number, number[]]> = [
    ['the device of eni-a', 0, [0, 0, 0]],
    ['the device of eni-b', 1, [0, 0, 0]],
    ['the device of eni-c', 2, [0, 0, 0]],
    ['a shared device counting eni-a and eni-c', -1, [1, 0, 1]],
  ];
  for (const [name, eni, mask] of scopes) {
    it(name, () => {
      const shared = Uint8Array.from(mask);
      const k = run(records, eni, shared, true);
      const ts = run(records, eni, shared, false);
      expect(ts.kernelPackets).toBe(0);
      expect(k.handled).toBe(ts.handled);
      expect(k.counters).toEqual(ts.counters);
      expect(k.aggregators).toEqual(ts.aggregators);
      expect(k.records.length).toBe(ts.records.length);
      expect(k.records).toEqual(ts.records);
      expect(k.records.length).toBeGreaterThan(50);
      // Table capacity 500 < flows of some windows: SKIPDATA from a full table on both paths.
      expect(k.kernelPackets).toBeGreaterThan(6000);
    });
  }
});

describe("ChunkRecorder: super-frames of live chunks (the kernel's segmentation words), kernel and TypeScript alike", () => {
  // The capture addon's own ring marks each record: gso_type and gso_size of the kernel's
  // virtio_net_hdr (a GSO type for most frames over the MTU; some that disagree with their frame;
  // a plain "read, not GSO" word for the rest), or no word at all (a libpcap device).
  const word = (s: SuperFrameSpec, r: () => number): number => {
    const over = s.l3Bytes > 1500 || s.l3Bytes === 0;
    const x = r();
    if (x < 0.15) return 0; // libpcap: derived
    if (!over) return x < 0.2 ? segmentationWord(s.family === 4 ? 1 : 4, 1448) : segmentationWord(0, 0);
    if (x < 0.25) return segmentationWord(s.family === 4 ? 4 : 1, 1000); // disagrees with the family
    if (x < 0.3) return segmentationWord(1, 0); // no size
    const type = s.protocol === 17 ? 5 : s.protocol === 6 ? (s.family === 4 ? 1 : 4) : 1;
    return segmentationWord(type, s.protocol === 17 ? 1200 : s.family === 4 ? 1448 : 1428, 66);
  };
  const mix = superFrameMix(
    prng(20261207),
    12_000,
    START,
    { eni: [0x00, 0x16, 0x3e, 0x00, 0x00, 0x05], gateway: [0xee, 0xff, 0xff, 0xff, 0xff, 0xff] },
    word,
  );
  const records = Buffer.concat(mix.map((f) => liveRecord(f.tsSec, f.word, f.frame, f.capLen, f.wireLen)));

  it.each([
    ['the device of eni-a, MTU 1500', 0, [0, 0, 0], 1500],
    ['the device of eni-a, MTU 9000', 0, [0, 0, 0], 9000],
    ['the device of eni-a, MTU unknown (0)', 0, [0, 0, 0], 0],
    ['a shared device counting eni-a and eni-b', -1, [1, 1, 0], 1500],
  ] as const)('%s', (_name, eni, mask, mtu) => {
    const shared = Uint8Array.from(mask);
    const k = run(records, eni, shared, true, mtu);
    const ts = run(records, eni, shared, false, mtu);
    expect(k.handled).toBe(ts.handled);
    expect(k.counters).toEqual(ts.counters);
    expect(k.superFrames).toEqual(ts.superFrames);
    expect(k.aggregators).toEqual(ts.aggregators);
    expect(k.records).toEqual(ts.records);
    // The kernel took the ordinary frames and left the super-frames (and libpcap records' SYNs).
    expect(k.kernelPackets).toBeGreaterThan(4000);
    expect(k.superFrames.byOutcome[0]).toBeGreaterThan(100); // by the kernel's header
    expect(k.superFrames.extra).toBeGreaterThan(10_000);
    for (const n of [...k.counters.eniPackets, ...k.counters.eniBytes]) expect(n).toBeGreaterThanOrEqual(0);
    if (mtu === 0)
      expect(k.superFrames.byOutcome[4]).toBeGreaterThan(10); // no_mtu: frames without a header
    else expect(k.superFrames.byOutcome[1]).toBeGreaterThan(10); // derived
    expect(k.superFrames.byOutcome[2]).toBeGreaterThan(10); // gso_mismatch
    expect(k.superFrames.byOutcome[3]).toBeGreaterThan(10); // headers_cut
  });
});
