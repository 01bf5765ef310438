import type { EniConfig } from '../config/types';
import type { EniResolution } from '../enrich/eni-discovery';

/**
 * What a free ENI index holds in the pipeline's lists: no MAC, no address, ids no flow log names,
 * so it matches no frame and no flow log covers it.
 */
export const FREE_ENI: EniConfig = Object.freeze({ id: '', ips: [], cidrs: [], vpcId: '', vswitchId: '', vmId: '' });

/**
 * The attributes an ENI's records carry: a change of any makes it another ENI to the pipeline
 * (see EniSlots). MAC, addresses, device and rules may change under the same index.
 */
export function eniIdentity(e: EniConfig): string {
  return JSON.stringify([e.id, e.vpcId, e.vswitchId, e.vmId]);
}

/** One ENI index in use. */
export interface EniSlot {
  readonly index: number;
  readonly identity: string;
  /** The ENI as last resolved (MAC and addresses from its device then, `interface` its device). */
  eni: EniConfig;
  /** Its own device, '' when counted on the shared devices. */
  device: string;
  shared: boolean;
  /** It has a device now (its own, or the shared ones); false while its device is missing. */
  resolved: boolean;
  /** Since when (Unix ms) this ENI has been wanted: a device born later was the daemon's to capture. */
  readonly sinceMs: number;
  /** -1 while wanted; else when it stopped being wanted (Unix s): kept until its windows close. */
  retiredAtSec: number;
}

/** What `apply` changed. */
export interface SlotChanges {
  /** ENIs that got an index, or got theirs back within their last window. */
  added: EniConfig[];
  /** ENIs no longer wanted (kept until the windows they were in have closed). */
  retired: EniConfig[];
  /** Whether the pipeline's ENI list changed (indexes added or retired, lookups, shared flags). */
  changed: boolean;
}

/**
 * Stable ENI indexes for the life of the daemon's pipeline. An ENI (by its record attributes,
 * eniIdentity) keeps its index while it is wanted, whether its device exists or not, so a device
 * that is deleted and re-created, or a reload, changes nothing of its windows. An ENI no longer
 * wanted keeps its index, retired, until every aggregator's open window started after the
 * retirement (its flows and NODATA are written with that window); wanted again meanwhile, it
 * gets the same index back and its flows stay whole. Freed indexes are reused, lowest first.
 *
 * Lifecycle: made once per daemon; `apply` at every refresh, `freeRetired` after windows close.
 */
export class EniSlots {
  private readonly slots: Array<EniSlot | null> = [];
  private readonly byIdentity = new Map<string, number>();
  /** `lookupKey` of each index, to tell a change of MAC, addresses or device. */
  private readonly keys: string[] = [];

  /** Indexes in use or freed: the pipeline's list length. */
  get length(): number {
    return this.slots.length;
  }

  /**
   * Takes a resolution: resolved ENIs get or keep their index; unresolved ones keep theirs (their
   * device is missing for now); every other ENI holding an index is retired at `nowSec`.
   */
  apply(resolution: EniResolution, nowSec: number, nowMs = Date.now()): SlotChanges {
    const changes: SlotChanges = { added: [], retired: [], changed: false };
    const seen = new Set<number>();
    for (const l of resolution.enis) {
      const identity = eniIdentity(l.eni);
      let index = this.byIdentity.get(identity);
      if (index === undefined) {
        index = this.allocate();
        this.slots[index] = {
          index,
          identity,
          eni: l.eni,
          device: l.device,
          shared: l.shared,
          resolved: true,
          sinceMs: nowMs,
          retiredAtSec: -1,
        };
        this.byIdentity.set(identity, index);
        changes.added.push(l.eni);
      }
      const slot = this.slots[index] as EniSlot;
      if (slot.retiredAtSec >= 0) {
        slot.retiredAtSec = -1;
        changes.added.push(l.eni);
      }
      slot.eni = l.eni;
      slot.device = l.device;
      slot.shared = l.shared;
      slot.resolved = true;
      seen.add(index);
      changes.changed = this.noteKey(index) || changes.changed;
    }
    for (const u of resolution.unresolved) {
      const index = this.byIdentity.get(eniIdentity(u.eni));
      if (index === undefined || seen.has(index)) continue;
      const slot = this.slots[index] as EniSlot;
      if (slot.retiredAtSec >= 0) continue; // not wanted again until it resolves
      slot.resolved = false;
      seen.add(index);
      changes.changed = this.noteKey(index) || changes.changed;
    }
    for (const slot of this.slots) {
      if (slot === null || seen.has(slot.index) || slot.retiredAtSec >= 0) continue;
      slot.retiredAtSec = nowSec;
      slot.resolved = false;
      changes.retired.push(slot.eni);
      this.noteKey(slot.index);
      changes.changed = true;
    }
    return changes;
  }

