import { NflogCaptureSource, nflogGroupsOf } from '../capture/live/nflog-source';
import type { AgentConfig, EniConfig } from '../config/types';
import type { FlowRecorder } from '../packet/flow-recorder';
import type { Logger } from '../log';
import { markOpened, openFailureMessage, scheduleRetry, type HandleRetryState } from './handle-retry';

/** A group's slot; it is retried on the capture devices' schedule. */
interface GroupSlot extends HandleRetryState {
  group: number;
  /** ENI the group is tied to (config), undefined: found per packet. */
  eniId?: string;
  source: NflogCaptureSource | null;
}

/** State of one NFLOG group, for /healthz and metrics. */
export interface NflogGroupState {
  device: string;
  eniId?: string;
  up: boolean;
  reason?: string;
  source: NflogCaptureSource | null;
}

export interface NflogSetOptions {
  /** libpcap read timeout of every group handle. */
  bufferTimeoutMs: number;
  log: Logger;
  nowMs?: () => number;
}

/**
 * The NFLOG handles of the daemon: one `nflog:N` per group of nflogGroupsOf(config). Next to
 * CaptureSet: a group that cannot be opened (no nfnetlink_log, permission, group bound by another
 * process) is logged by name and retried with exponential backoff; the device handles keep
 * running. Read failures are not detected: libpcap's NFLOG read returns -1 for an empty
 * non-blocking socket as for a real error, so the return code cannot tell them apart. Owns its sources; `sync` and `closeAll` are the only closers.
 *
 * Each group is re-bound (`bind`) whenever the pipeline's ENI list changes, so ENI indexes and
 * interface indexes always match the pipeline the frames go to.
 */
/** Drops of one NFLOG group since the last look. */
import type { NflogDrops } from '../agent/live-agent';

export type { NflogDrops };

export class NflogSet {
  private readonly slots = new Map<number, GroupSlot>();
  private readonly nowMs: () => number;
  private snaplenBytes = 0;
  private bufferBytes = 0;
  private recorder: FlowRecorder | null = null;
  private enis: readonly EniConfig[] = [];

  constructor(private readonly o: NflogSetOptions) {
    this.nowMs = o.nowMs ?? Date.now;
  }

  /**
   * Makes the config's groups the captured ones: closes groups no longer wanted (or whose capture
   * settings or ENI changed) and opens new ones now. Called at start and on every reload.
   */
  sync(config: AgentConfig): void {
    const wanted = nflogGroupsOf(config.enis, config.nflog?.groups ?? []);
    const settingsChanged =
      config.capture.snaplenBytes !== this.snaplenBytes || config.capture.bufferBytes !== this.bufferBytes;
    this.snaplenBytes = config.capture.snaplenBytes;
    this.bufferBytes = config.capture.bufferBytes;
    const byGroup = new Map(wanted.map((g) => [g.group, g]));
    for (const [group, slot] of this.slots) {
      const next = byGroup.get(group);
      if (next !== undefined && next.eniId === slot.eniId && !settingsChanged) continue;
      this.closeSlot(slot);
      this.slots.delete(group);
    }
    for (const g of wanted) {
      if (this.slots.has(g.group)) continue;
      const slot: GroupSlot = {
        group: g.group,
        eniId: g.eniId,
        source: null,
        failures: 0,
        retryAtMs: 0,
        lastError: '',
      };
      this.slots.set(g.group, slot);
      this.tryOpen(slot);
    }
  }

  /**
   * Points every group at `recorder`, whose ENIs are `enis` in index order, each with its live
   * device as `interface` (so the hook's interface index finds ENIs resolved by MAC).
   */
  bind(recorder: FlowRecorder, enis: readonly EniConfig[]): void {
    this.recorder = recorder;
    this.enis = enis;
    for (const slot of this.slots.values()) slot.source?.bind(recorder, this.enis, slot.eniId);
  }

  /** Reopens failed groups whose backoff has passed. */
  retryDue(): void {
    const now = this.nowMs();
    for (const slot of this.slots.values()) if (slot.source === null && now >= slot.retryAtMs) this.tryOpen(slot);
  }

  /** Reads what every group has buffered (before a window closes or the pipeline changes). */
  drainAll(): void {
    for (const slot of this.slots.values()) slot.source?.readAvailable();
  }

  /** Each open group's drops since the last call (see NflogCaptureSource.takeDrops), with its ENI when tied to one. */
  takeDrops(): NflogDrops[] {
    const out: NflogDrops[] = [];
    for (const slot of this.slots.values()) {
      const dropped = slot.source?.takeDrops() ?? 0;
      if (dropped > 0)
        out.push(
          slot.eniId === undefined ? { group: slot.group, dropped } : { group: slot.group, eniId: slot.eniId, dropped },
        );
    }
    return out;
  }

  states(): NflogGroupState[] {
    return [...this.slots.values()].map((s) => {
      const state: NflogGroupState = { device: `nflog:${s.group}`, up: s.source !== null, source: s.source };
      if (s.eniId !== undefined) state.eniId = s.eniId;
      if (s.source === null && s.lastError !== '') state.reason = s.lastError;
      return state;
    });
  }

  closeAll(): void {
    for (const slot of this.slots.values()) this.closeSlot(slot);
    this.slots.clear();
  }

  private closeSlot(slot: GroupSlot): void {
    if (slot.source === null) return;
    slot.source.readAvailable();
    slot.source.close();
    slot.source = null;
    this.o.log.info({ device: `nflog:${slot.group}` }, 'capture stopped');
  }

  private tryOpen(slot: GroupSlot): boolean {
    const source = new NflogCaptureSource({
      group: slot.group,
      snaplenBytes: this.snaplenBytes,
      bufferBytes: this.bufferBytes,
      bufferTimeoutMs: this.o.bufferTimeoutMs,
    });
    try {
      source.open();
      if (this.recorder !== null) source.bind(this.recorder, this.enis, slot.eniId);
      source.start();
    } catch (err) {
      source.close();
      scheduleRetry(slot, source.device, openFailureMessage(source.device, err), this.nowMs(), this.o.log);
      return false;
    }
    slot.source = source;
    markOpened(slot, source.device, this.o.log);
    this.o.log.info({ device: source.device, eni: slot.eniId }, 'capture started');
    return true;
  }
}
