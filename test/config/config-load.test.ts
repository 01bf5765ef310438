import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, formatProblem, loadConfig } from '../../src/config/load';
import type { ConfigProblem } from '../../src/config/types';

const FIXTURES = resolve(__dirname, '..', 'fixtures/config');
const EXAMPLE = resolve(__dirname, '..', '../config/replay-example.yaml');

function refusal(file: string): ConfigError {
  try {
    loadConfig(file);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected ${file} to be refused`);
}

describe('loadConfig: files that cannot be used', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'config-load-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it.each([
    ['a missing file', join(tmp, 'nope.yaml'), /^read config file: no such file$/],
    ['a directory', tmp, /^read config file: is a directory/],
    [
      'an empty file',
      join(FIXTURES, 'empty.yaml'),
      /^file is empty: expected a mapping with at least region, accountId$/,
    ],
    ['a file of comments only', join(FIXTURES, 'comments-only.yaml'), /^file is empty/],
  ])('refuses %s with one problem naming no line', (_name, file, message) => {
    const err = refusal(file);
    expect(err.file).toBe(file);
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatchObject({ severity: 'error', path: '' });
    expect(err.problems[0].line).toBeUndefined();
    expect(err.problems[0].message).toMatch(message);
  });

  it('keeps the fs error as the cause of an unreadable file', () => {
    const err = refusal(join(tmp, 'nope.yaml'));
    expect((err.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it.skipIf(process.getuid?.() === 0)('refuses a file without read permission', () => {
    const file = join(tmp, 'secret.yaml');
    writeFileSync(file, 'region: cn-hangzhou\n');
    chmodSync(file, 0o000);
    expect(refusal(file).problems[0].message).toBe('read config file: permission denied');
  });

  it('reports a YAML syntax error at its line and column', () => {
    // Line 5 is `    vmId: i-1: oops`; the library points at the value that holds the nested
    // mapping, which starts after 4 spaces and "vmId: " (10 characters): column 11.
    const err = refusal(join(FIXTURES, 'syntax-error.yaml'));
    expect(err.problems).toEqual([
      {
        severity: 'error',
        path: '',
        line: 5,
        message: 'parse YAML: Nested mappings are not allowed in compact mappings (column 11)',
      },
    ]);
  });

  it('reports a duplicate key at the line of its second occurrence', () => {
    const err = refusal(join(FIXTURES, 'duplicate-key.yaml'));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatchObject({
      line: 3,
      message: expect.stringMatching(/^parse YAML: Map keys must be unique/),
    });
  });

  it('refuses a document that is not a mapping', () => {
    const err = refusal(join(FIXTURES, 'top-level-list.yaml'));
    expect(err.problems).toEqual([{ severity: 'error', path: '', line: 1, message: 'must be a mapping, got a list' }]);
  });

  it('lists every problem of a bad file, in line order', () => {
    const err = refusal(join(FIXTURES, 'many-errors.yaml'));
    const found = err.problems.map((p) => [p.line, p.path]);
    expect(found).toEqual([
      [1, 'region'],
      [2, 'accountId'],
      [3, 'bogus'],
      [6, 'enis[0].ips[0]'],
      [10, 'enis[1].id'],
      [11, 'enis[1].mac'],
      [19, 'flowLogs[0].aggregationInterval'],
      [22, 'flowTable.capacty'],
      [23, 'log.level'],
    ]);
    expect(err.message.split('\n')[0]).toBe(`load config ${join(FIXTURES, 'many-errors.yaml')}: 9 errors`);
  });
});

describe('loadConfig: the replay example', () => {
  const { config, warnings } = loadConfig(EXAMPLE);

  it('has no warnings and the values written, normalised', () => {
    expect(warnings).toEqual([]);
    expect(config.sourcePath).toBe(EXAMPLE);
    expect(config.region).toBe('cn-hangzhou');
    expect(config.accountId).toBe('1234567890123456');
    expect(config.enis.map((e) => e.id)).toEqual(['eni-bp1aaaaaaaaaaaaaaaaa', 'eni-bp1bbbbbbbbbbbbbbbbb']);
    expect(config.enis[0].ips).toEqual(['10.0.1.10', '2001:db8:1::10']);
    expect(config.enis[0].cidrs).toEqual(['10.0.1.10/32', '2001:db8:1::10/128']);
    expect(config.enis[1]).toMatchObject({ mac: '00:16:3e:0b:0b:0b', ips: [], cidrs: [] });
  });

  it('has a 1-minute all-traffic ENI flow log and a 5-minute VPC-wide one, to files', () => {
    expect(config.flowLogs).toEqual([
      {
        id: 'fl-eni-a-1m',
        resourceType: 'eni',
        resourceId: 'eni-bp1aaaaaaaaaaaaaaaaa',
        trafficType: 'all',
        aggregationIntervalSec: 60,
        sink: { type: 'file', path: '/tmp/flowlog-replay/fl-eni-a-1m.jsonl' },
        extraFields: [],
      },
      {
        id: 'fl-vpc-5m',
        resourceType: 'vpc',
        resourceId: 'vpc-bp1vvvvvvvvvvvvvvvvv',
        trafficType: 'all',
        aggregationIntervalSec: 300,
        sink: { type: 'file', path: '/tmp/flowlog-replay/fl-vpc-5m.jsonl' },
        extraFields: ['tcp-flags'],
      },
    ]);
  });

  it('fills every section it does not set from the documented defaults', () => {
    expect(config.flowTable).toEqual({ capacity: 1_000_000, fragmentCacheSize: 4096 });
    expect(config.capture).toEqual({
      engine: 'auto',
      snaplenBytes: 128,
      totalBufferBytes: 256 * 1024 * 1024,
      bufferBytes: 32 * 1024 * 1024,
      devices: [],
      filter: '',
      readPauseMs: 40,
      mtuBytes: 1500,
    });
    expect(config.discovery).toEqual({
      type: 'static',
      metadataUrl: 'http://100.100.100.200',
      hardened: true,
      allowNormalMode: false,
      refreshIntervalSec: 5,
    });
    expect(config.delivery).toEqual({
      lingerMs: 1000,
      maxBatchRecords: 4096,
      maxBatchBytes: 3 * 1024 * 1024,
      concurrency: 4,
      retryInitialMs: 500,
      retryMaxMs: 30_000,
      requestTimeoutMs: 10_000,
      spoolMaxBytes: 1024 ** 3,
      stopFlushTimeoutMs: 30_000,
      spoolMemoryMaxBytes: 64 * 1024 ** 2,
      unhealthyAfterSec: 60,
    });
    expect(config.credentials).toBeUndefined();
    expect(config.metrics).toEqual({ listen: '', allowNonLoopback: false });
    expect(config.log).toEqual({ level: 'info' });
  });
});

describe('loadConfig: other valid files', () => {
  it('follows YAML aliases and resolves relative paths against the file directory', () => {
    const { config, warnings } = loadConfig(join(FIXTURES, 'aliases.yaml'));
    expect(warnings).toEqual([]);
    expect(config.enis.map((e) => e.vpcId)).toEqual(['vpc-1', 'vpc-1']);
    expect(config.flowLogs[0].resourceId).toBe('vpc-1');
    expect(config.flowLogs[0].sink).toEqual({ type: 'file', path: join(FIXTURES, 'out/a.jsonl') });
  });

  it('accepts the daemon example (SLS sink, metadata discovery, unit sizes)', () => {
    const { config, warnings } = loadConfig(resolve(__dirname, '..', '../config/daemon-example.yaml'));
    expect(warnings).toEqual([]);
    expect(config.discovery.type).toBe('ecs-metadata');
    expect(config.capture.bufferBytes).toBe(64 * 1024 * 1024);
    expect(config.delivery.spoolMaxBytes).toBe(2 * 1024 ** 3);
    expect(config.credentials).toEqual({ ramRole: 'FlowlogAgentRole' });
    expect(config.flowLogs[0].sink).toEqual({
      type: 'sls',
      project: 'vpc-flowlogs-1234567890123456',
      logstore: 'flowlog',
      intranet: true,
      tags: { env: 'production' },
    });
    expect(config.flowLogs[0].aggregationIntervalSec).toBe(600);
  });
});

describe('formatProblem', () => {
  it.each<[ConfigProblem, string]>([
    [
      {
        severity: 'error',
        path: 'flowLogs[1].aggregationInterval',
        message: 'must be 1, 5 or 10 minutes, got 7',
        line: 12,
      },
      'a.yaml:12: flowLogs[1].aggregationInterval: must be 1, 5 or 10 minutes, got 7',
    ],
    [
      { severity: 'error', path: 'region', message: 'required key is missing' },
      'a.yaml: region: required key is missing',
    ],
    [
      { severity: 'error', path: '', message: 'read config file: no such file' },
      'a.yaml: read config file: no such file',
    ],
    [{ severity: 'warning', path: 'x', message: 'multi\n  line', line: 3 }, 'warning: a.yaml:3: x: multi line'],
  ])('formats %j as one line', (problem, expected) => {
    expect(formatProblem('a.yaml', problem)).toBe(expected);
  });
});
