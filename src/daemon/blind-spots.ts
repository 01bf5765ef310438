import type { AgentConfig, EniConfig } from '../config/types';
import { isCovered, type UnresolvedEni } from '../enrich/eni-discovery';
import type { BlindCondition } from '../metrics/metrics-source';

/**
 * What leaves the daemon blind beyond its open devices, as conditions with since when they hold
 * (health reports each once it has lasted BLIND_GRACE_MS, see health-report.ts):
 * - `eni_device_missing`: an ENI a flow log covers that has no device (mistyped `interface`, no
 *   device with its MAC), per ENI, from the resolution of each refresh;
 * - `discovery_failed`: the metadata service fails (`discovery.type: ecs-metadata`);
 * - `discovery_no_eni`: it answers with no ENI while a flow log matches none;
 * - `flow_log_no_eni`: a flow log whose resource matches no ENI, configured or discovered.
 *
 * Fed by the daemon (`resolved` after each refresh, `metadataRead` after each metadata read);
 * read at scrape time. A condition keeps its first time while it holds, and is forgotten as soon
 * as it does not. Event loop only; no I/O.
 */
export class BlindSpots {
  private readonly held = new Map<string, BlindCondition>();
  private metadataError: string | null = null;

  /** The last metadata read failed with `error`, or succeeded (null). */
  metadataRead(error: string | null): void {
    this.metadataError = error;
  }

  /**
   * After a refresh: the ENIs that should be captured but have no device (`unresolved`), the
   * ENIs discovered (when discovery runs), and the config's flow logs.
   */
  resolved(
    config: AgentConfig,
    unresolved: readonly UnresolvedEni[],
    discovered: readonly EniConfig[],
    nowMs: number,
  ): void {
    const now = new Map<string, Omit<BlindCondition, 'sinceUnixMs'>>();
    for (const u of unresolved)
      now.set(`eni:${u.id}`, {
        code: 'eni_device_missing',
        subject: u.id,
        message: `ENI ${u.id} is not captured: ${u.reason}`,
      });
    const discovering = config.discovery.type === 'ecs-metadata';
    const candidates = [...config.enis, ...discovered];
    const orphans = config.flowLogs.filter((fl) => !candidates.some((e) => isCovered(e, [fl])));
    if (discovering && this.metadataError !== null) {
      now.set('discovery', {
        code: 'discovery_failed',
        subject: 'ecs-metadata',
        message: `ENI discovery through ${config.discovery.metadataUrl} fails: ${this.metadataError}`,
      });
    } else if (discovering && discovered.length === 0 && orphans.length > 0) {
      now.set('discovery', {
        code: 'discovery_no_eni',
        subject: 'ecs-metadata',
        message: `ENI discovery through ${config.discovery.metadataUrl} finds no ENI, and flow log ${orphans.map((f) => f.id).join(', ')} needs one`,
      });
    }
    for (const fl of orphans) {
      now.set(`flow-log:${fl.id}`, {
        code: 'flow_log_no_eni',
        subject: fl.id,
        message: `flow log ${fl.id} (${fl.resourceType} ${fl.resourceId}) matches no ENI, configured or discovered: it records nothing`,
      });
    }
    for (const key of [...this.held.keys()]) if (!now.has(key)) this.held.delete(key);
    for (const [key, c] of now) {
      const seen = this.held.get(key);
      // A changed message (another reason) keeps the time: the blindness did not end.
      this.held.set(key, { ...c, sinceUnixMs: seen?.sinceUnixMs ?? nowMs });
    }
  }

  conditions(): readonly BlindCondition[] {
    return [...this.held.values()];
  }
}
