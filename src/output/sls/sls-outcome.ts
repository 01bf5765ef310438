import type { SinkResult } from '../sink';
import { SlsCredentialsError } from './sls-credentials-contract';
import type { SlsResponseProbe } from './sls-endpoint';

/**
 * Classification of one Log Service request's outcome into ok | retryable | permanent.
 * Error codes from the API reference's common error codes (HTTP status, errorCode) and the
 * codes official producers retry on (WriteQuotaExceed, ShardWriteQuotaExceed, ServerBusy,
 * InternalServerError). Permanent reasons end with the fix.
 */

/** Throttling: the project or shard write quota. Retried after THROTTLE_RETRY_MS at least. */
const THROTTLING = new Set([
  'WriteQuotaExceed',
  'ShardWriteQuotaExceed',
  'ExceedQPSLimit',
  'ProjectQuotaExceed',
  'QuotaExceed',
  'ExceedQuota',
]);
/** Service-side transients. */
const TRANSIENT = new Set([
  'ServerBusy',
  'InternalServerError',
  'InternalError',
  'RequestTimeout',
  'Timeout',
  'RequestError',
  'BadResponse',
  'SocketTimeout',
]);

const HINT_KEY =
  'check ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET (or the configured credentials file or RAM role)';
const HINT_BUG = 'the service refused the request itself: report this as a flowlog-agent bug';

/** Permanent codes and their fix. */
const PERMANENT: Record<string, string> = {
  Unauthorized: `${HINT_KEY}, and that its RAM policy allows log:PostLogStoreLogs on this project and logstore`,
  SignatureNotMatch: `${HINT_KEY}: the secret does not match the AccessKey ID`,
  InvalidAccessKeyId: `${HINT_KEY}: the AccessKey ID does not exist or is disabled`,
  MissAccessKeyId: HINT_KEY,
  InvalidSecurityToken: `${HINT_KEY}: the STS security token is not valid`,
  ProjectNotExist: 'check sink.project and the region or endpoint: a project lives in one region',
  LogStoreNotExist: 'run flowlog-agent sls setup --config FILE to create it, or fix sink.logstore',
  LogStoreWithoutShard: 'the logstore has no writable shard: check it in the Log Service console',
  ProjectForbidden: 'the project is disabled (often an overdue payment): check the account in the console',
  PostBodyTooLarge: 'the batch exceeds the PutLogs limits: lower delivery.maxBatchBytes',
  InvalidLogSize: 'the batch exceeds the PutLogs limits: lower delivery.maxBatchRecords',
  PostBodyInvalid: HINT_BUG,
  InvalidParameter: HINT_BUG,
  ParameterInvalid: HINT_BUG,
  PostBodyUncompressError: HINT_BUG,
  InvalidCompressType: HINT_BUG,
  InvalidContentType: HINT_BUG,
  InvalidBodyRawSize: HINT_BUG,
  MissingBodyRawSize: HINT_BUG,
  InvalidContentMD5: HINT_BUG,
  InvalidAPIVersion: HINT_BUG,
  MissingAPIVersion: HINT_BUG,
  InvalidDateFormat: HINT_BUG,
};

/** Connection-level failures (Node error codes) worth retrying. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'ECONNABORTED',
  'ESOCKETTIMEDOUT',
  'UND_ERR_SOCKET',
]);

export const THROTTLE_RETRY_MS = 2000;
export const TRANSIENT_RETRY_MS = 1000;
/** A skewed clock is fixed by NTP or a person, not in a second. */
export const CLOCK_RETRY_MS = 60_000;
/** Longest Retry-After honoured; beyond it the delivery layer's own backoff decides. */
const MAX_RETRY_AFTER_MS = 3600_000;

/** What one SDK call produced: what it resolved or threw, and the response head the agent saw. */
export interface SlsCallOutcome {
  probe: SlsResponseProbe;
  resolved?: unknown;
  error?: unknown;
}

/** What the sink must do besides returning the result. */
export interface ClassifiedOutcome {
  result: SinkResult;
  /** The service said the temporary credentials expired: drop them before the retry. */
  invalidateCredentials: boolean;
}

/**
 * Classifies a PutLogs (or any Log Service) call. `what` starts every reason, e.g.
 * "put logs to project/logstore".
 */
