import path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { Decoder } from '../../../src/packet/decode/decoder';
import { PacketView } from '../../../src/packet/decode/packet-view';
import { LinkType } from '../../../src/capture/link-types';
import { SeededRandom } from '../../../src/synth/seeded-random';
import { ethernetFrame, ipBytes, randomIp, serialFrame, type Shim } from '../../helpers/encapsulation-frames';
import { CORPUS_DIR, corpusFiles, readCapture } from '../../fixtures/decode/corpus-reader';
import { skipWithoutCorpus } from '../../helpers/corpus';

interface StoredFrame {
  link: number;
  bytes: Uint8Array;
  wireLen: number;
  tsSec: number;
}

/** Scavenges (minor GCs) during `work`; an allocation per call shows up as several of them. */
async function minorGcsDuring(work: () => void): Promise<number> {
  let minor = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if ((entry as unknown as { detail?: { kind?: number } }).detail?.kind === 1) minor++; // NODE_PERFORMANCE_GC_MINOR
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  work();
  await new Promise((resolve) => setTimeout(resolve, 50)); // gc entries arrive asynchronously
  observer.disconnect();
  return minor;
}

/** Decodes `frames` round-robin, 2M times to settle the JIT, then 6M measured: at most 2 scavenges. */
async function expectNoMinorGc(frames: StoredFrame[]): Promise<void> {
  const decoder = new Decoder({ fragmentCacheSize: 64 });
  const view = new PacketView();
  let statusSum = 0;
  const run = (count: number): void => {
    for (let i = 0; i < count; i++) {
      const frame = frames[i % frames.length];
      view.capLen = frame.bytes.length;
      view.wireLen = frame.wireLen;
      view.tsSec = frame.tsSec;
      statusSum += decoder.decode(frame.link, frame.bytes, view);
    }
  };
  run(2_000_000); // let the JIT settle (optimisation, a possible re-optimisation)
  // The check works: 6M calls that each allocate one small object cause several scavenges.
  const kept: unknown[] = new Array(16);
  const allocating = await minorGcsDuring(() => {
    for (let i = 0; i < 6_000_000; i++) kept[i & 15] = { i };
  });
  expect(allocating).toBeGreaterThan(2);
  // Up to two scavenges are allowed for whatever else the test process does meanwhile.
  // On a loaded machine the optimised code can arrive late (baseline code boxes numbers), so
  // the measurement is tried up to three times; an allocation per decode fails every try.
  const tries: number[] = [];
  for (let t = 0; t < 3 && (tries.length === 0 || tries[tries.length - 1] > 2); t++)
    tries.push(await minorGcsDuring(() => run(6_000_000)));
  expect(Math.min(...tries)).toBeLessThanOrEqual(2);
  expect(statusSum).toBeGreaterThanOrEqual(0);
}

describe('Decoder allocation', () => {
  it('decodes two million corpus frames without a single minor GC', async (ctx) => {
    skipWithoutCorpus(ctx);
    // Every frame of the corpus (all link types, malformed ones, fragments), each in its own
    // array created up front so the loop below allocates nothing itself.
    const frames: StoredFrame[] = [];
    for (const file of corpusFiles()) {
      readCapture(path.join(CORPUS_DIR, file), (link, f) => {
        frames.push({
          link,
          bytes: Uint8Array.from(f.buffer.subarray(0, f.capLen)),
          wireLen: f.wireLen,
          tsSec: f.tsSec,
        });
      });
    }
    expect(frames.length).toBeGreaterThan(5000);
    await expectNoMinorGc(frames);
  });

  it('decodes E-Tag, VN-Tag, FabricPath, NSH, PPPoE, PPP and Cisco HDLC frames without a minor GC', async () => {
    const frames: StoredFrame[] = [];
    const add = (link: number, f: Buffer) =>
      frames.push({ link, bytes: Uint8Array.from(f), wireLen: f.length, tsSec: 1_700_000_000 });
    const rng = new SeededRandom(7);
    for (let i = 0; i < 400; i++) {
      const ip = ipBytes(randomIp(rng), i);
      const stack = STACKS[i % STACKS.length];
      add(LinkType.Ethernet, ethernetFrame(stack, ip));
      add(LinkType.Ethernet, ethernetFrame(stack, ip).subarray(0, 14 + (i % 40))); // cut inside the tags
      add(LinkType.Ppp, serialFrame(i % 2 ? 'ppp-hdlc' : 'ppp-bare', ip, i % 3 === 0));
      add(LinkType.PppHdlc, serialFrame(i % 2 ? 'ppp-hdlc' : 'cisco-hdlc', ip, i % 3 === 0));
      add(LinkType.CiscoHdlc, serialFrame('cisco-hdlc', ip, i % 3 === 0));
    }
    await expectNoMinorGc(frames);
  });
});

const STACKS: Shim[][] = [
  ['etag'],
  ['vntag', 'vlan'],
  ['fabricpath'],
  ['nsh-md1'],
  ['nsh-eth', 'vlan'],
  ['qinq', 'pppoe', 'mpls'],
  ['nsh-md2', 'nsh-md2', 'mpls'],
];
