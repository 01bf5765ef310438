import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import yargs from 'yargs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createSpoolCommand,
  formatAge,
  runSpoolDrain,
  runSpoolStatus,
  type DrainSetup,
} from '../../src/cli/spool-command';
import { slsLogMeasure } from '../../src/output/sls/sls-log-group';
import { Spool } from '../../src/output/spool/spool';
import { captureLogger } from '../helpers/capture-logger';
import { deliveryOptions } from '../helpers/delivery-options';
import { numbers, sizedBatch } from '../helpers/records';
import { retryable, ScriptedSink } from '../helpers/scripted-sink';
import { tempDirForFile } from '../helpers/temp-dir';

const root = tempDirForFile('spool-command');
let stateCount = 0;
const T0 = Date.parse('2026-01-01T00:00:00Z');
const options = deliveryOptions({ retryInitialMs: 10, retryMaxMs: 50, requestTimeoutMs: 1000 });

class Text {
  text = '';
  write(s: string) {
    this.text += s;
  }
  get rows() {
    return this.text
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s{2,}/));
  }
}

/** A state dir: fl-a with 3 + 2 records written at T0 and T0+60 s plus a stray temp file; fl-b empty but with one corrupt file. */
async function stateDir(): Promise<string> {
  const dir = join(root, `state-${++stateCount}`);
  vi.useFakeTimers({ toFake: ['Date'] });
  try {
    vi.setSystemTime(T0);
    const a = await Spool.open(join(dir, 'spool', 'fl-a'), {
      measure: slsLogMeasure,
      maxBytes: 1e9,
      logger: captureLogger().logger,
    });
    await a.append(sizedBatch(1, 3, 1000), 300);
    vi.setSystemTime(T0 + 60_000);
    await a.append(sizedBatch(4, 2, 1060), 200);
    await a.close();
  } finally {
    vi.useRealTimers();
  }
  writeFileSync(join(dir, 'spool', 'fl-a', `tmp-${'0'.repeat(19)}3-77.part`), 'x');
  mkdirSync(join(dir, 'spool', 'fl-b', 'corrupt'), { recursive: true });
  writeFileSync(join(dir, 'spool', 'fl-b', 'corrupt', `${'0'.repeat(19)}9.seg.123`), 'x');
  return dir;
}
const segBytes = (dir: string) =>
  readdirSync(dir)
    .filter((n) => n.endsWith('.seg'))
    .reduce((sum, n) => sum + statSync(join(dir, n)).size, 0);

afterEach(() => {
  vi.restoreAllMocks();
});

describe('spool status', () => {
  it('prints segments, records, bytes, oldest age, corrupt and incomplete files per flow log', async () => {
    const dir = await stateDir();
    const out = new Text();
    expect(await runSpoolStatus(dir, out, T0 + 3_723_000)).toBe(0); // oldest: 1 h 2 min 3 s old
    expect(out.rows).toEqual([
      ['FLOW LOG', 'SEGMENTS', 'RECORDS', 'BYTES', 'OLDEST', 'CORRUPT', 'INCOMPLETE', 'OWNER'],
      ['fl-a', '2', '5', String(segBytes(join(dir, 'spool', 'fl-a'))), '1h02m', '0', '1', '-'],
      ['fl-b', '0', '0', '0', '-', '1', '0', '-'],
    ]);
  });

  it('says so when there is no spool yet', async () => {
    const out = new Text();
    expect(await runSpoolStatus(join(root, 'nothing-here'), out)).toBe(0);
    expect(out.text).toContain('no spool under');
  });

  it.each([
    [0, '0s'],
    [59_999, '59s'],
    [60_000, '1m00s'],
    [725_000, '12m05s'],
    [3_723_000, '1h02m'],
    [187_200_000, '2d04h'],
  ])('formats %i ms as %s', (ms, text) => {
    expect(formatAge(ms)).toBe(text);
  });

  it('is wired as `spool status --state-dir DIR`', async () => {
    const dir = await stateDir();
    let printed = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      printed += String(chunk);
      return true;
    });
    const command = createSpoolCommand({ drainSetup: () => ({ sinkFactory: () => undefined, options }) });
    await yargs(['spool', 'status', '--state-dir', dir]).command(command).strict().parseAsync();
    expect(process.exitCode).toBe(0);
    expect(printed).toMatch(/^fl-a\s+2\s+5\s/m);
  });
});

describe('spool drain', () => {
  const setup = (dir: string, sinks: Record<string, ScriptedSink>): DrainSetup => ({
    stateDir: dir,
    sinkFactory: (id) => sinks[id],
    options,
    timeoutMs: 300,
    logger: captureLogger().logger,
  });

  it('delivers every spool in order and exits 0 when all are empty', async () => {
    const dir = await stateDir();
    const sink = new ScriptedSink();
    const out = new Text();
    expect(await runSpoolDrain(setup(dir, { 'fl-a': sink }), out)).toBe(0);
    expect(sink.delivered).toEqual(numbers(1, 5));
    expect(sink.closed).toBe(true);
    expect(out.text).toContain('fl-a: delivered 5 records; 0 records remain');
    expect(out.text).toContain('fl-b: empty');
    expect(readdirSync(join(dir, 'spool', 'fl-a')).filter((n) => n.endsWith('.seg'))).toEqual([]);
  });

  it('exits 1 and says what remains when the sink keeps failing', async () => {
    const dir = await stateDir();
    const sink = new ScriptedSink(Array.from({ length: 1000 }, () => retryable('HTTP 503')));
    const out = new Text();
    expect(await runSpoolDrain(setup(dir, { 'fl-a': sink }), out)).toBe(1);
    expect(out.text).toContain('fl-a: delivered 0 records; 5 records remain (retryable: HTTP 503)');
    expect(out.text).toContain('5 records remain spooled');
  });

  it('exits 1 for a spool whose flow log is no longer configured or that a daemon holds', async () => {
    const dir = await stateDir();
    const out = new Text();
    expect(await runSpoolDrain(setup(dir, {}), out)).toBe(1);
    expect(out.text).toContain('fl-a: no flow log with this id in the configuration; 5 records left');

    const daemon = await Spool.open(join(dir, 'spool', 'fl-a'), {
      measure: slsLogMeasure,
      maxBytes: 1e9,
      logger: captureLogger().logger,
    });
    try {
      const held = new Text();
      expect(await runSpoolDrain(setup(dir, { 'fl-a': new ScriptedSink() }), held)).toBe(1);
      expect(held.text).toContain(`fl-a: open spool: in use by running process ${process.pid}; 5 records left`);
    } finally {
      await daemon.close();
    }
  });
});