export function classifySlsOutcome(o: SlsCallOutcome, what: string): ClassifiedOutcome {
  const status = o.probe.statusCode;
  const head = describeHead(o.probe);
  if (o.error === undefined) {
    const body = o.resolved;
    if (body === '' && (status === undefined || (status >= 200 && status < 300)))
      return { result: { kind: 'ok' }, invalidateCredentials: false };
    if (body === '') return byStatus(status ?? 0, o.probe, `${what}: answered without an error code${head}`);
    // The SDK hands back non-JSON bodies as strings instead of throwing; a JSON error with the
    // wrong content type also lands here.
    if (typeof body === 'string') {
      const coded = parseErrorBody(body);
      if (coded !== undefined) return byCode(coded.code, coded.message, o.probe, what);
      return retryable(
        retryAfterMs(o.probe, TRANSIENT_RETRY_MS),
        `${what}: answered with a non-JSON body, a proxy or load balancer page?${head}: ${snippet(body)}`,
      );
    }
    return retryable(
      retryAfterMs(o.probe, TRANSIENT_RETRY_MS),
      `${what}: unexpected answer${head}: ${snippet(JSON.stringify(body) ?? String(body))}`,
    );
  }

  const err = o.error as Error & { code?: unknown; requestid?: string };
  if (err instanceof SlsCredentialsError) {
    return err.retryable
      ? retryable(TRANSIENT_RETRY_MS, `${what}: ${err.message}`)
      : { result: { kind: 'permanent', reason: `${what}: ${err.message}` }, invalidateCredentials: false };
  }
  const code = typeof err.code === 'string' ? err.code : undefined;
  // Node error codes (ECONNRESET...) never collide with the service's CamelCase codes.
  if (code !== undefined && (NETWORK_CODES.has(code) || /^E[A-Z]+$/.test(code))) {
    return retryable(
      TRANSIENT_RETRY_MS,
      `${what}: connection failed: ${code}${err.message.includes('socket hang up') ? ' (socket hang up)' : ''}`,
    );
  }
  if (err.name === 'RequestTimeoutError' || err.name === 'TimeoutError' || /timeout/i.test(err.name)) {
    return retryable(TRANSIENT_RETRY_MS, `${what}: no answer in time (${snippet(err.message)})`);
  }
  if (err instanceof SyntaxError) {
    return retryable(
      retryAfterMs(o.probe, TRANSIENT_RETRY_MS),
      `${what}: answered with a JSON content type but a body that is not JSON${head}`,
    );
  }
  if (code !== undefined && status !== undefined)
    return byCode(code, err.message, { ...o.probe, requestId: o.probe.requestId ?? err.requestid }, what);
  if (/socket hang up/i.test(err.message))
    return retryable(TRANSIENT_RETRY_MS, `${what}: connection failed: socket hang up`);
  return {
    result: {
      kind: 'permanent',
      reason: `${what}: ${err.name}: ${snippet(err.message)}; this looks like a flowlog-agent bug: report it`,
    },
    invalidateCredentials: false,
  };
}

function byCode(code: string, message: string, probe: SlsResponseProbe, what: string): ClassifiedOutcome {
  const head = describeHead(probe);
  const base = `${what}: ${code}${head}: ${snippet(message)}`;
  if (THROTTLING.has(code)) return retryable(retryAfterMs(probe, THROTTLE_RETRY_MS), base);
  if (TRANSIENT.has(code)) return retryable(retryAfterMs(probe, TRANSIENT_RETRY_MS), base);
  if (code === 'RequestTimeExpired')
    return retryable(
      retryAfterMs(probe, CLOCK_RETRY_MS),
      `${base}; check the system clock (NTP): it is more than 15 minutes off`,
    );
  if (code === 'SecurityTokenExpired') {
    return {
      result: {
        kind: 'retryable',
        retryAfterMs: retryAfterMs(probe, 0),
        reason: `${base}; refreshing the temporary credentials`,
      },
      invalidateCredentials: true,
    };
  }
  const hint = PERMANENT[code];
  if (hint !== undefined)
    return { result: { kind: 'permanent', reason: `${base}; ${hint}` }, invalidateCredentials: false };
  return byStatus(probe.statusCode ?? 0, probe, base);
}

function byStatus(status: number, probe: SlsResponseProbe, reason: string): ClassifiedOutcome {
  if (status >= 500 || status === 429 || status === 408)
    return retryable(retryAfterMs(probe, TRANSIENT_RETRY_MS), reason);
  return {
    result: { kind: 'permanent', reason: `${reason}; not an error the agent knows to retry` },
    invalidateCredentials: false,
  };
}

function retryable(retryAfterMs: number, reason: string): ClassifiedOutcome {
  return { result: { kind: 'retryable', retryAfterMs, reason }, invalidateCredentials: false };
}

/** Retry-After (delta-seconds or HTTP-date) when present and sane, else `fallbackMs`. */
export function retryAfterMs(probe: SlsResponseProbe, fallbackMs: number, nowMs: number = Date.now()): number {
  const v = probe.retryAfter?.trim();
  if (v === undefined || v === '') return fallbackMs;
  let ms: number;
  if (/^\d+$/.test(v)) ms = Number(v) * 1000;
  else {
    const at = Date.parse(v);
    if (!Number.isFinite(at)) return fallbackMs;
    ms = Math.max(0, at - nowMs);
  }
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}

function parseErrorBody(body: string): { code: string; message: string } | undefined {
  const t = body.trim();
  if (!t.startsWith('{')) return undefined;
  try {
    const o = JSON.parse(t) as { errorCode?: unknown; errorMessage?: unknown };
    if (typeof o.errorCode === 'string')
      return { code: o.errorCode, message: typeof o.errorMessage === 'string' ? o.errorMessage : '' };
  } catch {
    // not JSON after all: the caller reports the body
  }
  return undefined;
}

function describeHead(p: SlsResponseProbe): string {
  const parts: string[] = [];
  if (p.statusCode !== undefined) parts.push(`HTTP ${p.statusCode}`);
  if (p.requestId !== undefined) parts.push(`request id ${p.requestId}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

/** One line, at most 200 characters, tags stripped (proxy pages are HTML). */
function snippet(s: string): string {
  const flat = s
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return flat.length > 200 ? `${flat.slice(0, 197)}...` : flat;
}

/**
 * Whether a management call (Logstore, index, dashboard... ) succeeded: they answer JSON (which
 * the SDK parses) or nothing, so a 2xx the SDK did not turn into an error is success, unless
 * the body came back as text (a proxy page).
 */
export function managementCallSucceeded(o: SlsCallOutcome): boolean {
  const status = o.probe.statusCode;
  if (o.error !== undefined || status === undefined || status < 200 || status >= 300) return false;
  return o.resolved === '' || (typeof o.resolved === 'object' && o.resolved !== null);
}

/** The service's errorCode of a failed call, when it sent one. */
export function outcomeErrorCode(o: SlsCallOutcome): string | undefined {
  const code = (o.error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
