/**
 * No orphan programs. A child process loads the engine, attaches to a device and is SIGKILLed:
 * on TCX nothing is left on the device (links die with their file descriptors); on clsact the
 * filters stay, and the next engine to attach finds them by handle and preference and replaces
 * them (clsact) or removes them (TCX), leaving exactly its own. A child that exits without
 * closing the engine leaves nothing either (the addon's exit hook). Oracle: the device's hooks
 * as the kernel lists them (BPF_PROG_QUERY, tc's filter query), and `tc filter show`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ebpfBuildDir } from '../../../src/capture/ebpf/ebpf-binding';
import { EbpfFlowEngine, deviceHooks } from '../../../src/capture/ebpf/ebpf-engine';
import { ebpfCanRun, ifindexOf } from '../../helpers/ebpf-lab';
import { NetnsLab } from '../../helpers/netns';
import { tempDirForFile } from '../../helpers/temp-dir';

const canRun = ebpfCanRun();
const NONE = { tcxIngress: [], tcxEgress: [], clsactIngress: 0, clsactEgress: 0 };

/**
 * Runs a child that attaches in `mode` (1 TCX, 2 clsact) and then `after`: 'hang' (to be
 * killed) or 'exit' (returns from everything: Node tears its environment down, as at a normal end).
 */
async function childAttach(ifindex: number, mode: number, after: 'hang' | 'exit'): Promise<void> {
  const dir = ebpfBuildDir();
  const script = [
    `const b = require(${JSON.stringify(join(dir, 'flowlog_ebpf.node'))});`,
    `const h = b.open(${JSON.stringify(join(dir, 'flow-tc.bpf.o'))}, 64, 2, 2, 4, 4);`,
    `b.attach(h, ${ifindex}, 0, 1, ${mode}, false, (err) => {`,
    `  console.log(err === null ? 'attached' : 'error ' + err);`,
    after === 'hang' ? '  setInterval(() => {}, 1000);' : '',
    '});',
  ].join('\n');
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) =>
    child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())),
  );
  expect(line).toBe('attached');
  if (after === 'hang') child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
}

function tcFilters(dev: string): string {
  return (
    execFileSync('tc', ['filter', 'show', 'dev', dev, 'ingress'], { encoding: 'utf8' }) +
    execFileSync('tc', ['filter', 'show', 'dev', dev, 'egress'], { encoding: 'utf8' })
  );
}

describe.skipIf(!canRun)('eBPF engine leaves no orphan programs', () => {
  const lab = new NetnsLab('flor');
  const dev = 'flor0';
  const dir = tempDirForFile('ebpf-orphans');
  let ifindex = 0;

  beforeAll(() => {
    const vm = lab.namespace('vm');
    lab.uplink(vm, 'vm0', '10.83.1.2/24', dev, '10.83.1.1/24');
    ifindex = ifindexOf(dev);
  });

  afterAll(() => lab.remove());

  it('a SIGKILLed agent on TCX leaves nothing on the device', async () => {
    await childAttach(ifindex, 1, 'hang');
    // the link's release runs as the killed process's files close
    for (let i = 0; i < 50 && deviceHooks(ifindex).tcxIngress.length > 0; i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(deviceHooks(ifindex)).toEqual(NONE);
  });

  it("a SIGKILLed agent's clsact filters are replaced by the next start, and gone after its close", async () => {
    await childAttach(ifindex, 2, 'hang');
    const orphan = deviceHooks(ifindex);
    expect(orphan.clsactIngress).toBeGreaterThan(0);
    expect(orphan.clsactEgress).toBeGreaterThan(0);
    expect(tcFilters(dev)).toContain('flowlog_tc');

    const engine = EbpfFlowEngine.open({ flowCapacity: 64, maxSlots: 2, maxDevices: 2 });
    const res = await engine.attach(ifindex, { slot: 0, shared: false, mode: 'clsact' });
    expect(res).toEqual({ mode: 'clsact', staleFiltersReplaced: 2 });
    const now = deviceHooks(ifindex);
    expect(now.clsactIngress).not.toBe(orphan.clsactIngress); // our program, not the orphan's
    expect(now.clsactEgress).toBe(now.clsactIngress);
    expect(tcFilters(dev).match(/handle 0xf10c/g)?.length).toBe(2); // one per hook, no duplicates
    await engine.close();
    expect(deviceHooks(ifindex)).toEqual(NONE);
    expect(tcFilters(dev)).not.toContain('flowlog_tc');
  });

  it('a TCX start removes the clsact filters a killed agent left', async () => {
    await childAttach(ifindex, 2, 'hang');
    expect(deviceHooks(ifindex).clsactIngress).toBeGreaterThan(0);
    const engine = EbpfFlowEngine.open({ flowCapacity: 64, maxSlots: 2, maxDevices: 2 });
    const res = await engine.attach(ifindex, { slot: 0, shared: false, mode: 'tcx' });
    expect(res).toEqual({ mode: 'tcx', staleFiltersReplaced: 2 });
    const now = deviceHooks(ifindex);
    expect([now.clsactIngress, now.clsactEgress, now.tcxIngress.length, now.tcxEgress.length]).toEqual([0, 0, 1, 1]);
    await engine.close();
    expect(deviceHooks(ifindex)).toEqual(NONE);
  });

  it('an agent that ends without closing the engine leaves no clsact filter', async () => {
    await childAttach(ifindex, 2, 'exit');
    expect(deviceHooks(ifindex)).toEqual(NONE);
  });

  it('an agent that calls process.exit() with the engine open leaves no clsact filter', () => {
    const root = join(__dirname, '..', '..', '..');
    const child = [
      `import { EbpfFlowEngine, deviceHooks } from ${JSON.stringify(join(root, 'src/capture/ebpf/ebpf-engine.ts'))};`,
      'const engine = EbpfFlowEngine.open({ flowCapacity: 64, maxSlots: 2, maxDevices: 2 });',
      `void engine.attach(${ifindex}, { slot: 0, shared: false, mode: 'clsact' }).then(() => {`,
      `  process.stdout.write(String(deviceHooks(${ifindex}).clsactIngress > 0), () => process.exit(0));`,
      '});',
    ].join('\n');
    const file = join(dir, 'exit-child.ts');
    writeFileSync(file, child);
    const attached = execFileSync(join(root, 'node_modules/.bin/vite-node'), [file], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 60_000,
    });
    expect(attached).toBe('true');
    expect(deviceHooks(ifindex)).toEqual(NONE);
  });
});
