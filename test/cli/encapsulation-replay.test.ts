import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { LinkType } from '../../src/capture/link-types';
import { openCaptureWriter } from '../../src/synth/pcap-writer';
import { SeededRandom } from '../../src/synth/seeded-random';
import {
  ethernetFrame,
  ipBytes,
  randomIp,
  serialFrame,
  type SerialFraming,
  type Shim,
} from '../helpers/encapsulation-frames';
import { pick } from '../helpers/overlay-frames';
import { everyAddressConfig, replayToRecords, scratchDir, writeConfig } from '../helpers/replay-run';
import { expectedFlows, recordFlows, tsharkPackets, type OracleFlow } from '../helpers/tshark-oracle';

/**
 * Data-centre encapsulations and serial links against tshark (issue 15): generated captures of
 * each kind and of their combinations with 802.1Q/802.1ad and MPLS, replayed with the kernel
 * (which hands these frames to the TypeScript path) and with --no-kernel. The expected records
 * come from tshark's dissection: every packet counts under its outermost IP header, one outbound
 * and one inbound flow packet of the ENI that owns every address. Plain Ethernet frames are mixed
 * in so the kernel runs too.
 */

const INTERVAL = 60;
const T0 = 1_700_000_040;

/** Stacks the generator draws from, outermost first (FabricPath outermost, as tshark finds it). */
const ETHERNET_STACKS: Shim[][] = [
  [],
  ['etag'],
  ['vntag'],
  ['fabricpath'],
  ['nsh-md1'],
  ['nsh-md2'],
  ['nsh-eth'],
  ['pppoe'],
  ['vlan', 'etag'],
  ['qinq', 'etag', 'vlan', 'mpls'],
  ['vntag', 'vlan', 'pppoe', 'mpls'],
  ['fabricpath', 'vlan', 'nsh-md2', 'nsh-md1', 'mpls'],
  ['vlan', 'nsh-eth', 'vlan'],
  ['qinq', 'vlan', 'pppoe'],
  ['etag', 'vntag', 'nsh-md2'],
];

const SERIAL: Array<{ linkType: number; framings: SerialFraming[] }> = [
  { linkType: LinkType.Ppp, framings: ['ppp-hdlc', 'ppp-bare'] },
  { linkType: LinkType.PppHdlc, framings: ['ppp-hdlc', 'cisco-hdlc'] },
  { linkType: LinkType.CiscoHdlc, framings: ['cisco-hdlc'] },
];

describe('encapsulations agree with tshark', () => {
  const dir = scratchDir('encapsulation');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const config = writeConfig(dir, everyAddressConfig(dir));

  /** Writes `n` frames over two minutes; returns the path. */
  function capture(
    name: string,
    linkType: number,
    n: number,
    frame: (rng: SeededRandom, ip: Buffer) => Buffer,
  ): string {
    const path = join(dir, name);
    const rng = new SeededRandom(1500 + linkType);
    const w = openCaptureWriter(path, { linkType });
    for (let i = 0; i < n; i++) {
      const f = frame(rng, ipBytes(randomIp(rng), i & 0xffff));
      w.writePacket(T0 + Math.floor((i * 120) / n), rng.nextInt(1_000_000), f, f.length, f.length);
    }
    w.close();
    return path;
  }

  async function compare(path: string, frames: number): Promise<void> {
    const packets = await tsharkPackets(path);
    // tshark reached IP in every frame: the oracle did not silently skip an encapsulation.
    expect(packets).toHaveLength(frames);
    const want = expectedFlows(packets, INTERVAL, () => [
      ['eni-all', 'out'],
      ['eni-all', 'in'],
    ]);
    expect(want.size).toBeGreaterThan(50);
    for (const kernel of [true, false]) {
      const { records, summary } = await replayToRecords([path], config, dir, 1440, kernel);
      expect(summary).toMatchObject({ frames, decoded: frames, notIp: 0, malformed: {} });
      const got = recordFlows(records, (r) => Number(r.start) - (Number(r.start) % INTERVAL));
      expect(diff(want, got), `kernel ${kernel}`).toEqual([]);
    }
  }

  it('Ethernet: E-Tag, VN-Tag, FabricPath, NSH (IPv4, IPv6, Ethernet, NSH, MPLS), PPPoE, with 802.1Q/802.1ad and MPLS', async () => {
    const frames = 3000;
    await compare(
      capture('ethernet.pcap', LinkType.Ethernet, frames, (rng, ip) => ethernetFrame(pick(rng, ETHERNET_STACKS), ip)),
      frames,
    );
  });

  it.each(SERIAL)(
    'link type $linkType: PPP and Cisco HDLC framings, with and without MPLS',
    async ({ linkType, framings }) => {
      const frames = 1000;
      await compare(
        capture(`serial-${linkType}.pcap`, linkType, frames, (rng, ip) =>
          serialFrame(pick(rng, framings), ip, rng.nextInt(4) === 0),
        ),
        frames,
      );
    },
  );
});

function diff(want: Map<string, OracleFlow>, got: Map<string, OracleFlow>): string[] {
  const problems: string[] = [];
  for (const [k, w] of want) {
    const g = got.get(k);
    if (!g) problems.push(`missing ${k} ${JSON.stringify(w)}`);
    else if (g.packets !== w.packets || g.bytes !== w.bytes || g.start !== w.start || g.end !== w.end)
      problems.push(`differs ${k} want ${JSON.stringify(w)} got ${JSON.stringify(g)}`);
  }
  for (const [k, g] of got) if (!want.has(k)) problems.push(`unexpected ${k} ${JSON.stringify(g)}`);
  return problems.slice(0, 5);
}
