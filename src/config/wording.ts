/** Small phrasing functions shared by configuration messages. */
import { isMap, isScalar, isSeq } from 'yaml';

/** "a", "a or b", "a, b or c". */
export function joinOr(words: readonly string[]): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}

/** What a YAML node or plain value is, for "got ..." in messages. */
export function describeNode(value: unknown): string {
  if (isScalar(value)) return describeNode(value.value);
  if (isMap(value)) return 'a mapping';
  if (isSeq(value)) return 'a list';
  if (value === null || value === undefined) return 'nothing';
  if (typeof value === 'string') return `"${value}"`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  return typeof value;
}

/** Levenshtein distance, for "did you mean" suggestions (config-time only). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}

/** The candidate closest to `word` (case-insensitive), if close enough to be a likely typo. */
export function closestWord(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  // Up to 2 edits for longer words: more suggests unrelated words (cn-nanjing -> cn-beijing).
  const tolerance = Math.min(2, Math.max(1, Math.floor(word.length / 4)));
  return bestDistance <= tolerance ? best : undefined;
}
