/**
 * Sizes and durations written with units. Config-time only; parsers return a value or a
 * reason and never throw.
 */
import type { Parsed } from './net-address';

/** Multipliers of the size suffixes a config may use; IEC (KiB) and SI (KB) are both exact. */
export const BYTE_UNITS: Readonly<Record<string, number>> = {
  B: 1,
  KB: 1000,
  MB: 1000 ** 2,
  GB: 1000 ** 3,
  TB: 1000 ** 4,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
};

const SIZE_RE = /^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)$/;

/** "64MiB", "1.5 GiB", "512KB", "4096B" to a whole number of bytes. */
export function parseByteSize(text: string): Parsed<number> {
  const m = SIZE_RE.exec(text.trim());
  const unit = m ? BYTE_UNITS[m[2]] : undefined;
  if (!m || unit === undefined) {
    return {
      ok: false,
      reason: `not a size: "${text}" (write a number of bytes or e.g. "64MiB"; units ${Object.keys(BYTE_UNITS).join(', ')})`,
    };
  }
  const bytes = Number(m[1]) * unit;
  if (!Number.isSafeInteger(bytes)) {
    return { ok: false, reason: `not a whole number of bytes: "${text}" is ${bytes}` };
  }
  return { ok: true, value: bytes };
}

/** "16 MiB" style text for documentation: the largest IEC unit that divides the value exactly. */
export function formatByteSize(bytes: number): string {
  for (const unit of ['TiB', 'GiB', 'MiB', 'KiB']) {
    const size = BYTE_UNITS[unit];
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`;
  }
  return `${bytes} B`;
}

const DURATION_UNIT_SEC: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600 };
const DURATION_RE = /^([0-9]+)\s*([a-z]+)$/;

/** "5s", "30s", "2m", "1h" to whole seconds (>= 1). */
export function parseDurationSec(text: string): Parsed<number> {
  const m = DURATION_RE.exec(text.trim());
  const unit = m ? DURATION_UNIT_SEC[m[2]] : undefined;
  if (!m || unit === undefined) {
    return { ok: false, reason: `not a duration: "${text}" (write a whole number with s, m or h, e.g. "30s")` };
  }
  const sec = Number(m[1]) * unit;
  if (!Number.isSafeInteger(sec) || sec < 1) {
    return { ok: false, reason: `must be at least 1 second, got "${text}"` };
  }
  return { ok: true, value: sec };
}
