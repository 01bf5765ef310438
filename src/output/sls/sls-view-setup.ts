import { flowLogAlerts, flowLogSavedSearches, type AlertTarget } from './sls-alert-rules';
import type { SlsApi } from './sls-api';
import { flowLogDashboards } from './sls-dashboards';
import {
  classifySlsOutcome,
  managementCallSucceeded as succeeded,
  outcomeErrorCode as errorCode,
  type SlsCallOutcome,
} from './sls-outcome';

/** Text output of the setup (process.stdout / stderr, or collectors in tests). */
export interface SetupOut {
  write(text: string): unknown;
}

/** One resource `sls setup` owns: where it lives and what it must be. */
interface OwnedResource {
  /** "dashboard", "alert", "saved search": the first word of its output line. */
  kind: string;
  /** Collection path: /dashboards, /alerts, /savedsearches. */
  collection: string;
  name: string;
  /** The create body; `update` is the body of the update (the alert API takes no name there). */
  create: Record<string, unknown>;
  update: Record<string, unknown>;
}

/** The resources of one Logstore: the four dashboards, two alert rules and two saved searches. */
export function ownedResources(t: AlertTarget): OwnedResource[] {
  const dashboards = flowLogDashboards(t.logstore).map((d): OwnedResource => ({
    kind: 'dashboard',
    collection: '/dashboards',
    name: d.dashboardName,
    create: { ...d },
    update: { ...d },
  }));
  const alerts = flowLogAlerts(t).map((a): OwnedResource => {
    const { name, ...update } = a;
    return { kind: 'alert', collection: '/alerts', name, create: { ...a }, update };
  });
  const searches = flowLogSavedSearches(t.logstore).map((s): OwnedResource => ({
    kind: 'saved search',
    collection: '/savedsearches',
    name: s.savedsearchName,
    create: { ...s },
    update: { ...s },
  }));
  return [...dashboards, ...alerts, ...searches];
}

/**
 * Creates the views (dashboards, alert rules, saved searches) of one Logstore, or brings them
 * back to what this agent defines: each is read (GET), created when the service has none by
 * that name (404), updated in place (PUT) when any field this agent sets differs, and left
 * alone when none does. Fields the service or a person added beside ours (an alert's status, a
 * chart option) are kept; a chart added by hand, a changed query or a moved chart is replaced.
 * Prints one line per resource; returns false when any could not be set up (each failure one
 * line on `err`, "verb what: cause").
 */
export async function setUpViews(api: SlsApi, t: AlertTarget, out: SetupOut, err: SetupOut): Promise<boolean> {
  let ok = true;
  for (const r of ownedResources(t)) {
    const where = `${t.project}/${r.name}`;
    const fail = (verb: string, outcome: SlsCallOutcome): void => {
      const c = classifySlsOutcome(outcome, `sls setup: ${verb} ${r.kind} ${where}`).result;
      err.write(`${c.kind === 'ok' ? `sls setup: ${verb} ${r.kind} ${where}: unexpected answer` : c.reason}\n`);
      ok = false;
    };
    const path = `${r.collection}/${r.name}`;
    const got = await api.requestJson('GET', t.project, path);
    if (succeeded(got)) {
      const diff = firstDifference(r.update, got.resolved, '');
      if (diff === undefined) {
        out.write(`${r.kind} ${where}: up to date\n`);
        continue;
      }
      const put = await api.requestJson('PUT', t.project, path, r.update);
      if (succeeded(put)) out.write(`${r.kind} ${where}: updated (${diff} differed)\n`);
      else fail('update', put);
      continue;
    }
    if (got.probe.statusCode !== 404) {
      fail('get', got);
      continue;
    }
    const created = await api.requestJson('POST', t.project, r.collection, r.create);
    if (succeeded(created)) {
      out.write(`${r.kind} ${where}: created\n`);
      continue;
    }
    // Created by someone else between our GET and POST: update it instead.
    if (/AlreadyExist/.test(errorCode(created) ?? '')) {
      const put = await api.requestJson('PUT', t.project, path, r.update);
      if (succeeded(put)) out.write(`${r.kind} ${where}: updated\n`);
      else fail('update', put);
      continue;
    }
    fail('create', created);
  }
  return ok;
}

/**
 * The first place where `got` lacks what `want` says, as a path ("charts[2].search.query"),
 * or undefined when every field of `want` is in `got` with the same value. Arrays must match
 * in length and element by element; objects may carry more keys than `want`.
 */
export function firstDifference(want: unknown, got: unknown, path: string): string | undefined {
  const here = path === '' ? '(the whole body)' : path;
  if (Array.isArray(want)) {
    if (!Array.isArray(got) || got.length !== want.length) return here;
    for (let i = 0; i < want.length; i++) {
      const d = firstDifference(want[i], got[i], `${path}[${i}]`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  if (typeof want === 'object' && want !== null) {
    if (typeof got !== 'object' || got === null || Array.isArray(got)) return here;
    for (const [k, v] of Object.entries(want)) {
      const d = firstDifference(v, (got as Record<string, unknown>)[k], path === '' ? k : `${path}.${k}`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  return want === got ? undefined : here;
}
