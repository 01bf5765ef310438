/**
 * The report as one self-contained HTML page: inline CSS and SVG, no script, no external
 * resource, so it opens offline and can be attached to an incident note. Numbers are printed
 * in full (1,234,567) where a reader compares them, with short forms beside; every element a
 * test or a script reads carries data-metric / data-view / data-col attributes.
 */
import type { GroupTotals } from '../query/record-ranking';
import { formatCount } from '../query/text-table';
import {
  TOP_REJECTED_FIELDS,
  TOP_TALKER_FIELDS,
  type EniRow,
  type FlowReport,
  type LossRow,
  type PairRow,
} from './flow-report';
import { escapeHtml, durationText, shortBytes, shortCount, utcTime } from './report-text';
import { legend, timeChart, type ChartSeries } from './svg-charts';
import { REPORT_CSS } from './report-style';

/** Where the records came from, for the page's header. */
export interface ReportSource {
  /** e.g. "records.jsonl" or "Logstore my-project/flows". */
  description: string;
  /** Lines skipped because they were not records, and the first of them. */
  malformedLines: number;
  firstMalformed?: string;
  /** When the page was written (Unix seconds). */
  generatedSec: number;
}

const COLORS = { in: '#2563eb', out: '#0d9488', accept: '#16a34a', reject: '#dc2626' };

interface Column<T> {
  header: string;
  col: string;
  text: (row: T) => string;
  numeric?: boolean;
  /** Share of the largest value, drawn as a bar behind the text. */
  share?: (row: T) => number;
}

