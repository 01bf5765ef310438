/**
 * The report's own chart renderer: time series as inline SVG strings, drawn when the report is
 * written, so the page needs no script, no network and no charting package (README, "The
 * report"), prints as it shows, and every number it plots is also in the page's text. Two
 * kinds: lines with a light area under them (traffic in and out), and stacked bars (ACCEPT and
 * REJECT). Each bucket carries a hover rectangle whose <title> lists its exact values.
 */
import { escapeHtml, shortBytes, shortCount, utcTick, utcTime } from './report-text';

export interface ChartSeries {
  name: string;
  /** A CSS colour. */
  color: string;
  /** One value per bucket. */
  values: readonly number[];
}

export interface TimeChartOptions {
  kind: 'lines' | 'stacked';
  /** Bucket start times, Unix seconds, one per value. */
  times: readonly number[];
  bucketSec: number;
  unit: 'bytes' | 'packets';
  /** Accessible name of the chart. */
  label: string;
  width?: number;
  height?: number;
}

const MARGIN = { left: 62, right: 14, top: 10, bottom: 26 };
const Y_TICKS = 4;
const X_TICKS = 7;

/** 1, 2 or 5 times a power of ten, the smallest at or above `v`. */
function niceStep(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= v) ?? 10 * p;
}

/** A tick label: the short form without trailing zeros ("3.00 MB" -> "3 MB", "2.50k" -> "2.5k"). */
const fmt = (n: number, unit: 'bytes' | 'packets'): string =>
  (unit === 'bytes' ? shortBytes(n) : shortCount(n)).replace(/(\.\d*?)0+(?=\D|$)/, '$1').replace(/\.(?=\D|$)/, '');
const r1 = (n: number): string => (Math.round(n * 10) / 10).toString();

/** An SVG time chart of `series` (all as long as `o.times`). */
export function timeChart(series: readonly ChartSeries[], o: TimeChartOptions): string {
  const width = o.width ?? 560;
  const height = o.height ?? 200;
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const n = o.times.length;
  const totals = o.times.map((_, i) =>
    o.kind === 'stacked' ? series.reduce((s, x) => s + x.values[i], 0) : Math.max(0, ...series.map((x) => x.values[i])),
  );
  const step = niceStep(Math.max(0, ...totals) / Y_TICKS);
  const yMax = step * Math.max(1, Math.ceil(Math.max(0, ...totals) / step));
  const slot = n > 0 ? plotW / n : plotW;
  const x = (i: number) => MARGIN.left + slot * (i + 0.5);
  const y = (v: number) => MARGIN.top + plotH - (v / yMax) * plotH;
  const parts: string[] = [];

  for (let t = 0; t <= yMax / step; t++) {
    const v = t * step;
    parts.push(
      `<line class="grid" x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${r1(y(v))}" y2="${r1(y(v))}"/>`,
    );
    parts.push(
      `<text class="tick" x="${MARGIN.left - 6}" y="${r1(y(v) + 4)}" text-anchor="end">${escapeHtml(fmt(v, o.unit))}</text>`,
    );
  }
  const withDate = n > 0 && o.times[n - 1] - o.times[0] >= 86400;
  const every = Math.max(1, Math.ceil(n / X_TICKS));
  for (let i = 0; i < n; i += every) {
    parts.push(
      `<text class="tick" x="${r1(x(i))}" y="${height - 8}" text-anchor="middle">${utcTick(o.times[i], withDate)}</text>`,
    );
  }

  if (o.kind === 'stacked') {
    const barW = Math.max(1, Math.min(60, slot * 0.78));
    for (let i = 0; i < n; i++) {
      let base = 0;
      for (const s of series) {
        const v = s.values[i];
        if (v > 0)
          parts.push(
            `<rect x="${r1(x(i) - barW / 2)}" y="${r1(y(base + v))}" width="${r1(barW)}" height="${r1(y(base) - y(base + v))}" fill="${s.color}"/>`,
          );
        base += v;
      }
    }
  } else {
    for (const s of series) {
      const pts = s.values.map((v, i) => `${r1(x(i))},${r1(y(v))}`);
      if (n === 1) {
        // One bucket is no line: the series as bars side by side.
        const w = Math.min(60, slot / (series.length + 1));
        const left = x(0) - (w * series.length) / 2 + w * series.indexOf(s);
        parts.push(
          `<rect x="${r1(left)}" y="${r1(y(s.values[0]))}" width="${r1(w * 0.9)}" height="${r1(y(0) - y(s.values[0]))}" fill="${s.color}"/>`,
        );
      } else {
        parts.push(
          `<polygon points="${r1(x(0))},${r1(y(0))} ${pts.join(' ')} ${r1(x(n - 1))},${r1(y(0))}" fill="${s.color}" fill-opacity="0.12"/>`,
        );
        parts.push(
          `<polyline points="${pts.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2" stroke-linejoin="round"/>`,
        );
      }
    }
  }
  parts.push(`<line class="axis" x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${r1(y(0))}" y2="${r1(y(0))}"/>`);
  for (let i = 0; i < n; i++) {
    const values = series
      .map((s) => `${s.name} ${s.values[i].toLocaleString('en-US')}${o.unit === 'bytes' ? ' B' : ''}`)
      .join(', ');
    const title = `${utcTime(o.times[i])} UTC, ${o.bucketSec / 60} min: ${values}`;
    parts.push(
      `<rect class="hover" x="${r1(x(i) - slot / 2)}" y="${MARGIN.top}" width="${r1(slot)}" height="${plotH}"><title>${escapeHtml(title)}</title></rect>`,
    );
  }
  return `<svg class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeHtml(o.label)}">${parts.join('')}</svg>`;
}

/** The legend of a chart, as HTML. */
export function legend(series: readonly ChartSeries[]): string {
  return `<div class="legend">${series.map((s) => `<span><i style="background:${s.color}"></i>${escapeHtml(s.name)}</span>`).join('')}</div>`;
}
