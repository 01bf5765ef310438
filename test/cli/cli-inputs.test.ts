/**
 * A CLI scripts can trust, table-driven over the built CLI: an input that cannot be read as what
 * it should be ends in exit 2 and one line naming it (never exit 0, never a stack trace); a
 * directory is called a directory; -c works wherever a config is taken; a closed stdout ends a
 * replay quietly with 0; --output replaces its file unless --append, and an append says so.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchDir } from '../helpers/replay-run';

const ROOT = join(__dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'flowlog-agent');
const built = existsSync(join(ROOT, 'dist', 'cli', 'main.js'));

describe.skipIf(!built)('CLI on bad input', () => {
  const dir = scratchDir('cli-inputs');
  const at = (name: string) => join(dir, name);
  const config = at('agent.yaml');
  writeFileSync(
    config,
    [
      'region: cn-hangzhou',
      'accountId: "1234567890123456"',
      `stateDir: ${at('state')}`,
      'enis:',
      '  - { id: eni-cli, ips: [10.0.0.5], vpcId: vpc-c, vswitchId: vsw-c, vmId: i-c }',
      'flowLogs:',
      `  - { id: fl-cli, resourceType: eni, resourceId: eni-cli, aggregationInterval: 1, sink: { type: file, path: ${at('records.jsonl')} } }`,
      '',
    ].join('\n'),
  );
  const run = (args: string[]) => spawnSync(BIN, args, { encoding: 'utf8', cwd: dir });
  expect(
    run([
      'generate',
      '--out',
      at('good.pcap'),
      '--packets',
      '400',
      '--flows',
      '10',
      '--start',
      '1700000040',
      '--duration',
      '60',
    ]).status,
  ).toBe(0);
  const good = readFileSync(at('good.pcap'));
  writeFileSync(at('empty.pcap'), '');
  writeFileSync(at('text.pcap'), 'this is a text file\nnot a capture\n');
  writeFileSync(at('random.pcap'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 0xff)));
  writeFileSync(at('truncated.pcap'), good.subarray(0, good.length - 37));
  // A section header block whose byte-order magic is wrong.
  const shb = Buffer.alloc(28);
  shb.writeUInt32LE(0x0a0d0d0a, 0);
  shb.writeUInt32LE(28, 4);
  shb.writeUInt32LE(0x12345678, 8);
  writeFileSync(at('bad.pcapng'), shb);
  // A classic pcap header with link type 999, and one packet.
  const linkHeader = Buffer.alloc(24 + 16 + 4);
  linkHeader.writeUInt32LE(0xa1b2c3d4, 0);
  linkHeader.writeUInt16LE(2, 4);
  linkHeader.writeUInt16LE(4, 6);
  linkHeader.writeUInt32LE(65535, 16);
  linkHeader.writeUInt32LE(999, 20);
  linkHeader.writeUInt32LE(1_700_000_000, 24);
  linkHeader.writeUInt32LE(4, 32);
  linkHeader.writeUInt32LE(4, 36);
  writeFileSync(at('linktype.pcap'), linkHeader);
  mkdirSync(at('a-directory'), { recursive: true });
  writeFileSync(at('not-json.jsonl'), 'hello\nworld\n');

  const replay = (pcap: string) => ['replay', '--pcap', at(pcap), '-c', config, '--output', at('out.jsonl')];
  const ROWS: Array<{ name: string; args: string[]; exit: number; line: RegExp }> = [
    {
      name: 'replay: a 0-byte file',
      args: replay('empty.pcap'),
      exit: 2,
      line: /^flowlog-agent replay: .*empty\.pcap: is empty \(0 bytes\), not a capture file/,
    },
    {
      name: 'replay: a text file',
      args: replay('text.pcap'),
      exit: 2,
      line: /^flowlog-agent replay: .*text\.pcap: not read: cannot open: unknown file format$/,
    },
    {
      name: 'replay: random bytes',
      args: replay('random.pcap'),
      exit: 2,
      line: /^flowlog-agent replay: .*random\.pcap: not read: /,
    },
    {
      name: 'replay: a truncated pcap',
      args: replay('truncated.pcap'),
      exit: 2,
      line: /^flowlog-agent replay: .*truncated\.pcap: read only in part: truncated packet after \d+ packets$/,
    },
    {
      name: 'replay: a bad pcapng',
      args: replay('bad.pcapng'),
      exit: 2,
      line: /^flowlog-agent replay: .*bad\.pcapng: read only in part: bad section byte-order magic/,
    },
    {
      name: 'replay: an unknown link type',
      args: replay('linktype.pcap'),
      exit: 2,
      line: /^flowlog-agent replay: .*linktype\.pcap: not read: unsupported link type 999$/,
    },
    {
      name: 'replay: a directory',
      args: replay('a-directory'),
      exit: 2,
      line: /^flowlog-agent replay: .*a-directory: is a directory, not a capture file/,
    },
    {
      name: 'replay: a missing file',
      args: replay('missing.pcap'),
      exit: 2,
      line: /^flowlog-agent replay: .*missing\.pcap: no such file$/,
    },
    {
      name: 'replay: --output a directory',
      args: ['replay', '--pcap', at('good.pcap'), '-c', config, '--output', at('a-directory')],
      exit: 2,
      line: /^flowlog-agent replay: --output .*a-directory: is a directory, not a file$/,
    },
    {
      name: 'replay: --append without --output',
      args: ['replay', '--pcap', at('good.pcap'), '-c', config, '--append'],
      exit: 2,
      line: /^flowlog-agent replay: --append adds to the --output FILE/,
    },
    {
      name: 'query: a file that is not JSON',
      args: ['query', at('not-json.jsonl')],
      exit: 2,
      line: /^flowlog-agent query: read records .*not-json\.jsonl: not a record file \(JSON Lines of flow-log records\): line 1: not JSON$/,
    },
    {
      name: 'query: a capture file',
      args: ['query', at('good.pcap')],
      exit: 2,
      line: /^flowlog-agent query: read records .*good\.pcap: not a record file/,
    },
    {
      name: 'query: a directory',
      args: ['query', at('a-directory')],
      exit: 2,
      line: /^flowlog-agent query: read records .*a-directory: is a directory, not a file$/,
    },
    {
      name: 'spool status with nothing to go on',
      args: ['spool', 'status'],
      exit: 2,
      line: /^flowlog-agent: spool status needs the state directory: give --config FILE \(its stateDir\) or --state-dir DIR$/,
    },
    ...[
      'validate',
      'status',
      'replay --pcap PCAP',
      'run',
      'sls setup',
      'spool status',
      'spool drain',
      'check --flow x',
    ].map((cmd) => ({
      name: `${cmd.split(' ')[0]} -c a directory`,
      args: [...cmd.replace('PCAP', at('good.pcap')).split(' '), '-c', at('a-directory')],
      exit: 2,
      line: /a-directory: read config file: is a directory, not a file$/,
    })),
  ];

  it.each(ROWS)('$name: exit $exit and one line', ({ args, exit, line }) => {
    const r = run(args);
    expect(r.status, r.stderr).toBe(exit);
    expect(
      r.stderr.split('\n').filter((l) => line.test(l)),
      r.stderr,
    ).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at |Error:|node:internal/);
  });

  it('takes -c as --config on every command that reads a config', () => {
    for (const cmd of [
      ['validate'],
      ['status'],
      ['spool', 'status'],
      ['spool', 'drain'],
      ['sls', 'setup'],
      ['check', '--flow', 'x'],
      ['run'],
      ['replay', '--pcap', at('good.pcap')],
    ]) {
      const r = run([...cmd, '-c', at('missing.yaml')]);
      expect([cmd.join(' '), r.stderr]).toEqual([
        cmd.join(' '),
        expect.stringContaining('missing.yaml: read config file: no such file'),
      ]);
      expect(r.stderr).not.toContain('Missing required argument');
    }
  });

  it('ends quietly with 0 when the reader of stdout goes away', () => {
    // Records of 2,000 flows over ten 1-minute windows: far more than a pipe holds, so the
    // replay is still writing when `head` has its line and leaves.
    expect(
      run([
        'generate',
        '--out',
        at('big.pcap'),
        '--packets',
        '40000',
        '--flows',
        '2000',
        '--start',
        '1700000040',
        '--duration',
        '600',
      ]).status,
    ).toBe(0);
    const r = spawnSync(
      'bash',
      ['-c', `set -o pipefail; "${BIN}" replay --pcap "${at('big.pcap')}" -c "${config}" --output - | head -1 | wc -l`],
      { encoding: 'utf8' },
    );
    expect(r.stdout.trim()).toBe('1');
    expect(r.stderr).not.toMatch(/EPIPE|Error|\n\s+at /);
    expect(r.stderr).not.toMatch(/^replay: /m); // it stopped at the closed pipe, not after the whole capture
    expect(r.status).toBe(0);
  });

  it('replaces an --output file unless --append, and says when it appends', () => {
    const out = at('replaced.jsonl');
    const lines = () => readFileSync(out, 'utf8').trimEnd().split('\n').length;
    expect(run(['replay', '--pcap', at('good.pcap'), '-c', config, '--output', out]).status).toBe(0);
    const once = lines();
    expect(run(['replay', '--pcap', at('good.pcap'), '-c', config, '--output', out]).status).toBe(0);
    expect(lines()).toBe(once);
    const appended = run(['replay', '--pcap', at('good.pcap'), '-c', config, '--output', out, '--append']);
    expect(appended.status).toBe(0);
    expect(lines()).toBe(2 * once);
    expect(appended.stderr).toMatch(
      /^flowlog-agent replay: appending to .*replaced\.jsonl, which already holds \d+ bytes of records \(--append/m,
    );
    // The config's file sink appends (as the daemon's does): the second run says so.
    expect(run(['replay', '--pcap', at('good.pcap'), '-c', config]).stderr).not.toContain('appending');
    expect(run(['replay', '--pcap', at('good.pcap'), '-c', config]).stderr).toMatch(
      /appending to .*records\.jsonl, which already holds \d+ bytes of records \(flow log fl-cli's file sink appends/,
    );
  });
});