function table<T>(view: string, columns: readonly Column<T>[], rows: readonly T[], empty: string): string {
  if (rows.length === 0) return `<p class="empty" data-view="${view}">${escapeHtml(empty)}</p>`;
  const head = columns.map((c) => `<th class="${c.numeric ? 'num' : ''}">${escapeHtml(c.header)}</th>`).join('');
  const body = rows
    .map((r) => {
      const cells = columns.map((c) => {
        const text = escapeHtml(c.text(r));
        const share = c.share?.(r);
        const bar =
          share === undefined
            ? ''
            : `<span class="bar" style="width:${(Math.max(0, Math.min(1, share)) * 100).toFixed(1)}%"></span>`;
        return `<td class="${c.numeric ? 'num' : ''}" data-col="${c.col}">${bar}${text}</td>`;
      });
      return `<tr data-row>${cells.join('')}</tr>`;
    })
    .join('');
  return `<table data-view="${view}"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function card(metric: string, label: string, value: number, sub: string, tone = ''): string {
  return `<div class="card ${tone}" data-metric="${metric}"><div class="label">${escapeHtml(label)}</div><div class="value">${formatCount(value)}</div><div class="sub">${escapeHtml(sub)}</div></div>`;
}

const count = (n: number): string => formatCount(n);
const maybe = (n: number | null): string => (n === null ? 'not counted' : formatCount(n));

function lossSection(r: FlowReport): string {
  if (r.skipdata === 0) {
    return `<section class="loss ok" data-view="loss-summary"><h2>Loss</h2><p>No loss: no SKIPDATA record in these records. Every packet the agent saw is in the flows below.</p></section>`;
  }
  const enis = new Set(r.losses.map((l) => l.eniId)).size;
  const lost = r.losses.reduce((n, l) => n + (l.packets ?? 0), 0);
  const uncounted = r.losses.filter((l) => l.packets === null).length;
  const summary =
    `${count(r.skipdata)} window${r.skipdata === 1 ? '' : 's'} with SKIPDATA on ${count(enis)} ENI${enis === 1 ? '' : 's'}: ` +
    `${count(lost)} packets lost` +
    (uncounted > 0
      ? `, and ${count(uncounted)} window${uncounted === 1 ? '' : 's'} not captured at all (agent down or clock step: loss not counted)`
      : '') +
    '. The traffic of these windows is incomplete; the agent metrics say why.';
  const columns: Column<LossRow>[] = [
    { header: 'ENI', col: 'eni-id', text: (l) => l.eniId },
    { header: 'VM', col: 'vm-id', text: (l) => l.vmId },
    { header: 'window start (UTC)', col: 'start', text: (l) => utcTime(l.startSec) },
    { header: 'window end (UTC)', col: 'end', text: (l) => utcTime(l.endSec) },
    { header: 'packets lost', col: 'packets', text: (l) => maybe(l.packets), numeric: true },
    { header: 'bytes lost', col: 'bytes', text: (l) => (l.bytes === null ? '-' : formatCount(l.bytes)), numeric: true },
  ];
  const more =
    r.lossRowsLeftOut > 0
      ? `<p class="note">${count(r.lossRowsLeftOut)} more SKIPDATA records are not listed.</p>`
      : '';
  return `<section class="loss bad" data-view="loss-summary"><h2>Loss: ${count(r.skipdata)} SKIPDATA</h2><p data-metric="loss-summary">${escapeHtml(summary)}</p>${table('losses', columns, r.losses, '')}${more}</section>`;
}

function groupColumns(
  fields: readonly string[],
  measure: 'bytes' | 'packets',
  rows: readonly GroupTotals[],
): Column<GroupTotals>[] {
  const max = Math.max(1, ...rows.map((g) => g[measure]));
  return [
    ...fields.map((f, i): Column<GroupTotals> => ({
      header: f,
      col: f,
      text: (g) => g.values[i],
      numeric: f.endsWith('port') || f === 'protocol',
    })),
    { header: 'records', col: 'records', text: (g) => count(g.records), numeric: true },
    {
      header: 'packets',
      col: 'packets',
      text: (g) => count(g.packets),
      numeric: true,
      share: measure === 'packets' ? (g) => g.packets / max : undefined,
    },
    {
      header: 'bytes',
      col: 'bytes',
      text: (g) => count(g.bytes),
      numeric: true,
      share: measure === 'bytes' ? (g) => g.bytes / max : undefined,
    },
  ];
}

function rejectColumns(field: string, rows: readonly GroupTotals[]): Column<GroupTotals>[] {
  const max = Math.max(1, ...rows.map((g) => g.packets));
  return [
    { header: field, col: field, text: (g) => g.values[0], numeric: field === 'dstport' },
    { header: 'flows', col: 'records', text: (g) => count(g.records), numeric: true },
    { header: 'packets', col: 'packets', text: (g) => count(g.packets), numeric: true, share: (g) => g.packets / max },
  ];
}

function chartBlock(
  title: string,
  series: ChartSeries[],
  r: FlowReport,
  kind: 'lines' | 'stacked',
  unit: 'bytes' | 'packets',
  view: string,
): string {
  const times = r.series.map((b) => b.startSec);
  const svg = timeChart(series, { kind, times, bucketSec: r.bucketSec, unit, label: title });
  return `<figure data-view="${view}"><figcaption>${escapeHtml(title)} <span class="muted">per ${durationText(r.bucketSec)}</span></figcaption>${svg}${legend(series)}</figure>`;
}

/** The whole page. */
export function renderReportHtml(r: FlowReport, source: ReportSource): string {
  const range =
    r.firstSec === null || r.lastSec === null ? 'no records' : `${utcTime(r.firstSec)} to ${utcTime(r.lastSec)} UTC`;
  const malformed =
    source.malformedLines > 0
      ? `<p class="warn">${count(source.malformedLines)} line${source.malformedLines === 1 ? ' was' : 's were'} not flow-log records and left out (first: ${escapeHtml(source.firstMalformed ?? '')}).</p>`
      : '';
  const maxEni = Math.max(1, ...r.enis.map((e) => e.inBytes + e.outBytes));
  const eniColumns: Column<EniRow>[] = [
    { header: 'ENI', col: 'eni-id', text: (e) => e.eniId },
    { header: 'VM', col: 'vm-id', text: (e) => e.vmId },
    { header: 'VPC', col: 'vpc-id', text: (e) => e.vpcId },
    { header: 'bytes in', col: 'in-bytes', text: (e) => count(e.inBytes), numeric: true },
    {
      header: 'bytes out',
      col: 'out-bytes',
      text: (e) => count(e.outBytes),
      numeric: true,
      share: (e) => (e.inBytes + e.outBytes) / maxEni,
    },
    { header: 'packets in', col: 'in-packets', text: (e) => count(e.inPackets), numeric: true },
    { header: 'packets out', col: 'out-packets', text: (e) => count(e.outPackets), numeric: true },
    { header: 'flows', col: 'flows', text: (e) => count(e.flows), numeric: true },
    { header: 'REJECT flows', col: 'rejected-flows', text: (e) => count(e.rejectedFlows), numeric: true },
    { header: 'NODATA', col: 'nodata', text: (e) => count(e.nodataWindows), numeric: true },
    { header: 'SKIPDATA', col: 'skipdata', text: (e) => count(e.lossWindows), numeric: true },
  ];
  const maxPair = Math.max(1, ...r.pairs.map((p) => p.bytes));
  const pairColumns: Column<PairRow>[] = [
    { header: 'VPC', col: 'vpc-id', text: (p) => p.vpcId },
    { header: 'from ENI', col: 'src-eni', text: (p) => p.srcEni },
    { header: 'from VM', col: 'src-vm', text: (p) => p.srcVm },
    { header: 'to ENI', col: 'dst-eni', text: (p) => p.dstEni },
    { header: 'to VM', col: 'dst-vm', text: (p) => p.dstVm },
    { header: 'packets', col: 'packets', text: (p) => count(p.packets), numeric: true },
    { header: 'bytes', col: 'bytes', text: (p) => count(p.bytes), numeric: true, share: (p) => p.bytes / maxPair },
  ];
  const traffic = r.series;
  const body = [
    `<header><h1>Flow log report</h1><p class="muted">${escapeHtml(source.description)} · ${escapeHtml(range)} · ${count(r.records)} records · written ${utcTime(source.generatedSec)} UTC by flowlog-agent</p>${malformed}</header>`,
    lossSection(r),
    `<section class="cards">${[
      card('flows', 'Flows', r.flows, 'OK records'),
      card('packets', 'Packets', r.packets, shortCount(r.packets)),
      card('bytes', 'Bytes', r.bytes, shortBytes(r.bytes)),
      card('enis', 'ENIs', r.enis.length, `${count(r.nodata)} NODATA windows`),
      card(
        'rejected-flows',
        'REJECT flows',
        r.rejectedFlows,
        `${count(r.rejectedPackets)} packets`,
        r.rejectedFlows > 0 ? 'warn' : '',
      ),
      card(
        'skipdata',
        'SKIPDATA',
        r.skipdata,
        r.skipdata > 0 ? 'windows with loss' : 'no loss',
        r.skipdata > 0 ? 'bad' : 'good',
      ),
    ].join('')}</section>`,
    `<section><h2>Traffic over time</h2><div class="charts">${chartBlock(
      'Bytes by direction',
      [
        { name: 'in', color: COLORS.in, values: traffic.map((b) => b.inBytes) },
        { name: 'out', color: COLORS.out, values: traffic.map((b) => b.outBytes) },
      ],
      r,
      'lines',
      'bytes',
      'bytes-over-time',
    )}${chartBlock(
      'Packets by direction',
      [
        { name: 'in', color: COLORS.in, values: traffic.map((b) => b.inPackets) },
        { name: 'out', color: COLORS.out, values: traffic.map((b) => b.outPackets) },
      ],
      r,
      'lines',
      'packets',
      'packets-over-time',
    )}</div></section>`,
    `<section><h2>ACCEPT and REJECT</h2><div class="charts">${chartBlock(
      'Packets by action',
      [
        { name: 'ACCEPT', color: COLORS.accept, values: traffic.map((b) => b.acceptPackets) },
        { name: 'REJECT', color: COLORS.reject, values: traffic.map((b) => b.rejectPackets) },
      ],
      r,
      'stacked',
      'packets',
      'action-over-time',
    )}<div class="pair"><div><h3>REJECT by source</h3>${table('reject-by-source', rejectColumns('srcaddr', r.rejectBySource), r.rejectBySource, 'No REJECT record.')}</div><div><h3>REJECT by destination port</h3>${table('reject-by-port', rejectColumns('dstport', r.rejectByPort), r.rejectByPort, 'No REJECT record.')}</div></div></div><h3>Top rejected flows</h3>${table('top-rejected', groupColumns(TOP_REJECTED_FIELDS, 'packets', r.topRejected), r.topRejected, 'No REJECT record.')}</section>`,
    `<section><h2>Top talkers</h2>${table('top-talkers', groupColumns(TOP_TALKER_FIELDS, 'bytes', r.topTalkers), r.topTalkers, 'No traffic.')}</section>`,
    `<section><h2>Traffic per ENI</h2>${table('per-eni', eniColumns, r.enis, 'No ENI.')}</section>`,
    `<section><h2>Between ENIs of one VPC</h2><p class="muted">Sent traffic whose destination is an address another ENI of the same VPC used in these records, as the sender recorded it.</p>${table('inter-eni', pairColumns, r.pairs, 'No traffic between ENIs of one VPC in these records.')}</section>`,
    `<footer class="muted">Traffic counts OK records only; times are each record's start, in UTC. The same views, as Log Service dashboards: <code>flowlog-agent sls setup</code>.</footer>`,
  ].join('\n');
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Flow log report: ${escapeHtml(range)}</title><style>${REPORT_CSS}</style></head>\n<body><main>\n${body}\n</main></body></html>\n`;
}
