import { CaptureDeviceError } from '../capture/live/live-handle';
import type { Logger } from '../log';
import { retryDelayMs } from '../output/delivery/backoff';

/** Retry schedule of a capture handle (device or NFLOG group) that failed to open or read. */
const HANDLE_RETRY = { retryInitialMs: 1000, retryMaxMs: 30_000 };

/**
 * Open/retry bookkeeping of one wanted capture handle, part of the slot CaptureSet or NflogSet
 * keeps per device or group; only the functions below change it.
 */
export interface HandleRetryState {
  /** Failures in a row since the handle was last open. */
  failures: number;
  /** Earliest time (the set's nowMs clock) of the next open attempt. */
  retryAtMs: number;
  /** Message of the last failure; '' while open. */
  lastError: string;
}

/** Why opening `device` failed: a CaptureDeviceError's own message, else "open capture device …". */
export function openFailureMessage(device: string, err: unknown): string {
  return err instanceof CaptureDeviceError ? err.message : `open capture device ${device}: ${(err as Error).message}`;
}

/** Counts a failure of `device`, schedules its next open with exponential backoff, logs a warning. */
export function scheduleRetry(
  state: HandleRetryState,
  device: string,
  message: string,
  nowMs: number,
  log: Logger,
): void {
  state.failures++;
  state.lastError = message;
  const delayMs = retryDelayMs(state.failures, HANDLE_RETRY);
  state.retryAtMs = nowMs + delayMs;
  log.warn({ device, failures: state.failures, retryInMs: delayMs }, message);
}

/** Marks `device` open: logs the recovery when it had failed, and clears the failure count. */
export function markOpened(state: HandleRetryState, device: string, log: Logger): void {
  if (state.failures > 0) log.info({ device, failures: state.failures }, 'capture device recovered');
  state.failures = 0;
  state.lastError = '';
}
