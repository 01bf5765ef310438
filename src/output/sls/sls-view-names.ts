import { createHash } from 'node:crypto';

/**
 * Names of the Log Service resources `sls setup` owns for a Logstore. Dashboards, alert rules
 * and saved searches are project-wide, so each name carries the Logstore's; a second setup finds
 * them by name, which is what makes it idempotent. Names keep to the service's rule for
 * dashboard names (lower-case letters, digits, '-' and '_', starting and ending with a letter
 * or digit), which a Logstore name already follows, and to a length limit per kind (saved
 * searches: 63 characters).
 */

/** Longest name the service accepts, per kind. */
export const NAME_MAX = { dashboard: 128, alert: 128, savedSearch: 63 } as const;

/**
 * `flowlog-<logstore>-<suffix>`, or, when that is longer than `max`, the Logstore name cut and
 * followed by 8 hex digits of its SHA-1, so two long Logstore names with the same beginning
 * still get different names.
 */
export function viewName(logstore: string, suffix: string, max: number): string {
  const full = `flowlog-${logstore}-${suffix}`;
  if (full.length <= max) return full;
  const hash = createHash('sha1').update(logstore).digest('hex').slice(0, 8);
  const room = max - 'fl--'.length - hash.length - 1 - suffix.length;
  const cut = logstore.slice(0, Math.max(1, room)).replace(/[-_]+$/, '');
  return `fl-${cut}-${hash}-${suffix}`;
}

/** `text` cut to `max` characters, an ellipsis marking the cut (display names). */
export function fitText(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
