import { RECORD_FIELDS } from '../../flow/record';

/** Record fields indexed as numbers (long), so ranges and sums work; every other field is text. */
export const LONG_INDEX_FIELDS: readonly string[] = [
  'srcport',
  'dstport',
  'protocol',
  'packets',
  'bytes',
  'start',
  'end',
];

/** The console's default delimiters for text keys. */
const TEXT_TOKENS = [
  ',',
  ' ',
  "'",
  '"',
  ';',
  '=',
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  '?',
  '@',
  '&',
  '<',
  '>',
  '/',
  ':',
  '\n',
  '\t',
  '\r',
];

export interface IndexKey {
  type: string;
  token?: string[];
  caseSensitive?: boolean;
  chn?: boolean;
  doc_value?: boolean;
  [other: string]: unknown;
}

/** A Logstore index as CreateIndex / GetIndex carry it (other attributes kept as they come). */
export interface LogstoreIndex {
  keys?: Record<string, IndexKey>;
  line?: unknown;
  [other: string]: unknown;
}

/** The index a flow log wants: a key per record field (and extra field), analytics enabled. */
export function flowLogIndex(extraFields: readonly string[]): LogstoreIndex {
  const keys: Record<string, IndexKey> = {};
  for (const field of [...RECORD_FIELDS, ...extraFields]) {
    keys[field] = LONG_INDEX_FIELDS.includes(field)
      ? { type: 'long', doc_value: true }
      : { type: 'text', token: [...TEXT_TOKENS], caseSensitive: false, chn: false, doc_value: true };
  }
  return { keys };
}

/** How an existing index compares with the wanted one. */
export interface IndexComparison {
  /** Wanted keys the index lacks; adding them changes nothing already indexed. */
  missing: string[];
  /** Keys the index has with another type; left alone (retyping re-indexes the user's data). */
  mistyped: Array<{ key: string; has: string; wants: string }>;
  /** The existing index with the missing keys added; equal to it when nothing is missing. */
  merged: LogstoreIndex;
}

export function compareIndex(existing: LogstoreIndex, wanted: LogstoreIndex): IndexComparison {
  const have = existing.keys ?? {};
  const missing: string[] = [];
  const mistyped: IndexComparison['mistyped'] = [];
  const mergedKeys: Record<string, IndexKey> = { ...have };
  for (const [key, spec] of Object.entries(wanted.keys ?? {})) {
    const cur = have[key];
    if (cur === undefined) {
      missing.push(key);
      mergedKeys[key] = spec;
    } else if (cur.type !== spec.type) {
      mistyped.push({ key, has: String(cur.type), wants: spec.type });
    }
  }
  return { missing, mistyped, merged: { ...existing, keys: mergedKeys } };
}
