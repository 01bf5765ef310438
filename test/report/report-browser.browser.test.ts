import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runQuery } from '../../src/cli/query-command';
import { runReport } from '../../src/cli/report-command';
import { formatUnixSeconds } from '../../src/query/text-table';
import { CHROMIUM, HeadlessChromium } from '../helpers/headless-chromium';
import { replayScenario, SCENARIO_MINUTES } from '../helpers/report-scenario';
import { scratchDir, TextSink } from '../helpers/replay-run';

/**
 * The report as a person sees it: Debian's Chromium opens the page written from records the
 * real pipeline made (test/helpers/report-scenario.ts), and the numbers read from the rendered
 * DOM are checked against `flowlog-agent query` on the same records, and the inter-ENI pairs
 * against the scenario's own address plan. FLOWLOG_REPORT_SCREENSHOT=PATH also copies the
 * screenshot there (the README's docs/report.png).
 */

/** What the page shows, read in the page. */
interface PageView {
  cards: Record<string, { text: string; visible: boolean }>;
  tables: Record<string, Array<Record<string, string>>>;
  lossText: string;
  lossBorder: string;
  firstSection: string;
  charts: Array<{ view: string; width: number; height: number; titles: string[]; marks: number }>;
}

const READ_PAGE = `(() => {
  const visible = (e) => { const r = e.getBoundingClientRect(); const s = getComputedStyle(e); return r.width > 0 && r.height > 0 && s.visibility === 'visible' && s.display !== 'none'; };
  const cards = {};
  for (const c of document.querySelectorAll('[data-metric]')) {
    const v = c.querySelector('.value') ?? c;
    cards[c.dataset.metric] = { text: v.innerText.trim(), visible: visible(v) };
  }
  const tables = {};
  for (const t of document.querySelectorAll('table[data-view]')) {
    tables[t.dataset.view] = [...t.querySelectorAll('tr[data-row]')].map((tr) => Object.fromEntries([...tr.querySelectorAll('td')].map((td) => [td.dataset.col, td.innerText.trim()])));
  }
  const loss = document.querySelector('[data-view="loss-summary"]');
  const charts = [...document.querySelectorAll('figure[data-view]')].map((f) => {
    const svg = f.querySelector('svg'); const r = svg.getBoundingClientRect();
    return { view: f.dataset.view, width: r.width, height: r.height, titles: [...svg.querySelectorAll('rect.hover > title')].map((t) => t.textContent), marks: svg.querySelectorAll('polyline, rect:not(.hover), circle').length };
  });
  return { cards, tables, lossText: loss.innerText, lossBorder: getComputedStyle(loss).borderTopColor, firstSection: document.querySelector('main > section').dataset.view, charts };
})()`;

const num = (text: string): number => Number(text.replace(/,/g, ''));

/** `query FILE --format json ...` rows. */
async function query(
  file: string,
  args: { where?: string; group?: string[]; top?: number; by?: 'bytes' | 'packets'; limit?: number },
) {
  let out = '';
  const code = await runQuery(
    { files: [file], format: 'json', top: args.top ?? 1000, ...args },
    { write: (s: string) => (out += s) },
    new TextSink(),
  );
  expect(code).toBe(0);
  return out.trim() === ''
    ? []
    : out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, string | number>);
}

const canRun = existsSync(CHROMIUM) || process.env.CI !== undefined;

