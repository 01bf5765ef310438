import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectedFlows, recordFlows, tsharkPackets, type OracleFlow } from '../helpers/tshark-oracle';
import { everyAddressConfig, replayToRecords, scratchDir, writeConfig } from '../helpers/replay-run';
import { CORPUS_DIR, CORPUS_MISSING, skipWithoutCorpus } from '../helpers/corpus';

const CORPUS = CORPUS_DIR;
const INTERVAL = 60;

/**
 * Captures replayed (they must not break the agent) but not compared, each for a reason outside
 * the agent: the oracle cannot see what the agent counts, or the capture's clock is unusable.
 */
const NOT_COMPARABLE: Record<string, string> = {
  'time_2106_overflow.pcapng': 'timestamps past 2106: the node-pcap binding hands tv_sec over as 32 bits',
  'time_2107.pcapng': 'timestamps past 2106: the node-pcap binding hands tv_sec over as 32 bits',
  'timestamp_invalid_nano.pcap': 'a negative timestamp',
  'ipv6_frag6_negative_len.pcap':
    'IPv6 payload length 0 before a fragment header: tshark stops at the fragment header; the agent takes the length from the wire (GSO) and reads on',
  'ipv6_missing_jumbo_payload_option.pcap':
    'IPv6 payload length 0 with a hop-by-hop header but no jumbo option: tshark stops at the hop-by-hop header; the agent takes the length from the wire (GSO) and reads on',
  'bigtcp-ipv6.pcap': 'BIG TCP (IPv6 payload length 0, no jumbo option): tshark 4.0 dissects no TCP ports from it',
  'bigtcp-ipv6-geneve-ipv4.pcap':
    'BIG TCP (IPv6 payload length 0, no jumbo option): tshark 4.0 dissects no UDP ports from it',
  'bigtcp-ipv6-geneve-ipv6.pcap':
    'BIG TCP (IPv6 payload length 0, no jumbo option): tshark 4.0 dissects no UDP ports from it',
  'bigtcp-ipv6-vxlan-ipv4.pcap':
    'BIG TCP (IPv6 payload length 0, no jumbo option): tshark 4.0 dissects no UDP ports from it',
  'bigtcp-ipv6-vxlan-ipv6.pcap':
    'BIG TCP (IPv6 payload length 0, no jumbo option): tshark 4.0 dissects no UDP ports from it',
  // Frames over the largest MTU (65,536): super-frames, counted as the segments the wire carried
  // (derived); tshark counts the frame.
  'bigtcp-ipv4.pcap': 'a BIG TCP super-frame of 80,052 bytes: the agent counts its segments, tshark the frame',
  'bigtcp-ipv4-geneve-ipv4.pcap':
    'a BIG TCP super-frame in Geneve (80,102 bytes): the agent counts its segments, tshark the frame',
  'bigtcp-ipv4-geneve-ipv6.pcap':
    'a BIG TCP super-frame in Geneve (80,122 bytes): the agent counts its segments, tshark the frame',
  'bigtcp-ipv4-vxlan-ipv4.pcap':
    'a BIG TCP super-frame in VXLAN (80,102 bytes): the agent counts its segments, tshark the frame',
  'bigtcp-ipv4-vxlan-ipv6.pcap':
    'a BIG TCP super-frame in VXLAN (80,046 bytes): the agent counts its segments, tshark the frame',
  'bigtcp-ipv6-hbh.pcap':
    'a BIG TCP super-frame with a jumbo option (80,080 bytes): the agent counts its segments, tshark the frame',
  'quic_32_bit_pointer_overflow.pcap':
    'a UDP frame whose IPv6 jumbo length says 201 MB: counted as the segments of that length, tshark counts the frame',
};

/**
 * Every corpus capture the agent reads is compared with tshark's dissection: per (direction,
 * 5-tuple, window) the packets, L3 bytes and first/last second. One ENI owns every address, so
 * each IP packet is one outbound and one inbound flow packet of it.
 */
