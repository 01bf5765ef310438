/**
 * Plain-text tables for terminals: a header, a rule of dashes, one line per row, columns
 * separated by two spaces, numbers right-aligned. No colours, no box characters, so the output
 * pastes into tickets and greps cleanly.
 */

export interface TableColumn {
  header: string;
  /** 'right' for numbers so digits line up. */
  align: 'left' | 'right';
}

const GAP = '  ';

/**
 * Renders `rows` (each with one cell per column) as lines ending in '\n'. Column width is the
 * widest of header and cells, in UTF-16 code units (record values are ASCII). Trailing spaces
 * are trimmed so the last column never pads.
 */
export function renderTable(columns: readonly TableColumn[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((c) => c.header.length);
  for (const row of rows) {
    for (let i = 0; i < columns.length; i++) widths[i] = Math.max(widths[i], (row[i] ?? '').length);
  }
  const line = (cells: readonly string[]) =>
    columns
      .map((c, i) => {
        const cell = cells[i] ?? '';
        return c.align === 'right' ? cell.padStart(widths[i]) : cell.padEnd(widths[i]);
      })
      .join(GAP)
      .trimEnd() + '\n';
  let text = line(columns.map((c) => c.header));
  text += widths.map((w) => '-'.repeat(w)).join(GAP) + '\n';
  for (const row of rows) text += line(row);
  return text;
}

/** 1234567 -> "1,234,567": big byte counts are read at a glance. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Unix seconds (as written in a record) -> "2024-05-01 10:00:00" UTC; '-' and garbage unchanged. */
export function formatUnixSeconds(text: string): string {
  if (!/^\d+$/.test(text)) return text;
  return new Date(Number(text) * 1000).toISOString().slice(0, 19).replace('T', ' ');
}