describe.skipIf(!canRun)('flowlog-agent report in headless Chromium', () => {
  const dir = scratchDir('report-browser');
  let page: PageView;
  let file: string;
  let png: Buffer;
  let requests: string[];
  let browser: HeadlessChromium | undefined;

  beforeAll(async () => {
    file = (await replayScenario(dir)).file;
    const html = join(dir, 'report.html');
    const err = new TextSink();
    expect(await runReport({ files: [file], out: html }, { write: () => true }, err)).toBe(0);
    browser = HeadlessChromium.launch(join(dir, 'profile'));
    const sent = browser.collect('Network.requestWillBeSent');
    const tab = await browser.open(`file://${html}`, 1200, 900);
    page = await tab.evaluate<PageView>(READ_PAGE);
    png = await tab.screenshot();
    requests = sent.map((m) => String((m.params as { request: { url: string } }).request.url));
    writeFileSync(join(dir, 'report.png'), png);
    const copyTo = process.env.FLOWLOG_REPORT_SCREENSHOT;
    if (copyTo !== undefined) {
      mkdirSync(dirname(copyTo), { recursive: true });
      copyFileSync(join(dir, 'report.png'), copyTo);
    }
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads nothing but the page itself, and renders a full-width page with three charts', () => {
    expect(requests.every((u) => u.startsWith('file://'))).toBe(true);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(1200);
    expect(png.readUInt32BE(20)).toBeGreaterThan(1500);
    expect(page.charts.map((c) => c.view)).toEqual(['bytes-over-time', 'packets-over-time', 'action-over-time']);
    for (const c of page.charts) {
      expect(c.width).toBeGreaterThan(400);
      expect(c.height).toBeGreaterThan(100);
      expect(c.marks).toBeGreaterThan(0);
      expect(c.titles).toHaveLength(SCENARIO_MINUTES);
    }
  });

  it('shows the totals that query gives', async () => {
    const byStatus = Object.fromEntries(
      (await query(file, { group: ['log-status'] })).map((g) => [g['log-status'], g]),
    );
    const rejected = await query(file, { where: 'log-status=OK and action=REJECT', group: ['action'] });
    const enis = await query(file, { group: ['eni-id'] });
    for (const c of Object.values(page.cards)) expect(c.visible).toBe(true);
    const shown = (m: string) => num(page.cards[m].text);
    expect(shown('flows')).toBe(byStatus.OK.records);
    expect(shown('packets')).toBe(byStatus.OK.packets);
    expect(shown('bytes')).toBe(byStatus.OK.bytes);
    expect(shown('enis')).toBe(enis.length);
    expect(shown('rejected-flows')).toBe(rejected[0].records);
    expect(shown('skipdata')).toBe(byStatus.SKIPDATA.records);
    // The scenario's port scan overflowed the flow table: there is a loss to show.
    expect(shown('skipdata')).toBeGreaterThan(0);
  });

  it('puts the losses first, in red, every SKIPDATA record listed', async () => {
    expect(page.firstSection).toBe('loss-summary');
    expect(page.lossBorder).toBe('rgb(220, 38, 38)');
    const skips = await query(file, { where: 'log-status=SKIPDATA', limit: 1000 });
    const lost = skips.reduce((n, r) => n + num(String(r.packets)), 0);
    expect(page.lossText).toContain(`${lost.toLocaleString('en-US')} packets lost`);
    const rows = page.tables.losses.map((r) => [r['eni-id'], r.start, r.end, r.packets]);
    const expected = skips.map((r) => [
      r['eni-id'],
      formatUnixSeconds(String(r.start)),
      formatUnixSeconds(String(r.end)),
      num(String(r.packets)).toLocaleString('en-US'),
    ]);
    expect(rows.sort()).toEqual(expected.sort());
  });

  it('shows the top talkers and the rejected flows that query ranks', async () => {
    const cells = (view: string, fields: string[]) =>
      page.tables[view].map((r) => [...fields.map((f) => r[f]), num(r.packets), num(r.bytes)]);
    const talkerFields = ['srcaddr', 'dstaddr', 'dstport', 'protocol'];
    const talkers = await query(file, { where: 'log-status=OK', group: talkerFields, top: 10, by: 'bytes' });
    expect(cells('top-talkers', talkerFields)).toEqual(
      talkers.map((g) => [...talkerFields.map((f) => String(g[f])), g.packets, g.bytes]),
    );
    const rejectFields = ['eni-id', 'direction', 'srcaddr', 'srcport', 'dstaddr', 'dstport', 'protocol'];
    const rejected = await query(file, {
      where: 'log-status=OK and action=REJECT',
      group: rejectFields,
      top: 10,
      by: 'packets',
    });
    expect(cells('top-rejected', rejectFields)).toEqual(
      rejected.map((g) => [...rejectFields.map((f) => String(g[f])), g.packets, g.bytes]),
    );
    const bySource = await query(file, {
      where: 'log-status=OK and action=REJECT',
      group: ['srcaddr'],
      top: 5,
      by: 'packets',
    });
    expect(page.tables['reject-by-source'].map((r) => [r.srcaddr, num(r.records), num(r.packets)])).toEqual(
      bySource.map((g) => [g.srcaddr, g.records, g.packets]),
    );
  });

  it('shows per-ENI traffic as query sums it', async () => {
    const sums = async (where: string) =>
      Object.fromEntries((await query(file, { where, group: ['eni-id'] })).map((g) => [g['eni-id'], g]));
    const inbound = await sums('log-status=OK and direction=in');
    const outbound = await sums('log-status=OK and direction=out');
    const ok = await sums('log-status=OK');
    const nodata = await sums('log-status=NODATA');
    expect(page.tables['per-eni'].map((r) => r['eni-id']).sort()).toEqual([
      'eni-db',
      'eni-ops',
      'eni-web1',
      'eni-web2',
    ]);
    for (const r of page.tables['per-eni']) {
      const eni = r['eni-id'];
      expect([
        eni,
        num(r['in-bytes']),
        num(r['out-bytes']),
        num(r['in-packets']),
        num(r['out-packets']),
        num(r.flows),
        num(r.nodata),
      ]).toEqual([
        eni,
        inbound[eni]?.bytes ?? 0,
        outbound[eni]?.bytes ?? 0,
        inbound[eni]?.packets ?? 0,
        outbound[eni]?.packets ?? 0,
        ok[eni]?.records ?? 0,
        nodata[eni]?.records ?? 0,
      ]);
    }
  });

  it('shows the inter-ENI traffic of the scenario address plan, and the time series add up to the totals', async () => {
    // The oracle is the scenario's configuration (which ENI has which address), not the
    // addresses the report learns from the records.
    const plan: Record<string, string> = { '10.0.1.11': 'eni-web1', '10.0.1.12': 'eni-web2', '10.0.2.20': 'eni-db' };
    const expected: Array<[string, string, number, number]> = [];
    for (const [src, srcEni] of Object.entries(plan)) {
      for (const [dst, dstEni] of Object.entries(plan)) {
        if (src === dst) continue;
        const g = await query(file, {
          where: `log-status=OK and direction=out and eni-id=${srcEni} and dstaddr=${dst}`,
          group: ['eni-id'],
        });
        if (g.length > 0) expected.push([srcEni, dstEni, Number(g[0].packets), Number(g[0].bytes)]);
      }
    }
    expect(expected.length).toBe(4);
    expect(
      page.tables['inter-eni'].map((r) => [r['src-eni'], r['dst-eni'], num(r.packets), num(r.bytes)]).sort(),
    ).toEqual(expected.sort());

    const dir = Object.fromEntries(
      (await query(file, { where: 'log-status=OK', group: ['direction'] })).map((g) => [g.direction, g]),
    );
    const sumOf = (view: string, name: string) =>
      page.charts
        .find((c) => c.view === view)!
        .titles.reduce((n, t) => n + num(new RegExp(`${name} ([\\d,]+)`).exec(t)![1]), 0);
    expect(sumOf('bytes-over-time', 'in')).toBe(dir.in.bytes);
    expect(sumOf('bytes-over-time', 'out')).toBe(dir.out.bytes);
    expect(sumOf('packets-over-time', 'in')).toBe(dir.in.packets);
    const rejected = await query(file, { where: 'log-status=OK and action=REJECT', group: ['action'] });
    expect(sumOf('action-over-time', 'REJECT')).toBe(rejected[0].packets);
  });
});
