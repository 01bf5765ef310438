/**
 * `flowlog-agent init` on a host's devices: in a namespace with two veth pairs (one end of each
 * moved to a second namespace, as a container's), a tap and a bridge holding the tap, the written
 * config lists exactly the taps and veths with the MACs and addresses iproute2 reports
 * (`ip -j addr`, the oracle), the bridge as a commented shared device, a placeholder for every id
 * that `validate` refuses one line each; it is refused over an existing file unless --force, and
 * validates once the placeholders are filled in.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { NetnsLab } from '../helpers/netns';
import { tempDirForFile } from '../helpers/temp-dir';

const BIN = join(__dirname, '..', '..', 'bin', 'flowlog-agent');
const canRun = NetnsLab.available();

interface IpAddr {
  ifname: string;
  address: string;
  addr_info: Array<{ family: string; local: string; scope: string }>;
}

describe.skipIf(!canRun)('flowlog-agent init', () => {
  const dir = tempDirForFile('init-command');
  const lab = new NetnsLab('flin');
  afterAll(() => lab.remove());

  it("writes the host's taps and veths, with placeholders validate refuses, and never replaces a file unasked", () => {
    const host = lab.namespace('host');
    const guest = lab.namespace('guest');
    lab.veth(host, 'flinv0', '10.213.0.1/24', guest, 'flinp0', '10.213.0.2/24');
    lab.veth(host, 'flinv1', '10.213.1.1/24', guest, 'flinp1', '10.213.1.2/24');
    lab.exec(host, 'ip', ['tuntap', 'add', 'dev', 'flint0', 'mode', 'tap']);
    lab.bridge(host, 'flinbr');
    lab.exec(host, 'ip', ['link', 'set', 'flint0', 'master', 'flinbr']);

    const file = join(dir, 'agent.yaml');
    const init = (...args: string[]) =>
      spawnSync('ip', ['netns', 'exec', host, process.execPath, BIN, 'init', '--config', file, ...args], {
        encoding: 'utf8',
      });
    const first = init();
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.stdout).toContain('ENIs flint0 (tap), flinv0 (veth), flinv1 (veth); bridges flinbr (commented)');

    // The oracle: iproute2's view of the same namespace.
    const ipAddr = JSON.parse(lab.exec(host, 'ip', ['-j', 'addr', 'show'])) as IpAddr[];
    const expected = ['flint0', 'flinv0', 'flinv1'].map((name) => {
      const link = ipAddr.find((l) => l.ifname === name)!;
      const ips = link.addr_info.filter((a) => a.scope !== 'link').map((a) => a.local);
      return { interface: name, mac: link.address, ...(ips.length > 0 ? { ips } : {}) };
    });
    expect(expected[1].ips).toEqual(['10.213.0.1']); // the veths are up with their address
    const text = readFileSync(file, 'utf8');
    const written = parse(text) as { enis: Array<Record<string, unknown>>; capture?: unknown };
    expect(written.enis.map((e) => ({ interface: e.interface, mac: e.mac, ...(e.ips ? { ips: e.ips } : {}) }))).toEqual(
      expected,
    );
    expect(written.capture).toBeUndefined();
    expect(text).toMatch(/^# {3}devices: \[flinbr\]$/m);
    expect(text).toMatch(new RegExp(`^# {3}flinbr: MAC ${lab.mac(host, 'flinbr')}, ports flint0$`, 'm'));

    // Every id is a placeholder: validate names each, one line, exit 2.
    const validate = () => spawnSync(process.execPath, [BIN, 'validate', '--config', file], { encoding: 'utf8' });
    const refused = validate();
    expect(refused.status).toBe(2);
    const problems = refused.stderr.trim().split('\n');
    expect(problems).toHaveLength(2 + 3 * 4 + 1); // region, accountId, 4 ids per ENI, the flow log's VPC
    expect(problems.every((l) => l.includes('is a placeholder ("') && l.startsWith(`${file}:`))).toBe(true);

    // An existing file is not replaced without --force (and is left as it was).
    writeFileSync(file, text + '# edited\n');
    const again = init();
    expect(again.status).toBe(2);
    expect(again.stderr).toBe(`init: ${file} exists: not replaced (--force replaces it)\n`);
    expect(readFileSync(file, 'utf8')).toBe(text + '# edited\n');
    expect(init('--force').status).toBe(0);
    expect(readFileSync(file, 'utf8')).not.toContain('# edited');

    // Filled in, it validates.
    let n = 0;
    const filled = readFileSync(file, 'utf8')
      .replace(/^region: REPLACE-ME$/m, 'region: cn-hangzhou')
      .replace('"REPLACE-ME"', '"1234567890123456"')
      .replace(/eni-REPLACE-ME-\d+/g, () => `eni-test${++n}`)
      .replace(/(vpc|vsw|i)-REPLACE-ME/g, '$1-test');
    writeFileSync(file, filled);
    const ok = validate();
    expect(ok.stderr).toBe('');
    expect(ok.stdout.split('\n')[0]).toBe(`config OK: ${file} (3 ENIs, 1 flow logs)`);
  });
});
