/** The report page's stylesheet, inlined into the page (no external resource). */
export const REPORT_CSS = `
:root { --fg: #1f2937; --muted: #6b7280; --line: #e5e7eb; --bg: #f9fafb; --card: #ffffff; --bad: #dc2626; --good: #16a34a; --warn: #d97706; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
main { max-width: 1160px; margin: 0 auto; padding: 24px 28px 40px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 0 0 10px; }
h3 { font-size: 14px; margin: 0 0 8px; color: var(--muted); font-weight: 600; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 16px 18px; margin: 16px 0; }
.muted { color: var(--muted); }
.warn { color: var(--warn); }
.note { color: var(--muted); margin: 8px 0 0; }
code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
.loss.bad { border: 2px solid var(--bad); background: #fef2f2; }
.loss.bad h2 { color: var(--bad); }
.loss.ok { border-left: 5px solid var(--good); }
.loss p { margin: 0 0 10px; }
.cards { display: grid; grid-template-columns: repeat(6, 1fr); gap: 12px; background: none; border: 0; padding: 0; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 22px; font-weight: 650; font-variant-numeric: tabular-nums; margin: 2px 0; }
.card .sub { color: var(--muted); font-size: 12px; }
.card.bad { border-color: var(--bad); } .card.bad .value { color: var(--bad); }
.card.good .value { color: var(--good); }
.card.warn .value { color: var(--warn); }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; align-items: start; }
figure { margin: 0; }
figcaption { font-weight: 600; margin-bottom: 4px; }
svg.chart { width: 100%; height: auto; display: block; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .axis { stroke: #9ca3af; stroke-width: 1; }
svg .tick { fill: var(--muted); font-size: 10.5px; }
svg .hover { fill: transparent; }
svg .hover:hover { fill: rgba(37, 99, 235, .07); }
.legend { display: flex; gap: 14px; font-size: 12px; color: var(--muted); margin-top: 2px; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
table { width: 100%; border-collapse: collapse; font-size: 12.5px; }
th { text-align: left; color: var(--muted); font-weight: 600; border-bottom: 1px solid var(--line); padding: 5px 8px; white-space: nowrap; }
td { border-bottom: 1px solid #f1f2f4; padding: 4px 8px; position: relative; font-family: ui-monospace, "DejaVu Sans Mono", monospace; overflow-wrap: anywhere; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td .bar { position: absolute; right: 8px; bottom: 1px; height: 3px; background: #93c5fd; border-radius: 2px; }
[data-view^="reject"] td .bar, [data-view="top-rejected"] td .bar { background: #fca5a5; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
section > h3 { margin-top: 16px; }
p.empty { color: var(--muted); font-style: italic; margin: 0; }
footer { margin-top: 18px; font-size: 12px; }
@media (max-width: 900px) { .cards { grid-template-columns: repeat(3, 1fr); } .charts { grid-template-columns: 1fr; } }
@media print { body { background: #fff; } section { break-inside: avoid; } }
`;
