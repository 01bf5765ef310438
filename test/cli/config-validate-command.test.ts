import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import yargs from 'yargs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runValidate, validateCommand, type TextOutput } from '../../src/cli/validate-command';
import { BASE_CONFIG, edit, lineOf } from '../helpers/config-text';

const ROOT = resolve(__dirname, '..', '..');
const EXAMPLE = join(ROOT, 'config/replay-example.yaml');

class CapturedOutput implements TextOutput {
  text = '';
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
  get lines(): string[] {
    return this.text.split('\n').filter((l) => l !== '');
  }
}

function validate(file: string): { code: number; out: CapturedOutput; err: CapturedOutput } {
  const out = new CapturedOutput();
  const err = new CapturedOutput();
  return { code: runValidate(file, out, err), out, err };
}

const tmp = mkdtempSync(join(tmpdir(), 'config-validate-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const WARNED = join(tmp, 'warned.yaml');
const WARNED_TEXT = edit(BASE_CONFIG, 'sink: {type: stdout}', 'aggregationInterval: "5s"\n    sink: {type: stdout}');
writeFileSync(WARNED, WARNED_TEXT);
const BAD = join(tmp, 'bad.yaml');
const BAD_TEXT =
  edit(BASE_CONFIG, 'sink: {type: stdout}', 'aggregationInterval: 7\n    sink: {type: stdout}') + 'extra: true\n';
writeFileSync(BAD, BAD_TEXT);

describe('runValidate', () => {
  it('prints "config OK" with the counts and exits 0 for the replay example', () => {
    const { code, out, err } = validate(EXAMPLE);
    expect(code).toBe(0);
    expect(out.text.split('\n')[0]).toBe(`config OK: ${EXAMPLE} (2 ENIs, 2 flow logs)`);
    // Then the engine this host gives the ENI devices, and why (root with BPF: ebpf; else libpcap).
    expect(out.text.split('\n')[1]).toMatch(/^capture engine: (ebpf|libpcap) \(.+\)$/);
    expect(err.text).toBe('');
  });

  it('names the engine of every configured device: ENI devices as capture.engine allows, shared ones libpcap', () => {
    const file = join(tmp, 'engines.yaml');
    writeFileSync(
      file,
      `region: cn-hangzhou
accountId: "1234567890123456"
capture: { engine: libpcap, devices: [br0] }
enis:
  - { id: eni-1, interface: tap1, vpcId: vpc-1, vswitchId: vsw-1, vmId: i-1 }
  - { id: eni-2, ips: [10.0.0.9], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-2 }
flowLogs:
  - { id: fl-1, resourceType: vpc, resourceId: vpc-1, sink: { type: stdout } }
`,
    );
    const { code, out, err } = validate(file);
    expect([code, err.text]).toEqual([0, '']);
    expect(out.lines.slice(1)).toEqual([
      'capture engine: libpcap (capture.engine is libpcap)',
      '  tap1 (eni-1): libpcap',
      '  br0 (shared): libpcap',
    ]);
  });

  it('exits 1 with one line naming the reason and the fix when run would refuse capture.engine: ebpf here', () => {
    const file = join(tmp, 'ebpf-filter.yaml');
    // A filter keeps libpcap on any host: the program has none.
    writeFileSync(file, edit(BASE_CONFIG, 'enis:', 'capture: { engine: ebpf, filter: udp }\nenis:'));
    const { code, err } = validate(file);
    expect(code).toBe(1);
    expect(err.lines).toEqual([
      `${file}: capture.engine: ebpf cannot run on this host (capture.filter is set and the eBPF program has no filter): remove what the reason names (grant CAP_BPF and CAP_NET_ADMIN, install libbpf1, drop capture.filter), or set capture.engine to auto or libpcap`,
    ]);
  });

  it('prints warnings to stderr and still exits 0', () => {
    const { code, out, err } = validate(WARNED);
    expect(code).toBe(0);
    expect(out.text.split('\n')[0]).toBe(`config OK: ${WARNED} (1 ENIs, 1 flow logs)`);
    expect(err.lines).toEqual([
      `warning: ${WARNED}:${lineOf(WARNED_TEXT, 'aggregationInterval')}: flowLogs[0].aggregationInterval: "5s" (5s) accepted for tests and demos only: the product offers 1, 5 or 10 minutes`,
    ]);
  });

  it('prints each error on one line to stderr and exits 2', () => {
    const { code, out, err } = validate(BAD);
    expect(code).toBe(2);
    expect(out.text).toBe('');
    expect(err.lines).toEqual([
      `${BAD}:${lineOf(BAD_TEXT, 'aggregationInterval')}: flowLogs[0].aggregationInterval: must be 1, 5 or 10 minutes, got 7`,
      `${BAD}:${lineOf(BAD_TEXT, 'extra:')}: extra: unknown key (expected region, accountId, stateDir, enis, flowLogs, flowTable, capture, discovery, delivery, credentials, metrics, networkAcls, nflog, overlay or log)`,
    ]);
  });

  it.each([
    ['a missing file', join(tmp, 'missing.yaml'), 'read config file: no such file'],
    ['a directory', tmp, 'read config file: is a directory, not a file'],
  ])('reports %s in one line, no stack, exit 2', (_name, file, message) => {
    const { code, out, err } = validate(file);
    expect(code).toBe(2);
    expect(out.text).toBe('');
    expect(err.text).toBe(`${file}: ${message}\n`);
  });
});

describe('validateCommand (yargs)', () => {
  afterEach(() => {
    process.exitCode = undefined;
  });

  it('parses --config and sets the exit code', async () => {
    await yargs(['validate', '--config', BAD])
      .command(validateCommand)
      .strict()
      .exitProcess(false)
      .fail(false)
      .parseAsync();
    expect(process.exitCode).toBe(2);
  });

  it('documents a required --config option', () => {
    expect(validateCommand.command).toBe('validate');
    const parser = yargs([]).command(validateCommand).exitProcess(false).fail(false);
    expect(() => parser.parseSync(['validate'])).toThrow(/config/);
  });
});

// Runs only once dist/ is built with the command registered in main (the lead's wiring).
const BUILT_MAIN = join(ROOT, 'dist/cli/main.js');
const builtWithValidate = existsSync(BUILT_MAIN) && readFileSync(BUILT_MAIN, 'utf8').includes('validate-command');

describe.skipIf(!builtWithValidate)('bin/flowlog-agent validate (built)', () => {
  const run = (file: string) =>
    spawnSync(process.execPath, [join(ROOT, 'bin/flowlog-agent'), 'validate', '--config', file], {
      encoding: 'utf8',
      timeout: 20_000,
    });

  it('exits 0 with "config OK" for the example', () => {
    const r = run(EXAMPLE);
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(`config OK: ${EXAMPLE} (2 ENIs, 2 flow logs)`);
  });

  it('exits 2 with one line per error and no stack for a bad or missing file', () => {
    for (const file of [BAD, join(tmp, 'missing.yaml'), tmp]) {
      const r = run(file);
      expect(r.status, file).toBe(2);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(
        r.stderr
          .split('\n')
          .filter(Boolean)
          .every((l) => l.startsWith(file)),
      ).toBe(true);
    }
  });
});
