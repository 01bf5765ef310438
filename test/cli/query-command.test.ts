import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import yargs from 'yargs';
import { queryCommand, runQuery, type QueryArgs } from '../../src/cli/query-command';
import { renderTable } from '../../src/query/text-table';

/*
 * Fixtures (hand-written; line numbers as in the files):
 *   records-a.jsonl  a1 203.0.113.7:51000  -> 10.0.0.5:22     in   3 pkt    180 B REJECT w1
 *                    a2 10.0.0.5:44321     -> 198.51.100.9:443 out 10 pkt  4000 B ACCEPT w1
 *                    a3 198.51.100.9:443   -> 10.0.0.5:44321  in  12 pkt 15000 B ACCEPT w1
 *                    a4 eni-b NODATA (all '-')                                  w1
 *                    a5 203.0.113.7:51001  -> 10.0.0.5:22     in   2 pkt    120 B REJECT w2
 *                    a6 10.0.0.5:44321     -> 198.51.100.9:443 out  5 pkt  2000 B ACCEPT w2
 *                    a7 192.168.1.20:5353  -> 10.0.0.5:3389   in   4 pkt    240 B REJECT w2
 *   records-b.jsonl  b1 [2001:db8::10]:60000 -> [2001:db8:1::5]:22 in 1 pkt 80 B REJECT w1
 *                    b2 10.1.2.3:53        -> 10.0.0.5:40000  in   1 pkt    120 B ACCEPT w2
 *                    line 3: truncated JSON (malformed)
 *                    b4 10.0.0.5:40000     -> 10.1.2.3:53     out  1 pkt     70 B ACCEPT w2
 *                    line 5: blank (ignored); line 6: record missing fields (malformed)
 *                    b7 203.0.113.7:51002  -> 10.0.0.5:22     in   6 pkt    360 B REJECT w2
 *   w1 = [1714557600, 1714557660) = 2024-05-01 10:00:00..10:01:00 UTC, w2 = the next minute.
 */
const DIR = join(__dirname, '..', 'fixtures', 'query');
const A = join(DIR, 'records-a.jsonl');
const B = join(DIR, 'records-b.jsonl');
const TOTAL_RECORDS = 7 + 4; // well-formed lines in a + b

class Capture {
  text = '';
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

async function query(args: Partial<QueryArgs>): Promise<{ code: number; out: string; err: string }> {
  const out = new Capture();
  const err = new Capture();
  const code = await runQuery({ files: [A, B], ...args }, out, err);
  return { code, out: out.text, err: err.text };
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('query: listing records', () => {
  it('lists what was rejected to SSH, newest first, across files', async () => {
    const r = await query({ where: 'action=REJECT and dstport=22', format: 'json' });
    expect(r.code).toBe(0);
    // w2 (end 1714557720): a5, b7 -> later line first: b7, a5; then w1: a1, b1 -> b1, a1.
    expect(jsonLines(r.out).map((x) => x.srcport)).toEqual(['51002', '51001', '60000', '51000']);
    expect(r.err).toContain(`4 of ${TOTAL_RECORDS} records matched in 2 files`);
  });

  it('reports malformed lines once, naming the first', async () => {
    const r = await query({ where: 'action=REJECT' });
    expect(r.err).toContain(`skipped 2 malformed lines (first: ${B}:3: not JSON)`);
    expect(r.err.match(/malformed/g)).toHaveLength(1);
  });

  it('limits the listing (default 50, --limit N)', async () => {
    const r = await query({ limit: 2, format: 'json' });
    // Newest: end 1714557720 records in input order a5 a6 a7 b2 b4 b7; the two latest lines: b7, b4.
    expect(jsonLines(r.out).map((x) => x.srcport)).toEqual(['51002', '40000']);
    const all = await query({ format: 'json' });
    expect(jsonLines(all.out)).toHaveLength(TOTAL_RECORDS);
  });

  it('matches CIDRs on addresses of either family', async () => {
    const v4 = await query({ where: 'srcaddr in 10.0.0.0/8', format: 'json' });
    // a2, a6 (10.0.0.5), b2 (10.1.2.3), b4 (10.0.0.5)
    expect(jsonLines(v4.out)).toHaveLength(4);
    const v6 = await query({ where: 'srcaddr = 2001:DB8::/32', format: 'json' });
    expect(jsonLines(v6.out).map((x) => x.srcport)).toEqual(['60000']);
  });

  it('ranks single records with --top and no --group', async () => {
    const r = await query({ top: 1, by: 'bytes', format: 'json' });
    expect(jsonLines(r.out).map((x) => x.bytes)).toEqual(['15000']); // a3
  });

  it('prints an aligned table with readable times and counts', async () => {
    const r = await query({ where: 'srcport=44321 and end=1714557660' }); // a2 only
    const lines = r.out.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0].split(/\s{2,}/)).toEqual([
      'start (UTC)',
      'end (UTC)',
      'eni-id',
      'dir',
      'srcaddr',
      'srcport',
      'dstaddr',
      'dstport',
      'proto',
      'packets',
      'bytes',
      'action',
      'log-status',
    ]);
    expect(lines[2].split(/\s{2,}/)).toEqual([
      '2024-05-01 10:00:00',
      '2024-05-01 10:01:00',
      'eni-a',
      'out',
      '10.0.0.5',
      '44321',
      '198.51.100.9',
      '443',
      '6',
      '10',
      '4,000',
      'ACCEPT',
      'OK',
    ]);
    // Left-aligned cells start under their header; right-aligned ones end under it.
    expect(lines[2].indexOf('eni-a')).toBe(lines[0].indexOf('eni-id'));
    expect(lines[2].indexOf('4,000') + '4,000'.length).toBe(lines[0].indexOf('bytes') + 'bytes'.length);
  });
});

