/**
 * What a restart marks when the previous run's journal cannot be read: the run lock it left
 * (only an unclean stop leaves one) still says the run died and since when it ran, so its gap is
 * written from that start to the moment capture resumed, for every ENI captured now: the widest
 * honest bounds, never nothing. A clean stop releases the lock; a live daemon's lock refuses a
 * second one on the same state directory.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load';
import type { RecordBatch } from '../../src/flow/record';
import { JOURNAL_FILE, JOURNAL_PREVIOUS_FILE } from '../../src/daemon/capture-journal';
import { CrashWatch } from '../../src/daemon/crash-watch';
import { RUN_LOCK_FILE, RunLockedError } from '../../src/daemon/run-lock';
import { captureLogger } from '../helpers/capture-logger';
import { tempDirForFile } from '../helpers/temp-dir';

function configIn(dir: string) {
  const file = join(dir, 'agent.yaml');
  writeFileSync(
    file,
    [
      'region: cn-hangzhou',
      'accountId: "1234567890123456"',
      `stateDir: ${join(dir, 'state')}`,
      'enis:',
      '  - { id: eni-conf, interface: lo9, vpcId: vpc-w, vswitchId: vsw-w, vmId: i-w }',
      'flowLogs:',
      '  - { id: fl-w, resourceType: vpc, resourceId: vpc-w, aggregationInterval: "10s", sink: { type: stdout } }',
      '',
    ].join('\n'),
  );
  return loadConfig(file).config;
}

class Collect {
  batches: RecordBatch[] = [];
  submit(b: RecordBatch): void {
    this.batches.push(b);
  }
  async close() {
    return { delivered: 0, spooled: 0 };
  }
}

const liveEni = {
  id: 'eni-live',
  mac: '02:00:00:00:00:09',
  ips: ['10.9.0.1'],
  vpcId: 'vpc-w',
  vswitchId: 'vsw-w',
  vmId: 'i-live',
};

describe('crash watch without a readable journal', () => {
  it("marks from the dead run's start to the resume, for every ENI, when both journal copies are damaged", async () => {
    const dir = tempDirForFile('crash-watch-lock');
    const config = configIn(dir);
    const { logger, lines } = captureLogger();
    const first = CrashWatch.open(config, logger, 1_000);
    first.enisCaptured([liveEni]);
    await first.close(false); // as a kill leaves it: journal unclean, run lock in place
    const lock = readFileSync(join(config.stateDir, RUN_LOCK_FILE), 'utf8');
    const startedMs = Number(lock.trim().split(' ')[1]);
    expect(Math.abs(startedMs - Date.now())).toBeLessThan(10_000);
    writeFileSync(join(config.stateDir, JOURNAL_FILE), '\u0000\u0000 torn');
    writeFileSync(join(config.stateDir, JOURNAL_PREVIOUS_FILE), '{"version": 1, "enis": ');

    const second = CrashWatch.open(config, logger, Math.floor(Date.now() / 1000));
    const out = new Collect();
    const resumed = Date.now() / 1000 + 0.25;
    second.resume(config, out, resumed, [liveEni]);
    const records = out.batches.flatMap((b) => b.records);
    // Every ENI: the configured one and the one captured now; 10 s pieces from the run's start.
    expect(new Set(records.map((r) => r['eni-id']))).toEqual(new Set(['eni-conf', 'eni-live']));
    const starts = records.map((r) => Number(r.start));
    const ends = records.map((r) => Number(r.end));
    expect(Math.min(...starts)).toBe(Math.floor(startedMs / 1000));
    expect(Math.max(...ends)).toBe(Math.ceil(resumed));
    for (const r of records) expect([r.packets, r.bytes, r['log-status']]).toEqual(['-', '-', 'SKIPDATA']);
    expect(second.counters()).toMatchObject({ uncleanRestarts: 1, gapRecordsByFlowLog: { 'fl-w': records.length } });
    expect(
      lines.filter((l) => String(l.msg).includes('stopped uncleanly: its gap is marked SKIPDATA from its start')),
    ).toHaveLength(1);
    await second.close(true);
    expect(existsSync(join(config.stateDir, RUN_LOCK_FILE))).toBe(false);
  });

  it('marks nothing when the journal is damaged after a clean stop (the lock was released)', async () => {
    const dir = tempDirForFile('crash-watch-clean');
    const config = configIn(dir);
    const { logger, lines } = captureLogger();
    const first = CrashWatch.open(config, logger, 1_000);
    await first.close(true);
    writeFileSync(join(config.stateDir, JOURNAL_FILE), 'garbage');
    writeFileSync(join(config.stateDir, JOURNAL_PREVIOUS_FILE), 'garbage');
    const second = CrashWatch.open(config, logger, 2_000);
    const out = new Collect();
    second.resume(config, out, 2_000.5, [liveEni]);
    expect(out.batches).toEqual([]);
    expect(lines.filter((l) => String(l.msg).includes('stopped cleanly (it released its run lock)'))).toHaveLength(1);
    await second.close(true);
  });

  it('refuses a state directory a live daemon holds, and makes its files private', async () => {
    const dir = tempDirForFile('crash-watch-live');
    const config = configIn(dir);
    const sleeper = spawn('sleep', ['30']);
    try {
      const first = CrashWatch.open(config, captureLogger().logger, 1_000);
      await first.close(false);
      writeFileSync(join(config.stateDir, RUN_LOCK_FILE), `${sleeper.pid} ${Date.now()}\n`);
      expect(() => CrashWatch.open(config, captureLogger().logger, 1_000)).toThrow(RunLockedError);
      expect(() => CrashWatch.open(config, captureLogger().logger, 1_000)).toThrow(
        `another daemon (pid ${sleeper.pid}) runs on it`,
      );
    } finally {
      sleeper.kill('SIGKILL');
    }
    expect(statSync(config.stateDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(config.stateDir, JOURNAL_FILE)).mode & 0o777).toBe(0o600);
  });
});

describe('crash watch with a damaged journal and its older copy', () => {
  it("marks from the copy's durable-until, for its ENIs and those captured now, when the run died", async () => {
    const dir = tempDirForFile('crash-watch-copy');
    const config = configIn(dir);
    const { logger } = captureLogger();
    const first = CrashWatch.open(config, logger, 1_000);
    first.enisCaptured([{ ...liveEni, id: 'eni-old' }]);
    await first.close(false); // killed: journal unclean, lock left
    await first.close(false); // (a second write, so the copy is a full journal too)
    writeFileSync(join(config.stateDir, JOURNAL_FILE), 'torn');
    const second = CrashWatch.open(config, logger, 2_000);
    const out = new Collect();
    second.resume(config, out, 2_000.5, [liveEni]);
    const records = out.batches.flatMap((b) => b.records);
    expect(new Set(records.map((r) => r['eni-id']))).toEqual(new Set(['eni-old', 'eni-live']));
    expect(Math.min(...records.map((r) => Number(r.start)))).toBe(1_000);
    expect(Math.max(...records.map((r) => Number(r.end)))).toBe(2_001);
    await second.close(true);
  });

  it('marks nothing when the copy is unclean but the run lock was released (a clean stop, then the damage)', async () => {
    const dir = tempDirForFile('crash-watch-copy-clean');
    const config = configIn(dir);
    const { logger } = captureLogger();
    const first = CrashWatch.open(config, logger, 1_000);
    first.enisCaptured([liveEni]);
    await first.close(true); // the copy beside it is the unclean state before the clean write
    writeFileSync(join(config.stateDir, JOURNAL_FILE), 'torn');
    const second = CrashWatch.open(config, logger, 2_000);
    const out = new Collect();
    second.resume(config, out, 2_000.5, [liveEni]);
    expect(out.batches).toEqual([]);
    await second.close(true);
  });
});
