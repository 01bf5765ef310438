/**
 * The daemon's windows under a stepping wall clock, with an injected clock (the pipeline's tick
 * and packet timestamps, as the daemon drives them): a step back keeps the open window open and
 * its packets in it, a step forward writes the windows it jumped over as SKIPDATA; windows never
 * overlap, none is missing, every record has start <= end inside its window, every packet counted.
 */
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load';
import { ClockStepWatch } from '../../src/daemon/clock-step';
import { PacketView } from '../../src/packet/decode/packet-view';
import { FLAG_OUT } from '../../src/packet/flow-windows';
import type { RecordBatch } from '../../src/flow/record';
import { buildPipeline } from '../../src/agent/pipeline';
import { captureLogger } from '../helpers/capture-logger';
import { scratchDir, writeConfig } from '../helpers/replay-run';
import { setView } from '../helpers/views';

const dir = scratchDir('clock-steps');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function pipeline(clocks?: { wallMs(): number; monoMs(): number }) {
  const { config } = loadConfig(
    writeConfig(
      dir,
      `region: cn-hangzhou
accountId: "1234567890123456"
stateDir: ${dir}/state
enis:
  - { id: eni-a, ips: ["10.0.0.5"], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-1 }
flowLogs:
  - { id: fl-1m, resourceType: vpc, resourceId: vpc-1, aggregationInterval: 1, sink: { type: stdout } }
`,
    ),
  );
  const batches: RecordBatch[] = [];
  const p = buildPipeline(
    config,
    { submit: (b) => batches.push(b) },
    { maxGapWindows: 1, wallClock: true, ...(clocks === undefined ? {} : { clocks }) },
  );
  return { p, batches };
}

describe('wall-clock windows under clock steps', () => {
  it('never overlap, never go missing, and keep start <= end', () => {
    const { p, batches } = pipeline();
    const v = new PacketView();
    let sent = 0;
    let port = 1000;
    // Each aggregator is fed the decoded view, as the recorder does after decoding a frame.
    const record = (ts: number) => {
      setView(v, { ts, src: '10.0.0.5', dst: '10.9.9.9', sport: port++, dport: 53, bytes: 100 });
      for (const a of p.aggregators) a.record(v, 0, FLAG_OUT);
      sent++;
    };
    const tick = (s: number) => p.recorder.tick(s);
    tick(600);
    record(610);
    tick(500); // NTP steps the clock back 110 s
    record(505); // stamped by the stepped clock: kept in the open window, at its start
    tick(640);
    record(641);
    tick(662); // the clock reaches the window's end again: [600, 660) closes once
    record(700);
    record(1005); // the clock stepped forward before the next tick: the packet moves the windows
    tick(1000); // as the tick would have: [660, 720) closed, [720, 960) jumped over
    record(1001);
    p.finish(1015);

    const windows = [
      ...new Map(
        batches.map((b) => [`${b.windowStartSec}-${b.windowEndSec}`, [b.windowStartSec, b.windowEndSec]]),
      ).values(),
    ].sort((a, b) => a[0] - b[0]);
    expect(windows).toEqual([
      [600, 660],
      [660, 720],
      [720, 780],
      [780, 840],
      [840, 900],
      [900, 960],
      [960, 1015],
    ]);
    // Each record beside its batch's window bounds (numbers; the record's own fields are strings).
    const records = batches.flatMap((b) =>
      b.records.map((r): Record<string, string | number> & { ws: number; we: number } => ({
        ...r,
        ws: b.windowStartSec,
        we: b.windowEndSec,
      })),
    );
    for (const r of records) {
      if (r.start === '-') continue;
      expect(Number(r.start)).toBeLessThanOrEqual(Number(r.end));
      expect(Number(r.start)).toBeGreaterThanOrEqual(r.ws);
      expect(Number(r.end)).toBeLessThanOrEqual(r.we);
    }
    const ok = records.filter((r) => r['log-status'] === 'OK');
    expect(ok.reduce((n, r) => n + Number(r.packets), 0)).toBe(sent);
    expect(
      ok
        .filter((r) => r.ws === 600)
        .map((r) => r.start)
        .sort(),
    ).toEqual(['600', '610', '641']);
    expect(ok.filter((r) => r.ws === 660).map((r) => r.start)).toEqual(['700']);
    expect(
      ok
        .filter((r) => r.ws === 960)
        .map((r) => r.start)
        .sort(),
    ).toEqual(['1001', '1005']);
    const skipped = records.filter((r) => r['log-status'] === 'SKIPDATA');
    expect(skipped.map((r) => [r.start, r.end, r.packets, r.bytes])).toEqual([
      ['720', '780', '-', '-'],
      ['780', '840', '-', '-'],
      ['840', '900', '-', '-'],
      ['900', '960', '-', '-'],
    ]);
    expect(records.filter((r) => r['log-status'] === 'NODATA')).toEqual([]);
    const agg = p.aggregators[0];
    expect([agg.latePackets, agg.uncapturedWindows, agg.timelineRestarts]).toEqual([1, 4, 0]);
  });
});

