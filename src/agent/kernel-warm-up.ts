import type { AgentConfig, EniConfig } from '../config/types';
import { ChunkRecorder } from '../packet/chunk-recorder';
import { buildPipeline } from './pipeline';

/** Synthetic records run through the throwaway pipeline: about 60,000 packets, 10 ms of CPU. */
const WARM_UP_CHUNKS = 30;
const RECORDS_PER_CHUNK = 2000;
const FRAME_BYTES = 60;

let warmed = false;

/**
 * Runs synthetic frames through a throwaway copy of the live packet path (ChunkRecorder, the
 * WebAssembly kernel, its JavaScript host) once per process, before the first device opens.
 *
 * Why: V8 starts WebAssembly and JavaScript in baseline tiers and optimizes what runs hot. A
 * fresh daemon spent 290 ns a packet on its first 100,000 packets and 60 ns after; warmed, the
 * first 100,000 cost 100-140 ns (bench/live-bench.js, 10,000 flows). The throwaway pipeline has
 * its own ENI, tables and kernel memory: nothing of it reaches records or metrics.
 */
export function warmUpLivePath(base: AgentConfig): void {
  if (warmed || base.flowLogs.length === 0) return;
  warmed = true;
  const eni: EniConfig = {
    id: 'eni-warmup',
    mac: '02:00:00:00:00:01',
    ips: ['10.255.0.1'],
    cidrs: ['10.255.0.1/32'],
    vpcId: 'vpc-warmup',
    vswitchId: 'vsw-warmup',
    vmId: 'i-warmup',
  };
  const config: AgentConfig = {
    ...base,
    enis: [eni],
    networkAcls: [],
    flowTable: { ...base.flowTable, capacity: 16384 },
    flowLogs: [
      {
        ...base.flowLogs[0],
        id: 'warm-up',
        resourceType: 'eni',
        resourceId: eni.id,
        aggregationIntervalSec: 60,
        trafficType: 'all',
      },
    ],
  };
  const pipeline = buildPipeline(
    config,
    { submit: () => undefined },
    { maxGapWindows: 1, wallClock: true, kernel: true },
  );
  if (pipeline.kernel === null) return;
  const chunks = new ChunkRecorder(pipeline.recorder, pipeline.kernel);
  const nowSec = Math.floor(Date.now() / 1000);
  pipeline.recorder.tick(nowSec);
  const end = fillChunk(chunks.chunk, nowSec);
  for (let i = 0; i < WARM_UP_CHUNKS; i++) chunks.record(0, 1, end);
}

/**
 * Pcap records of UDP frames from 10.255.0.2 to the warm-up ENI over 10,000 source ports.
 * Frame: 0 destination MAC, 6 source MAC, 12 EtherType; 14 IPv4 header (20 bytes): +2 total
 * length, +8 TTL, +9 protocol, +12 source, +16 destination; 34 UDP: source port, destination port.
 */
function fillChunk(chunk: Buffer, sec: number): number {
  const record = 16 + FRAME_BYTES;
  for (let i = 0; i < RECORDS_PER_CHUNK; i++) {
    const o = i * record;
    chunk.writeUInt32LE(sec, o);
    chunk.writeUInt32LE(0, o + 4);
    chunk.writeUInt32LE(FRAME_BYTES, o + 8);
    chunk.writeUInt32LE(FRAME_BYTES, o + 12);
    const f = o + 16;
    chunk.fill(0, f, f + FRAME_BYTES);
    chunk.writeUIntBE(0x020000000001, f, 6);
    chunk.writeUIntBE(0x020000000002, f + 6, 6);
    chunk.writeUInt16BE(0x0800, f + 12);
    chunk[f + 14] = 0x45;
    chunk.writeUInt16BE(FRAME_BYTES - 14, f + 16);
    chunk[f + 22] = 64;
    chunk[f + 23] = 17;
    chunk.writeUInt32BE(0x0aff0002, f + 26);
    chunk.writeUInt32BE(0x0aff0001, f + 30);
    chunk.writeUInt16BE(1024 + ((i * 5) % 10000), f + 34);
    chunk.writeUInt16BE(9, f + 36);
  }
  return RECORDS_PER_CHUNK * record;
}