describe('corpus captures agree with tshark', () => {
  const dir = scratchDir('oracle-corpus');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // The captures come from devices of every MTU (many from loopback, 65,536): read as whole
  // packets, as tshark counts them. Frames over capture.mtuBytes would be derived super-frames
  // (test/packet/decode/decode-super-frame.test.ts, test/daemon/daemon-super-frames.live.test.ts).
  const config = writeConfig(dir, `${everyAddressConfig(dir)}capture: { mtuBytes: 65536 }\n`);
  const files =
    CORPUS_MISSING !== null
      ? []
      : readdirSync(CORPUS)
          .filter((f) => /\.pcap(ng)?$/.test(f))
          .sort();

  it('covers the whole corpus', (ctx) => {
    skipWithoutCorpus(ctx);
    expect(files.length).toBeGreaterThanOrEqual(800);
  });

  it('records equal the tshark prediction for every readable capture', { timeout: 600_000 }, async (ctx) => {
    skipWithoutCorpus(ctx);
    const mismatches: string[] = [];
    let compared = 0;
    let flowsCompared = 0;
    const queue = [...files];
    const worker = async () => {
      for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
        const path = join(CORPUS, f);
        const { records, summary } = await replayToRecords([path], config, dir, 0);
        if (!summary || summary.files[0].skipped || NOT_COMPARABLE[f]) continue;
        const packets = await tsharkPackets(path);
        const monotonic = packets.every((p, i) => i === 0 || p.timeSec >= packets[i - 1].timeSec);
        const interval = monotonic ? INTERVAL : Number.MAX_SAFE_INTEGER;
        const want = expectedFlows(packets, interval, () => [
          ['eni-all', 'out'],
          ['eni-all', 'in'],
        ]);
        const got = sumFlows(recordFlows.bind(null), records, monotonic);
        const diff = compare(want, got, monotonic);
        compared++;
        flowsCompared += want.size;
        if (diff) mismatches.push(`${f}: ${diff}`);
      }
    };
    await Promise.all([worker(), worker()]);
    expect(mismatches).toEqual([]);
    expect(compared).toBeGreaterThan(400);
    expect(flowsCompared).toBeGreaterThan(1000);
  });
});

function sumFlows(
  rf: typeof recordFlows,
  records: Array<Record<string, string>>,
  perWindow: boolean,
): Map<string, OracleFlow> {
  if (perWindow) return rf(records, (r) => Number(r.start) - (Number(r.start) % INTERVAL));
  // Out-of-order captures: compare totals per flow across windows (late packets move windows).
  const total = new Map<string, OracleFlow>();
  for (const r of records) {
    const [k, v] = [...rf([r], () => 0)][0] ?? [];
    if (!k || !v) continue;
    const t = total.get(k);
    if (t) {
      t.packets += v.packets;
      t.bytes += v.bytes;
      t.start = Math.min(t.start, v.start);
      t.end = Math.max(t.end, v.end);
    } else total.set(k, { ...v });
  }
  return total;
}

/** With `withTimes` false (out-of-order captures, where late packets move), packets and bytes only. */
function compare(want: Map<string, OracleFlow>, got: Map<string, OracleFlow>, withTimes: boolean): string | null {
  const problems: string[] = [];
  for (const [k, w] of want) {
    const g = got.get(k);
    if (!g) problems.push(`missing ${k} ${JSON.stringify(w)}`);
    else if (g.packets !== w.packets || g.bytes !== w.bytes || (withTimes && (g.start !== w.start || g.end !== w.end)))
      problems.push(`differs ${k} want ${JSON.stringify(w)} got ${JSON.stringify(g)}`);
  }
  for (const [k, g] of got) if (!want.has(k)) problems.push(`unexpected ${k} ${JSON.stringify(g)}`);
  return problems.length ? `${problems.length} problems: ${problems.slice(0, 3).join('; ')}` : null;
}
