/**
 * What a crash leaves unrecorded, as arithmetic on window boundaries: every second from what the
 * dead run had made durable to the second capture resumed is covered exactly once, cut at the
 * interval's boundaries, with long gaps folded into one stretch; and the journal round-trips.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AgentConfig } from '../../src/config/types';
import {
  CaptureJournal,
  JOURNAL_FILE,
  JOURNAL_PREVIOUS_FILE,
  JournalReadError,
  readJournal,
  readPreviousJournal,
} from '../../src/daemon/capture-journal';
import { crashGapRecords } from '../../src/daemon/crash-gap';
import { MAX_GAP_WINDOWS_EACH, gapPieces } from '../../src/flow/gap-pieces';
import { RECORD_FIELDS } from '../../src/flow/record';
import { captureLogger } from '../helpers/capture-logger';
import { tempDirForFile } from '../helpers/temp-dir';

const covers = (pieces: ReturnType<typeof gapPieces>, from: number, to: number) => {
  let at = from;
  for (const p of pieces) {
    expect(p.startSec).toBe(at);
    expect(p.endSec).toBeGreaterThan(p.startSec);
    at = p.endSec;
  }
  expect(at).toBe(to);
};

describe('gap pieces', () => {
  // prettier-ignore
  const cases: Array<[string, number, number, number, Array<[number, number]>]> = [
    ['inside one window', 60, 130, 170, [[130, 170]]],
    ['crash window, two whole windows, resume window', 60, 130, 400, [[130, 180], [180, 240], [240, 300], [300, 360], [360, 400]]],
    ['from a boundary to a boundary', 60, 120, 240, [[120, 180], [180, 240]]],
    ['resume on a boundary', 5, 101, 110, [[101, 105], [105, 110]]],
    ['nothing lost', 60, 200, 200, []],
    // Capture resumed 55 ms into a window: that sliver is a piece of its own, never dropped.
    ['resume 55 ms into a window', 5, 780, 785.055, [[780, 785], [785, 785.055]]],
    ['resume mid-second inside the crash window', 5, 781.5, 783.25, [[781.5, 783.25]]],
  ];
  it.each(cases)('%s', (_name, interval, from, to, want) => {
    const pieces = gapPieces(interval, from, to);
    expect(pieces.map((p) => [p.startSec, p.endSec])).toEqual(want);
    if (want.length > 0) covers(pieces, from, to);
  });

  it(`writes at most ${MAX_GAP_WINDOWS_EACH} whole windows one by one, then one stretch`, () => {
    const from = 30;
    const to = 60 * 1000 + 17; // 998 whole windows between the crash window and the resume window
    const pieces = gapPieces(60, from, to);
    covers(pieces, from, to);
    expect(pieces).toHaveLength(1 + MAX_GAP_WINDOWS_EACH + 1);
    const stretch = pieces[MAX_GAP_WINDOWS_EACH];
    expect([stretch.startSec, stretch.endSec]).toEqual([60 * MAX_GAP_WINDOWS_EACH, 60 * 1000]);
    for (const p of pieces.slice(1, MAX_GAP_WINDOWS_EACH)) expect(p.endSec - p.startSec).toBe(60);
  });
});

const eni = (id: string, vpcId: string) => ({
  id,
  mac: '02:00:00:00:00:01',
  ips: ['10.0.0.1'],
  vpcId,
  vswitchId: 'vsw-1',
  vmId: 'i-1',
});

describe('crash gap records', () => {
  const config = {
    accountId: '1234567890123456',
    region: 'cn-hangzhou',
    flowLogs: [
      {
        id: 'fl-vpc',
        resourceType: 'vpc',
        resourceId: 'vpc-a',
        aggregationIntervalSec: 60,
        trafficType: 'all',
        extraFields: ['tcp-flags', 'region'],
      },
      {
        id: 'fl-eni',
        resourceType: 'eni',
        resourceId: 'eni-b',
        aggregationIntervalSec: 300,
        trafficType: 'all',
        extraFields: [],
      },
    ],
    nflog: { groups: [] },
  } as unknown as AgentConfig;

  it('writes SKIPDATA with unknown counts for each covered ENI of each flow log still configured', () => {
    const previous = {
      version: 1,
      clean: false,
      pid: 4242,
      capturedUntilSec: 1000,
      durableUntilSec: { '60': 960, '300': 900 },
      flowLogs: [
        { id: 'fl-vpc', intervalSec: 60 },
        { id: 'fl-eni', intervalSec: 300 },
        { id: 'fl-gone', intervalSec: 60 },
      ],
      enis: [eni('eni-a', 'vpc-a'), eni('eni-b', 'vpc-b')],
    };
    const gap = crashGapRecords(previous, config, 1250);
    expect(gap.missingFlowLogs).toEqual(['fl-gone']);
    expect(gap.fromSec).toBe(900);
    const vpc = gap.batches.filter((b) => b.flowLogId === 'fl-vpc');
    // 960..1250 at 60 s: 960-1020, 1020-1080, 1080-1140, 1140-1200, 1200-1250; eni-a only.
    expect(vpc.map((b) => [b.windowStartSec, b.windowEndSec])).toEqual([
      [960, 1020],
      [1020, 1080],
      [1080, 1140],
      [1140, 1200],
      [1200, 1250],
    ]);
    for (const b of vpc) expect(b.records.map((r) => r['eni-id'])).toEqual(['eni-a']);
    const r = vpc[0].records[0];
    expect(Object.keys(r)).toEqual([...RECORD_FIELDS, 'tcp-flags', 'region']);
    expect(r).toMatchObject({
      packets: '-',
      bytes: '-',
      start: '960',
      end: '1020',
      'log-status': 'SKIPDATA',
      action: '-',
      srcaddr: '-',
      'tcp-flags': '-',
      region: 'cn-hangzhou',
    });
    const eniB = gap.batches.filter((b) => b.flowLogId === 'fl-eni');
    expect(eniB.map((b) => [b.windowStartSec, b.windowEndSec, b.records[0]['eni-id']])).toEqual([
      [900, 1200, 'eni-b'],
      [1200, 1250, 'eni-b'],
    ]);
    expect(gap.records).toBe(7);
  });

  it('covers a resumed window up to the real moment capture resumed, rounded outward', () => {
    const previous = {
      version: 1,
      clean: false,
      pid: 1,
      capturedUntilSec: 782,
      durableUntilSec: { '60': 780 },
      flowLogs: [{ id: 'fl-vpc', intervalSec: 60 }],
      enis: [eni('eni-a', 'vpc-a')],
    };
    const gap = crashGapRecords(previous, config, 840.055);
    expect(gap.batches.map((b) => [b.records[0].start, b.records[0].end])).toEqual([
      ['780', '840'],
      ['840', '841'],
    ]);
  });
});

describe('capture journal', () => {
  it('round-trips, marks a clean stop, and moves durability only forward', async () => {
    const dir = tempDirForFile('crash-gap-journal');
    const { logger } = captureLogger();
    const j = new CaptureJournal(dir, [{ id: 'fl', intervalSec: 60 }], 1000, logger, 5);
    j.begin([eni('eni-a', 'vpc-a')]);
    j.durable(60, 1020);
    j.durable(60, 960);
    j.tick(1030);
    await j.close(false);
    const s = readJournal(dir);
    expect(s).toMatchObject({
      clean: false,
      pid: process.pid,
      durableUntilSec: { '60': 1020 },
      flowLogs: [{ id: 'fl', intervalSec: 60 }],
    });
    expect(s?.enis.map((e) => e.id)).toEqual(['eni-a']);
    const retired = j.markRetiring([eni('eni-a', 'vpc-a')], []);
    j.retire(retired);
    await j.close(true);
    expect(readJournal(dir)).toMatchObject({ clean: true, enis: [] });
  });

  it('keeps the copy one write older beside it, which a reader falls back to when the journal is damaged', async () => {
    const dir = tempDirForFile('crash-gap-copies');
    const { logger } = captureLogger();
    const j = new CaptureJournal(dir, [{ id: 'fl', intervalSec: 60 }], 1000, logger, 0);
    j.begin([eni('eni-a', 'vpc-a')]);
    j.durable(60, 1020);
    await j.close(false);
    const older = readJournal(dir);
    j.durable(60, 1080); // written at once: the journal before it becomes the previous copy
    await new Promise((r) => setTimeout(r, 50));
    expect(readJournal(dir, JOURNAL_PREVIOUS_FILE)).toEqual(older);
    expect(readPreviousJournal(dir)).toMatchObject({ source: 'journal', state: { durableUntilSec: { '60': 1080 } } });
    writeFileSync(join(dir, JOURNAL_FILE), 'garbage');
    const read = readPreviousJournal(dir);
    expect(read).toMatchObject({ source: 'previous', state: { durableUntilSec: { '60': 1020 } } });
    expect(read.error?.message).toContain('not JSON');
    writeFileSync(join(dir, JOURNAL_PREVIOUS_FILE), '{"version": 7}');
    expect(readPreviousJournal(dir)).toMatchObject({ source: 'none', state: null });
  });

  it('refuses a broken journal with a message naming the file', () => {
    const dir = tempDirForFile('crash-gap-broken');
    writeFileSync(join(dir, JOURNAL_FILE), '{"version": 1, "enis": [');
    expect(() => readJournal(dir)).toThrow(JournalReadError);
    expect(() => readJournal(dir)).toThrow(`read capture journal ${join(dir, JOURNAL_FILE)}: not JSON`);
    expect(readJournal(join(dir, 'none'))).toBeNull();
    expect(readFileSync(join(dir, JOURNAL_FILE), 'utf8')).toContain('enis');
  });

  it('counts and logs once a journal it cannot write', async () => {
    const { logger, lines } = captureLogger();
    const j = new CaptureJournal('/proc/flowlog-no-such-dir', [{ id: 'fl', intervalSec: 60 }], 1000, logger, 0);
    j.tick(1001);
    await j.close(false);
    j.tick(1002);
    await j.close(false);
    expect(j.writeFailures).toBeGreaterThanOrEqual(2);
    expect(
      lines.filter((l) =>
        String(l.msg).startsWith('write capture journal /proc/flowlog-no-such-dir/capture-journal.json'),
      ),
    ).toHaveLength(1);
  });
});