describe('query: grouping', () => {
  it('who was rejected most, by bytes', async () => {
    const r = await query({ where: 'action=REJECT', group: 'srcaddr,dstport', top: 2, by: 'bytes' });
    expect(r.code).toBe(0);
    // 203.0.113.7:22 = a1+a5+b7 = 180+120+360 = 660 B, 3+2+6 = 11 pkt, 3 records
    // 192.168.1.20:3389 = a7 = 240 B, 4 pkt; [2001:db8::10]:22 = b1 = 80 B (third, cut by --top 2)
    expect(r.out).toBe(
      [
        'srcaddr       dstport  records  packets  bytes',
        '------------  -------  -------  -------  -----',
        '203.0.113.7        22        3       11    660',
        '192.168.1.20     3389        1        4    240',
        '',
      ].join('\n'),
    );
    expect(r.err).toContain('3 groups');
  });

  it.each([
    // per srcaddr: 10.0.0.5 = a2+a6+b4 = 10+5+1 = 16 pkt, 4000+2000+70 = 6070 B
    //              198.51.100.9 = a3 = 12 pkt, 15000 B; 203.0.113.7 = 3+2+6 = 11 pkt, 660 B
    [
      'packets',
      [
        ['10.0.0.5', 16, 6070],
        ['198.51.100.9', 12, 15000],
        ['203.0.113.7', 11, 660],
      ],
    ],
    [
      'bytes',
      [
        ['198.51.100.9', 12, 15000],
        ['10.0.0.5', 16, 6070],
        ['203.0.113.7', 11, 660],
      ],
    ],
  ] as const)('talks most by %s', async (by, expected) => {
    const r = await query({ group: ['srcaddr'], top: 3, by, format: 'json' });
    expect(jsonLines(r.out).map((g) => [g.srcaddr, g.packets, g.bytes])).toEqual(expected);
  });

  it('defaults to the top 10 groups and counts NODATA records with zero traffic', async () => {
    const r = await query({ group: ['log-status'], format: 'json' });
    // OK: every record but a4; packets 3+10+12+2+5+4 + 1+1+1+6 = 45, bytes 21540 + 630 = 22170
    expect(jsonLines(r.out)).toEqual([
      { 'log-status': 'OK', records: 10, packets: 45, bytes: 22170 },
      { 'log-status': 'NODATA', records: 1, packets: 0, bytes: 0 },
    ]);
  });
});