describe('wall-clock windows after a stall', () => {
  // The daemon's clocks, moved by hand: the tick passes wall time, as the daemon does.
  function clocked() {
    const c = { wall: 600_000, mono: 5_000 };
    const { p, batches } = pipeline({ wallMs: () => c.wall, monoMs: () => c.mono });
    const statuses = () =>
      batches.flatMap((b) => b.records.map((r) => [b.windowStartSec, r['log-status'], r.packets] as const));
    return { p, c, statuses };
  }

  it('writes the windows a stall jumped over from what was read: NODATA, no SKIPDATA', () => {
    const { p, c, statuses } = clocked();
    p.recorder.tick(600);
    // The agent did not run for 200 s: both clocks advanced; the rings held whatever came.
    c.wall += 200_000;
    c.mono += 200_000;
    p.recorder.tick(800);
    p.finish(801);
    expect(statuses()).toEqual([
      [600, 'NODATA', '-'],
      [660, 'NODATA', '-'],
      [720, 'NODATA', '-'],
      [780, 'NODATA', '-'],
    ]);
    expect([p.aggregators[0].stalledWindows, p.aggregators[0].uncapturedWindows]).toEqual([2, 0]);
  });

  it('tells a step from a stall even when packets of the next window arrived first', () => {
    const { p, c, statuses } = clocked();
    p.recorder.tick(600);
    const v = new PacketView();
    setView(v, { ts: 665, src: '10.0.0.5', dst: '10.9.9.9', sport: 1000, dport: 53, bytes: 100 });
    for (const a of p.aggregators) a.record(v, 0, FLAG_OUT); // the next window's, in its ahead table
    c.wall += 600_000; // then NTP steps the clock 10 minutes forward
    c.mono += 1_000;
    p.recorder.tick(1200);
    p.finish(1201);
    expect(statuses().filter(([, status]) => status === 'SKIPDATA').length).toBe(8);
    expect([p.aggregators[0].stalledWindows, p.aggregators[0].uncapturedWindows]).toEqual([0, 8]);
  });

  it('still writes the windows a forward step of the wall clock jumped over as SKIPDATA', () => {
    const { p, c, statuses } = clocked();
    p.recorder.tick(600);
    c.wall += 200_000; // NTP steps the clock: the monotonic clock moved 1 s
    c.mono += 1_000;
    p.recorder.tick(800);
    p.finish(801);
    expect(statuses()).toEqual([
      [600, 'NODATA', '-'],
      [660, 'SKIPDATA', '-'],
      [720, 'SKIPDATA', '-'],
      [780, 'NODATA', '-'],
    ]);
    expect([p.aggregators[0].stalledWindows, p.aggregators[0].uncapturedWindows]).toEqual([0, 2]);
  });
});

describe('ClockStepWatch', () => {
  it('names a step of the wall clock once, and not a suspension (both clocks advance)', () => {
    const { logger, at } = captureLogger();
    let wall = 1_000_000;
    let mono = 50;
    const watch = new ClockStepWatch(
      logger,
      () => wall,
      () => mono,
    );
    const advance = (wallMs: number, monoMs: number) => {
      wall += wallMs;
      mono += monoMs;
      watch.check();
    };
    advance(1000, 1000);
    advance(1000 - 110_000, 1000); // NTP steps back 110 s
    advance(1000, 1000);
    advance(300_000, 1000); // steps forward 5 min
    advance(60_000, 60_000); // suspended for a minute: no step
    advance(1500, 1000); // 0.5 s of slew: no step
    expect([watch.forward, watch.back]).toEqual([1, 1]);
    expect(at('warn').map((l) => l.msg)).toEqual([
      'wall clock stepped back by 110 s: the open window stays open until the clock reaches its end again',
      'wall clock stepped forward by 299 s: windows it jumped over are written as SKIPDATA',
    ]);
  });
});
