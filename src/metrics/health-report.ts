/**
 * The judgement behind /healthz and `status`: unhealthy, with one problem per cause, whenever the
 * agent is blind or losing: a capture device down, an ENI without its device, discovery failing or
 * finding nothing a flow log needs, a flow log matching no ENI (each past a short grace, so a
 * device being created or a metadata blip does not flap), a sink failing for longer than
 * `delivery.unhealthyAfterSec`, a spool that cannot write or is evicting. Pure function of the
 * source and the clock, so it is tested without a server.
 */
import type { HealthSource } from './metrics-source';

/** How long a blind state (watched conditions) lasts before it is a problem. */
export const BLIND_GRACE_MS = 10_000;

/** Default of delivery.unhealthyAfterSec, when a source does not say. */
export const DEFAULT_UNHEALTHY_AFTER_SEC = 60;

/**
 * Every problem code: what it means and what to do. The README's table is checked against it
 * (test/readme.test.ts).
 */
export const HEALTH_PROBLEM_CODES = {
  capture_device_down: {
    meaning: 'A device the agent captures on is not open, or its link is down: its ENIs are not captured.',
    action: 'Check the device (`ip link`); the agent retries with backoff and says why in its log.',
  },
  eni_device_missing: {
    meaning:
      'An ENI a flow log covers has no device on this host (its `interface` does not exist, no device has its MAC) for more than 10 s.',
    action: 'Fix `enis[].interface`/`mac`, or attach the ENI; it is captured within 10 s of its device appearing.',
  },
  discovery_failed: {
    meaning: 'ENI discovery (`discovery.type: ecs-metadata`) fails: the metadata service does not answer or refuses.',
    action:
      'Check that the host reaches `discovery.metadataUrl` (hardened mode: the token); the last ENI list is kept meanwhile.',
  },
  discovery_no_eni: {
    meaning: 'Discovery works but finds no ENI, while a flow log needs one.',
    action:
      'Check the instance has the ENIs the flow logs name (`resourceType`/`resourceId`), or configure them under `enis`.',
  },
  flow_log_no_eni: {
    meaning: 'A flow log matches no ENI, configured or discovered: it records nothing.',
    action: "Fix the flow log's `resourceType`/`resourceId`, or add the ENI.",
  },
  sink_failing: {
    meaning: 'A sink has delivered nothing for longer than `delivery.unhealthyAfterSec` while records wait.',
    action: "Read the sink's log line (credentials, Logstore, network); records wait in the spool meanwhile.",
  },
  spool_write_failed: {
    meaning:
      'A spool cannot write to its disk (full, read-only): batches are held in memory, and lost on exit or over `delivery.spoolMemoryMaxBytes`.',
    action: 'Free space under `stateDir`; held batches are written by the next append that succeeds.',
  },
  spool_evicting: {
    meaning: 'A spool is at `delivery.spoolMaxBytes` and drops its oldest batches (SKIPDATA is written for them).',
    action: 'Restore delivery, or raise `delivery.spoolMaxBytes`; the problem ends once delivery made room.',
  },
} as const;

export type HealthProblemCode = keyof typeof HEALTH_PROBLEM_CODES;

export type HealthProblem =
  | { code: 'sink_failing'; kind: 'sink'; sink: string; message: string; undeliveredSec: number }
  | { code: 'capture_device_down'; kind: 'capture'; eni: string; device: string; message: string }
  | { code: 'spool_write_failed' | 'spool_evicting'; kind: 'spool'; sink: string; message: string }
  | { code: 'eni_device_missing'; kind: 'eni'; eni: string; message: string; sinceUnixMs: number }
  | { code: 'discovery_failed' | 'discovery_no_eni'; kind: 'discovery'; message: string; sinceUnixMs: number }
  | { code: 'flow_log_no_eni'; kind: 'flow_log'; flowLog: string; message: string; sinceUnixMs: number };

/** Body of /healthz (JSON). */
export interface HealthReport {
  status: 'ok' | 'unhealthy';
  /** Empty when ok. */
  problems: HealthProblem[];
  checkedAtUnixMs: number;
}

/** Judges `source` at `nowUnixMs`. */
export function evaluateHealth(source: HealthSource, nowUnixMs: number): HealthReport {
  const problems: HealthProblem[] = [];
  for (const s of source.sinkDeliveries()) {
    if (s.spoolWriteError !== undefined) {
      // Nothing is lost yet, but a crash now would lose what is held in memory: not healthy.
      problems.push({
        code: 'spool_write_failed',
        kind: 'spool',
        sink: s.sink,
        message:
          `spool of sink ${s.sink} cannot write (${s.spoolWriteError}): ${s.spoolMemorySegments ?? 0} segments held in memory` +
          `, ${s.spoolDroppedRecords ?? 0} records dropped over the memory bound`,
      });
    }
    if (s.spoolEvictingSinceUnixMs !== undefined) {
      problems.push({
        code: 'spool_evicting',
        kind: 'spool',
        sink: s.sink,
        message:
          `spool of sink ${s.sink} is full (delivery.spoolMaxBytes) and evicting its oldest batches since ` +
          `${Math.floor((nowUnixMs - s.spoolEvictingSinceUnixMs) / 1000)} s: ${s.spoolEvictedRecords ?? 0} records lost so far, SKIPDATA written for them`,
      });
    }
    // Nothing waiting: an idle sink is not a failing sink.
    if (s.oldestPendingUnixMs === undefined) continue;
    // Undelivered since the later of "data began waiting" and "last success": a sink steadily
    // draining a backlog keeps succeeding and stays healthy.
    const since = Math.max(s.oldestPendingUnixMs, s.lastSuccessUnixMs ?? -Infinity);
    const undeliveredMs = nowUnixMs - since;
    const limitSec = s.unhealthyAfterSec ?? DEFAULT_UNHEALTHY_AFTER_SEC;
    if (undeliveredMs > limitSec * 1000) {
      const undeliveredSec = Math.floor(undeliveredMs / 1000);
      problems.push({
        code: 'sink_failing',
        kind: 'sink',
        sink: s.sink,
        undeliveredSec,
        message: `sink ${s.sink} has not delivered for ${undeliveredSec} s (more than delivery.unhealthyAfterSec, ${limitSec} s) while records wait`,
      });
    }
  }
  for (const d of source.captureDeviceStates()) {
    if (d.up) continue;
    problems.push({
      code: 'capture_device_down',
      kind: 'capture',
      eni: d.eni,
      device: d.device,
      message: `capture device ${d.device} of ${d.eni} is down${d.reason ? `: ${d.reason}` : ''}`,
    });
  }
  for (const c of source.blindConditions?.() ?? []) {
    if (nowUnixMs - c.sinceUnixMs < BLIND_GRACE_MS) continue;
    const forSec = Math.floor((nowUnixMs - c.sinceUnixMs) / 1000);
    const message = `${c.message} (for ${forSec} s)`;
    if (c.code === 'eni_device_missing')
      problems.push({ code: c.code, kind: 'eni', eni: c.subject, message, sinceUnixMs: c.sinceUnixMs });
    else if (c.code === 'flow_log_no_eni')
      problems.push({ code: c.code, kind: 'flow_log', flowLog: c.subject, message, sinceUnixMs: c.sinceUnixMs });
    else problems.push({ code: c.code, kind: 'discovery', message, sinceUnixMs: c.sinceUnixMs });
  }
  return { status: problems.length === 0 ? 'ok' : 'unhealthy', problems, checkedAtUnixMs: nowUnixMs };
}