describe('query: streaming a large file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flowlog-query-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('sums 20000 records of 10 talkers', async () => {
    const file = join(dir, 'big.jsonl');
    const lines: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const talker = i % 10;
      lines.push(
        JSON.stringify({
          version: '1',
          'vswitch-id': 'vsw-1',
          'vm-id': 'i-1',
          'vpc-id': 'vpc-1',
          'account-id': '1',
          'eni-id': 'eni-a',
          srcaddr: `10.0.0.${talker}`,
          srcport: '1000',
          dstaddr: '10.9.9.9',
          dstport: '80',
          protocol: '6',
          direction: 'out',
          packets: '2',
          bytes: String(100 * (talker + 1)),
          start: '1714557600',
          end: '1714557660',
          'log-status': 'OK',
          action: 'ACCEPT',
        }),
      );
    }
    writeFileSync(file, lines.join('\n') + '\n');
    const out = new Capture();
    const code = await runQuery({ files: [file], group: 'srcaddr', top: 2, format: 'json' }, out, new Capture());
    expect(code).toBe(0);
    // 2000 records per talker; talker 9 sends 1000 B each, talker 8 900 B.
    expect(jsonLines(out.text)).toEqual([
      { srcaddr: '10.0.0.9', records: 2000, packets: 4000, bytes: 2_000_000 },
      { srcaddr: '10.0.0.8', records: 2000, packets: 4000, bytes: 1_800_000 },
    ]);
  });
});

describe('query: refusals (exit 2, one line)', () => {
  it.each([
    [{ where: 'dstport=ssh' }, 'flowlog-agent query: read --where: dstport takes a number, got "ssh" at column 9'],
    [
      { files: ['/nonexistent/flows.jsonl'] },
      'flowlog-agent query: read records /nonexistent/flows.jsonl: no such file',
    ],
    [{ files: [DIR] }, `flowlog-agent query: read records ${DIR}: is a directory, not a file`],
    [{ group: 'srcaddr,colour' }, 'flowlog-agent query: --group: unknown field "colour"'],
    [{ top: 0, group: 'srcaddr' }, 'flowlog-agent query: --top: must be a whole number >= 1, got 0'],
    [{ files: [] }, 'flowlog-agent query: name at least one record file'],
  ] as [Partial<QueryArgs>, string][])('%j', async (args, message) => {
    const r = await query(args);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err.startsWith(message)).toBe(true);
    expect(r.err.trimEnd()).not.toContain('\n');
  });
});

describe('renderTable', () => {
  it('pads to the widest cell, right-aligns numbers, trims line ends', () => {
    const text = renderTable(
      [
        { header: 'name', align: 'left' },
        { header: 'n', align: 'right' },
        { header: 'note', align: 'left' },
      ],
      [
        ['a', '1', ''],
        ['longer', '1234', 'x'],
      ],
    );
    expect(text).toBe(['name       n  note', '------  ----  ----', 'a          1', 'longer  1234  x', ''].join('\n'));
  });
});

describe('queryCommand (yargs)', () => {
  it('parses files, --group, --top, --by and --format from a command line', async () => {
    let written = '';
    const outSpy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written += String(chunk);
      return true;
    });
    const errSpy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await yargs([
        'query',
        A,
        B,
        '--where',
        'action=REJECT',
        '--group',
        'srcaddr,dstport',
        '--top',
        '1',
        '--by',
        'packets',
        '--format',
        'json',
      ])
        .command(queryCommand)
        .strict()
        .parseAsync();
    } finally {
      outSpy.mockRestore();
      errSpy.mockRestore();
    }
    expect(process.exitCode).toBe(0);
    process.exitCode = undefined;
    // 203.0.113.7:22: 3+2+6 = 11 packets, 180+120+360 = 660 bytes
    expect(jsonLines(written)).toEqual([
      { srcaddr: '203.0.113.7', dstport: '22', records: 3, packets: 11, bytes: 660 },
    ]);
  });
});
