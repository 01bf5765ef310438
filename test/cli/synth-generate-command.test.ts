import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import yargs from 'yargs';
import {
  defaultEniMac,
  defaultStartSec,
  generateCommand,
  runGenerate,
  type GenerateOptions,
} from '../../src/cli/generate-command';
import { tempDirForFile } from '../helpers/temp-dir';
import { captureFileType, tsharkFields } from '../helpers/tshark-fields';

const dir = tempDirForFile('synth-generate');
writeFileSync(join(dir, 'a-file'), ''); // a parent path that is a file: the capture cannot be created

class Text {
  text = '';
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

/** The command's defaults, as documented in its --help. */
function options(over: Partial<GenerateOptions>): GenerateOptions {
  return {
    out: join(dir, 'out.pcap'),
    packets: 10_000,
    flows: 100,
    seed: 1,
    durationSec: 60,
    eniIps: ['10.0.0.5'],
    eniMacs: [],
    eniIpv6s: [],
    ipv6Share: 0,
    format: 'pcap',
    snapLen: 262144,
    tsResolution: 'us',
    vlanIds: [],
    windowSec: 60,
    ...over,
  };
}

describe('generate command', () => {
  it('derives defaults by arithmetic', () => {
    expect(defaultEniMac('10.0.0.5')).toBe('00:16:3e:00:00:05');
    expect(defaultEniMac('172.16.200.33')).toBe('00:16:3e:10:c8:21');
    // 2023-11-14T22:13:20.500Z is 1700000000.5 s; minute boundary 1699999980; 90 s needs 2 minutes.
    expect(defaultStartSec(1_700_000_000_500, 90)).toBe(1_699_999_980 - 120);
    expect(defaultStartSec(1_700_000_000_500, 60)).toBe(1_699_999_980 - 60);
  });

  it('writes the default capture: 10,000 packets from ENI 10.0.0.5 / 00:16:3e:00:00:05, and expected totals', () => {
    const out = new Text();
    const err = new Text();
    const expected = join(dir, 'expected.jsonl');
    const code = runGenerate(options({ expectedPath: expected }), out, err, 1_700_000_000_500);
    expect([code, err.text]).toEqual([0, '']);
    expect(out.text).toContain('wrote 10000 packets of 100 flows');
    // 1699999920 is 80 s before 2023-11-14T22:13:20Z.
    expect(out.text).toContain('2023-11-14T22:12:00.000Z .. 2023-11-14T22:13:00.000Z');
    const rows = tsharkFields(join(dir, 'out.pcap'), ['frame.time_epoch', 'eth.src', 'eth.dst', 'ip.src', 'ip.dst']);
    expect(rows).toHaveLength(10_000);
    expect(
      rows.every(
        (r) => Number(r['frame.time_epoch']) >= 1_699_999_920 && Number(r['frame.time_epoch']) < 1_699_999_980,
      ),
    ).toBe(true);
    expect(rows.every((r) => (r['ip.src'] === '10.0.0.5') === (r['eth.src'] === '00:16:3e:00:00:05'))).toBe(true);
    expect(rows.every((r) => r['ip.src'] === '10.0.0.5' || r['ip.dst'] === '10.0.0.5')).toBe(true);
    const totals = readFileSync(expected, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { packets: number; windowStartSec: number });
    expect(totals.reduce((s, t) => s + t.packets, 0)).toBe(10_000);
    expect(new Set(totals.map((t) => t.windowStartSec))).toEqual(new Set([1_699_999_920]));
  });

  it('writes pcapng with nanoseconds, several ENIs and a snap length', () => {
    const path = join(dir, 'multi.pcapng');
    const code = runGenerate(
      options({
        out: path,
        packets: 200,
        flows: 20,
        start: 1_700_000_000,
        format: 'pcapng',
        tsResolution: 'ns',
        snapLen: 96,
        eniIps: ['10.0.0.5', '10.0.0.6'],
        eniMacs: ['02:00:00:00:00:01'],
        ipv6Share: 0.5,
        eniIpv6s: ['2408::5'],
      }),
      new Text(),
      new Text(),
    );
    expect(code).toBe(0);
    expect(captureFileType(path).type).toBe('pcapng');
    const rows = tsharkFields(path, ['frame.time_epoch', 'frame.cap_len', 'eth.src', 'ip.src', 'ipv6.src']);
    expect(rows).toHaveLength(200);
    expect(rows.every((r) => Number(r['frame.cap_len']) <= 96)).toBe(true);
    expect(rows.some((r) => !r['frame.time_epoch'].endsWith('000'))).toBe(true); // sub-microsecond digits kept
    const srcMacs = new Set(
      rows.map((r) => `${r['ip.src'] || r['ipv6.src']} ${r['eth.src']}`).filter((s) => !s.includes('ee:ff')),
    );
    expect(srcMacs).toEqual(
      new Set([
        '10.0.0.5 02:00:00:00:00:01',
        '2408::5 02:00:00:00:00:01',
        '10.0.0.6 00:16:3e:00:00:06',
        'fd00::a00:6 00:16:3e:00:00:06',
      ]),
    );
  });

  it('parses its command line through yargs (dashed options, repeated values)', async () => {
    const path = join(dir, 'cli.pcapng');
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      await yargs([
        'generate',
        '--out',
        path,
        '--packets',
        '40',
        '--flows',
        '4',
        '--start',
        '1700000000',
        '--duration',
        '10',
        '--eni-ip',
        '10.0.0.9',
        '--eni-ip',
        '10.0.0.10',
        '--eni-mac',
        '02:00:00:00:00:09',
        '--vlan',
        '5',
        '--format',
        'pcapng',
        '--ts-resolution',
        'ns',
      ])
        .command(generateCommand)
        .strict()
        .fail((msg, err) => {
          throw err ?? new Error(msg);
        })
        .parseAsync();
      expect(process.exitCode ?? 0).toBe(0);
    } finally {
      write.mockRestore();
      process.exitCode = undefined;
    }
    expect(captureFileType(path).type).toBe('pcapng');
    const rows = tsharkFields(path, ['frame.time_epoch', 'vlan.id', 'ip.src', 'ip.dst', 'eth.src']);
    expect(rows).toHaveLength(40);
    expect(
      rows.every(
        (r) =>
          r['vlan.id'] === '5' &&
          Number(r['frame.time_epoch']) >= 1_700_000_000 &&
          Number(r['frame.time_epoch']) < 1_700_000_010,
      ),
    ).toBe(true);
    const eniSide = new Set(
      rows.map((r) => (r['eth.src'] === 'ee:ff:ff:ff:ff:ff' ? r['ip.dst'] : `${r['ip.src']} ${r['eth.src']}`)),
    );
    expect([...eniSide].filter((x) => x.includes(' ')).sort()).toEqual([
      '10.0.0.10 00:16:3e:00:00:0a',
      '10.0.0.9 02:00:00:00:00:09',
    ]);
  });

  it.each([
    [{ flows: 20_000 }, 2, 'flows 20000 exceed packets 10000'],
    [{ eniIps: ['10.0.0'] }, 2, 'parse IPv4 address "10.0.0"'],
    [{ eniMacs: ['zz:00:00:00:00:00'] }, 2, 'parse MAC address'],
    [{ eniMacs: ['02:00:00:00:00:01', '02:00:00:00:00:02'] }, 2, 'more --eni-mac'],
    [{ out: join(dir, 'a-file', 'x.pcap') }, 1, 'write capture'],
  ] as const)('refuses %o with exit %i', (over, code, message) => {
    const err = new Text();
    expect(runGenerate(options(over as Partial<GenerateOptions>), new Text(), err)).toBe(code);
    expect(err.text).toContain(message);
    expect(err.text.startsWith('flowlog-agent generate: ')).toBe(true);
  });
});
