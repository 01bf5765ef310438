/** Text helpers of the HTML report: escaping and the short forms of big numbers and times. */

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** `text` safe in HTML text and in double-quoted attributes (record values come from configs and the network). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

/** 1234567 -> "1.23 MB" (decimal units, as link speeds are counted); below 1000, "999 B". */
export function shortBytes(n: number): string {
  return shortUnits(n, ['B', 'kB', 'MB', 'GB', 'TB', 'PB'], ' ');
}

/** 1234567 -> "1.23M"; below 1000, the number itself. */
export function shortCount(n: number): string {
  return shortUnits(n, ['', 'k', 'M', 'G', 'T', 'P'], '');
}

function shortUnits(n: number, units: readonly string[], gap: string): string {
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  const digits = u === 0 ? 0 : Math.abs(v) < 10 ? 2 : Math.abs(v) < 100 ? 1 : 0;
  return `${v.toFixed(digits)}${gap}${units[u]}`.trimEnd();
}

/** Unix seconds -> "2024-05-01 10:00:00" (UTC). */
export function utcTime(sec: number): string {
  return new Date(sec * 1000).toISOString().slice(0, 19).replace('T', ' ');
}

/** Unix seconds -> "10:00" when `withDate` is false, else "05-01 10:00" (UTC). */
export function utcTick(sec: number, withDate: boolean): string {
  const iso = new Date(sec * 1000).toISOString();
  return withDate ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(11, 16);
}

/** 600 -> "10 min", 3600 -> "1 h", 86400 -> "1 day". */
export function durationText(sec: number): string {
  if (sec % 86400 === 0) return `${sec / 86400} day${sec === 86400 ? '' : 's'}`;
  if (sec % 3600 === 0) return `${sec / 3600} h`;
  if (sec % 60 === 0) return `${sec / 60} min`;
  return `${sec} s`;
}
