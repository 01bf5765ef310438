/**
 * The capabilities the engine needs, found by running it without root: a child as user nobody
 * with only the capabilities under test (capsh, ambient set). With CAP_BPF and CAP_NET_ADMIN the
 * program loads (the verifier then applies its Spectre rules for processes without
 * CAP_PERFMON), attaches on TCX and clsact and drains; without either one the probe says which
 * is missing, in the sentence `auto` will print.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ebpfBuildDir } from '../../../src/capture/ebpf/ebpf-binding';
import { ebpfCanRun, ifindexOf } from '../../helpers/ebpf-lab';
import { NetnsLab } from '../../helpers/netns';
import { tempDirForFile } from '../../helpers/temp-dir';

function hasCapsh(): boolean {
  try {
    execFileSync('capsh', ['--supports=cap_bpf'], { stdio: 'ignore' });
    execFileSync('id', ['nobody'], { stdio: 'ignore' });
    return existsSync('/usr/sbin/capsh') || existsSync('/sbin/capsh');
  } catch {
    return false;
  }
}

const canRun = ebpfCanRun() && hasCapsh();

interface ChildReport {
  caps: Record<string, boolean>;
  usable: boolean;
  reason: string;
  steps: string[];
  error?: string;
}

describe.skipIf(!canRun)('eBPF engine capabilities', () => {
  const dir = tempDirForFile('ebpf-caps');
  const lab = new NetnsLab('flcp');
  let script = '';
  let ifindexes: number[] = [];

  beforeAll(() => {
    const vm = lab.namespace('vm');
    lab.uplink(vm, 'vm0', '10.85.1.2/24', 'flcp0', '10.85.1.1/24');
    lab.uplink(vm, 'vm1', '10.85.2.2/24', 'flcp1', '10.85.2.1/24');
    ifindexes = [ifindexOf('flcp0'), ifindexOf('flcp1')];
    const build = ebpfBuildDir();
    script = join(dir, 'child.js');
    writeFileSync(
      script,
      [
        `const b = require(${JSON.stringify(join(build, 'flowlog_ebpf.node'))});`,
        'const p = b.probe();',
        'const report = { caps: p.capabilities, usable: p.usable, reason: p.reason, steps: [] };',
        'const step = (name, fn) => new Promise((resolve) => fn((err) => { if (err) report.error = name + ": " + err; else report.steps.push(name); resolve(!err); }));',
        '(async () => {',
        '  let h;',
        `  try { h = b.open(${JSON.stringify(join(build, 'flow-tc.bpf.o'))}, 64, 2, 2, 4, 4); report.steps.push("open"); } catch (e) { report.error = "open: " + e.message.slice(-300); }`,
        `  if (h && await step("attach auto", (cb) => b.attach(h, ${ifindexes[0]}, 0, 1, 0, false, (e, mode) => cb(e, report.steps.push("mode " + mode)))) &&`,
        `      await step("attach clsact", (cb) => b.attach(h, ${ifindexes[1]}, 1, 1, 2, false, cb))) {`,
        '    const rec = new Uint8Array(b.info(h)[0] * b.RECORD_BYTES);',
        '    const loss = new Float64Array(2 * b.LOSS_REASONS * 2);',
        '    await step("drain", (cb) => b.drain(h, rec, loss, cb));',
        '    report.steps.push("close " + b.close(h, false));',
        '  }',
        '  console.log(JSON.stringify(report));',
        '})();',
      ].join('\n'),
    );
    chmodSync(dir, 0o755);
    chmodSync(script, 0o644);
  });

  afterAll(() => lab.remove());

  function runWith(caps: string[]): ChildReport {
    const list = caps.join(',');
    const out = execFileSync(
      'capsh',
      [
        `--caps=${list},cap_setuid,cap_setgid,cap_setpcap+eip`,
        '--keep=1',
        '--user=nobody',
        `--addamb=${list}`,
        '--',
        '-c',
        `${process.execPath} ${script}`,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    return JSON.parse(out) as ChildReport;
  }

  it('runs with CAP_BPF and CAP_NET_ADMIN alone', () => {
    const r = runWith(['cap_bpf', 'cap_net_admin']);
    expect(r.caps).toEqual({ bpf: true, netAdmin: true, perfmon: false, sysAdmin: false });
    expect(r).toMatchObject({ usable: true, reason: '' });
    expect(r.error).toBeUndefined();
    expect(r.steps).toEqual(['open', 'mode 1', 'attach auto', 'attach clsact', 'drain', 'close 0']);
  });

  it('says CAP_BPF is missing without it', () => {
    const r = runWith(['cap_net_admin']);
    expect(r.usable).toBe(false);
    expect(r.reason).toMatch(/lacks CAP_BPF/);
  });

  it('says CAP_NET_ADMIN is missing without it', () => {
    const r = runWith(['cap_bpf']);
    expect(r.usable).toBe(false);
    expect(r.reason).toMatch(/lacks CAP_NET_ADMIN/);
  });
});