  /**
   * Frees the retired indexes whose last window has closed: every aggregator's open window started
   * after the retirement (`openWindowStartSec`: the latest start they all passed, -1 none yet).
   * Returns the ENIs freed, with their indexes (their counters are to be folded and cleared).
   */
  freeRetired(openWindowStartSec: number): Array<{ index: number; eni: EniConfig }> {
    const freed: Array<{ index: number; eni: EniConfig }> = [];
    for (const slot of this.slots) {
      if (slot === null || slot.retiredAtSec < 0 || openWindowStartSec <= slot.retiredAtSec) continue;
      this.slots[slot.index] = null;
      this.byIdentity.delete(slot.identity);
      this.keys[slot.index] = '';
      freed.push({ index: slot.index, eni: slot.eni });
    }
    return freed;
  }

  /** The pipeline's ENI list: each index's ENI (retired ones included), FREE_ENI where free. */
  configs(): EniConfig[] {
    return this.slots.map((s) => (s === null ? FREE_ENI : s.eni));
  }

  /** 1 per retired index: its lookups lose to current ENIs' (EniInventory `secondary`). */
  secondary(): Uint8Array {
    return Uint8Array.from(this.slots, (s) => (s !== null && s.retiredAtSec >= 0 ? 1 : 0));
  }

  /** 1 per index counted on the shared devices now. */
  sharedMask(capacity: number): Uint8Array {
    const mask = new Uint8Array(capacity);
    for (const s of this.slots) if (s !== null && s.retiredAtSec < 0 && s.resolved && s.shared) mask[s.index] = 1;
    return mask;
  }

  /** Indexes in use (wanted or retired). */
  inUse(): EniSlot[] {
    return this.slots.filter((s): s is EniSlot => s !== null);
  }

  /** Wanted ENIs with a device now. */
  resolved(): EniSlot[] {
    return this.slots.filter((s): s is EniSlot => s !== null && s.retiredAtSec < 0 && s.resolved);
  }

  /**
   * The wanted ENI whose own device is `device` (now, else last: its device is missing), else
   * (`retiredToo`) a retired one's, if any.
   */
  ofDevice(device: string, retiredToo = false): EniSlot | undefined {
    const own = (s: EniSlot | null): s is EniSlot => s !== null && !s.shared && s.device === device;
    return (
      this.slots.find((s): s is EniSlot => own(s) && s.retiredAtSec < 0 && s.resolved) ??
      (retiredToo
        ? (this.slots.find((s): s is EniSlot => own(s) && s.retiredAtSec < 0) ??
          this.slots.find((s): s is EniSlot => own(s)))
        : undefined)
    );
  }

  /** The index of the wanted ENI with id `id`, or -1. */
  indexOfId(id: string): number {
    const slot = this.slots.find((s) => s !== null && s.retiredAtSec < 0 && s.eni.id === id);
    return slot?.index ?? -1;
  }

  private allocate(): number {
    const free = this.slots.indexOf(null);
    if (free >= 0) return free;
    this.slots.push(null);
    this.keys.push('');
    return this.slots.length - 1;
  }

  /** Records index `i`'s lookup key; true when it changed. */
  private noteKey(i: number): boolean {
    const s = this.slots[i] as EniSlot;
    // An own device's ENI keeps its lookups while the device is missing: not a change.
    const key = JSON.stringify([s.eni, s.device, s.shared, s.shared && s.resolved, s.retiredAtSec >= 0]);
    if (this.keys[i] === key) return false;
    this.keys[i] = key;
    return true;
  }
}
