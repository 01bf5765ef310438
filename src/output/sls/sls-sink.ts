import { readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { deflate } from 'node:zlib';
import type { SlsSinkConfig } from '../../config/types';
import type { RecordBatch } from '../../flow/record';
import { log } from '../../log';
import type { Sink, SinkResult } from '../sink';
import { SlsApi, type SlsCompressType } from './sls-api';
import type { SlsCredentialsProvider } from './sls-credentials-contract';
import { resolveSlsEndpoint } from './sls-endpoint';
import { PUT_LOGS_MAX_LOGS, PUT_LOGS_MAX_RAW_BYTES } from './sls-limits';
import { LogGroupEncoder, slsLogMeasure, type LogGroupMeta } from './sls-log-group';
import { lz4CompressBlock } from './sls-lz4';
import { classifySlsOutcome } from './sls-outcome';
import { PACK_ID_TAG } from '../delivery/pack-id';

const deflateAsync = promisify(deflate);

/** Encoders kept for reuse (each holds a scratch buffer of a batch's size, 2 to 4 MB). */
const MAX_IDLE_ENCODERS = 4;

/** Topic of every LogGroup unless configured, as Alibaba Cloud's own VPC flow logs use. */
export const DEFAULT_SLS_TOPIC = 'flow_log';

/**
 * Body compression. deflate (zlib format, level 1) is the default: against the local server
 * it sends about 27% fewer bytes than this agent's LZ4 for flow-log bodies at about the same
 * CPU per record (see bench/sls-bench.js), and it runs on libuv's thread pool, off the event
 * loop, where LZ4 runs on it. The service documents lz4 and its official SDKs send deflate too.
 */
export type SlsCompression = SlsCompressType | 'none';

export interface SlsSinkOptions {
  sink: SlsSinkConfig;
  /** `AgentConfig.region`, for the default endpoint when the sink names no region. */
  region?: string;
  /** Owned by the caller (it may be shared by several sinks). */
  credentials: SlsCredentialsProvider;
  compression?: SlsCompression;
  /** Default 5000. */
  connectTimeoutMs?: number;
  /** `delivery.requestTimeoutMs`: connect to whole answer; default 30000 (not the SDK's 3 s). */
  requestTimeoutMs?: number;
  /** LogGroup Source and the hostname tag; default os.hostname(). */
  hostname?: string;
  /** agent_version tag; default the package version. */
  agentVersion?: string;
}

/**
 * Running totals since the sink was made, for metrics (names proposed, label sink = `name`):
 * flowlog_sink_sls_logs_total, flowlog_sink_sls_clamped_log_times_total,
 * flowlog_sink_sls_bytes_total{stage="raw"|"sent"}, flowlog_sink_sls_refused_batches_total.
 */
export interface SlsSinkCounters {
  /** Batches the service accepted. */
  batches: number;
  /** Logs (records) the service accepted. */
  logs: number;
  /** Logs whose time was moved into the range the service accepts (old replays), sent or not. */
  clampedLogTimes: number;
  /** Encoded LogGroup bytes of accepted batches, before compression. */
  rawBytes: number;
  /** Body bytes of accepted batches, as sent. */
  sentBytes: number;
  /** Batches refused before sending (over the PutLogs limits); also counted as permanent failures. */
  refusedBatches: number;
  retryableFailures: number;
  permanentFailures: number;
}

/**
 * Writes each batch as one PutLogs request: one log per record, its contents the record's
 * fields in order, its time the record's start (clamped into the accepted range, see
 * sls-log-group.ts); topic `flow_log` unless configured, source the hostname, tags hostname
 * and agent_version plus the configured tags (which win on a clash).
 *
 * Contract (Sink): `write` never throws; it refuses (permanent) a batch over the PutLogs limits
 * instead of sending it, since splitting is the delivery layer's job. Writes may overlap.
 */
export class SlsSink implements Sink {
  readonly name: string;
  readonly measure = slsLogMeasure;
  readonly counters: SlsSinkCounters = {
    batches: 0,
    logs: 0,
    clampedLogTimes: 0,
    rawBytes: 0,
    sentBytes: 0,
    refusedBatches: 0,
    retryableFailures: 0,
    permanentFailures: 0,
  };
  private readonly project: string;
  private readonly logstore: string;
  private readonly api: SlsApi;
  private readonly credentials: SlsCredentialsProvider;
  /** Encoders not in use; a write takes one for as long as its body is the encoder's buffer. */
  private readonly idleEncoders: LogGroupEncoder[] = [];
  private readonly meta: LogGroupMeta;
  private compression: SlsCompression;
  private closed = false;
  private clampWarned = false;

  /** @throws SlsEndpointError when no endpoint can be derived; SlsSdkError when the SDK is not 1.2.x. */
  constructor(o: SlsSinkOptions) {
    this.project = o.sink.project;
    this.logstore = o.sink.logstore;
    this.name = `sls:${this.project}/${this.logstore}`;
    this.credentials = o.credentials;
    this.compression = o.compression ?? 'deflate';
    const host = o.hostname ?? osHostname();
    const version = o.agentVersion ?? packageVersion();
    const tags = new Map<string, string>([
      ['hostname', host],
      ['agent_version', version],
    ]);
    for (const [k, v] of Object.entries(o.sink.tags ?? {})) tags.set(k, v);
    this.meta = { topic: o.sink.topic ?? DEFAULT_SLS_TOPIC, source: host, tags: [...tags] };
    const endpoint = resolveSlsEndpoint(o.sink, o.region);
    const requestTimeoutMs = o.requestTimeoutMs ?? 30_000;
    this.api = new SlsApi({
      endpoint,
      credentials: o.credentials,
      connectTimeoutMs: Math.min(o.connectTimeoutMs ?? 5000, requestTimeoutMs),
      readTimeoutMs: requestTimeoutMs,
      userAgent: `flowlog-agent/${version}`,
    });
  }

  async write(batch: RecordBatch): Promise<SinkResult> {
    const what = `put logs to ${this.project}/${this.logstore}`;
    if (this.closed) return { kind: 'permanent', reason: `${what}: the sink is closed` };
    const n = batch.records.length;
    if (n === 0) return { kind: 'ok' };
    if (n > PUT_LOGS_MAX_LOGS)
      return this.refuse(
        `${what}: refuse a batch of ${n} records: PutLogs takes at most ${PUT_LOGS_MAX_LOGS} logs per request; split it`,
      );

    const encoder = this.idleEncoders.pop() ?? new LogGroupEncoder();
    let encoderHeld = true;
    const release = (): void => {
      if (!encoderHeld) return;
      encoderHeld = false;
      if (!this.closed && this.idleEncoders.length < MAX_IDLE_ENCODERS) this.idleEncoders.push(encoder);
    };
    try {
      let body: Buffer;
      let rawSize: number;
      let compressType: SlsCompressType | undefined;
      try {
        const meta =
          batch.packId === undefined
            ? this.meta
            : { ...this.meta, tags: [...this.meta.tags, [PACK_ID_TAG, batch.packId] as const] };
        const encoded = encoder.encodeShared(batch, meta, Math.floor(Date.now() / 1000));
        rawSize = encoded.body.length;
        if (rawSize > PUT_LOGS_MAX_RAW_BYTES) {
          encoderHeld = false; // its buffer grew past any valid batch: let it go
          return this.refuse(
            `${what}: refuse a batch of ${n} records encoded to ${rawSize} bytes: PutLogs takes at most ${PUT_LOGS_MAX_RAW_BYTES} bytes per request; split it`,
          );
        }
        this.noteClamped(encoded.clampedLogTimes, batch);
        ({ body, compressType } = await this.compress(encoded.body));
      } catch (err) {
        this.counters.permanentFailures++;
        return {
          kind: 'permanent',
          reason: `${what}: encode batch: ${(err as Error).message}; this is a flowlog-agent bug: report it`,
        };
      }
      // A compressed body is its own buffer: the encoder can serve another write during the request.
      if (compressType !== undefined) release();
      return await this.send(batch, body, rawSize, compressType, what);
    } finally {
      release();
    }
  }

  private async send(
    batch: RecordBatch,
    body: Buffer,
    rawSize: number,
    compressType: SlsCompressType | undefined,
    what: string,
  ): Promise<SinkResult> {
    const n = batch.records.length;
    const outcome = await this.api.putLogs(this.project, this.logstore, body, rawSize, compressType);
    if (
      compressType === 'deflate' &&
      (outcome.error as { code?: unknown } | undefined)?.code === 'InvalidCompressType'
    ) {
      // deflate is what the official SDKs send, but only lz4 is documented: an endpoint that
      // refuses deflate gets lz4 from now on, and this batch is retried at once.
      this.compression = 'lz4';
      log.warn({ sink: this.name }, 'the endpoint refuses deflate bodies; using lz4');
      this.counters.retryableFailures++;
      return {
        kind: 'retryable',
        retryAfterMs: 0,
        reason: `${what}: the endpoint refuses deflate bodies; retrying with lz4`,
      };
    }
    const { result, invalidateCredentials } = classifySlsOutcome(outcome, what);
    if (invalidateCredentials) this.credentials.invalidate();
    if (result.kind === 'ok') {
      this.counters.batches++;
      this.counters.logs += n;
      this.counters.rawBytes += rawSize;
      this.counters.sentBytes += body.length;
    } else if (result.kind === 'retryable') this.counters.retryableFailures++;
    else this.counters.permanentFailures++;
    return result;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.idleEncoders.length = 0;
    this.api.close();
  }

  private async compress(raw: Buffer): Promise<{ body: Buffer; compressType: SlsCompressType | undefined }> {
    if (this.compression === 'none') return { body: raw, compressType: undefined };
    const packed =
      this.compression === 'lz4'
        ? lz4CompressBlock(raw)
        : await deflateAsync(raw, { level: 1, chunkSize: deflateChunkSize(raw.length) });
    // Tiny or random bodies can grow: send those as they are.
    return packed.length < raw.length
      ? { body: packed, compressType: this.compression }
      : { body: raw, compressType: undefined };
  }

  private refuse(reason: string): SinkResult {
    this.counters.refusedBatches++;
    this.counters.permanentFailures++;
    return { kind: 'permanent', reason };
  }

  private noteClamped(clamped: number, batch: RecordBatch): void {
    if (clamped === 0) return;
    this.counters.clampedLogTimes += clamped;
    if (this.clampWarned) return;
    this.clampWarned = true;
    log.warn(
      { sink: this.name, flowLogId: batch.flowLogId, windowStartSec: batch.windowStartSec, clamped },
      'log times outside what Log Service accepts (older than 7 days or in the future) were clamped into range; start and end keep the true times',
    );
  }
}

/**
 * Output chunk size for deflating `rawLength` bytes: an eighth of it, more than a flow-log body
 * compresses to (about a tenth), so the output is one chunk. zlib's default 16 KiB chunks cost
 * a round trip to the thread pool each (a dozen per batch): about 20% of the deflate's CPU.
 */
function deflateChunkSize(rawLength: number): number {
  return Math.min(1 << 20, Math.max(64 * 1024, rawLength >>> 3));
}

let cachedVersion: string | undefined;

/**
 * The agent's version from package.json: three levels up from src/output/sls and dist/output/sls,
 * one level up from the bundle (dist/flowlog-agent.js).
 */
function packageVersion(): string {
  if (cachedVersion === undefined) {
    cachedVersion = 'unknown';
    for (const up of [['..'], ['..', '..', '..']]) {
      try {
        const pkg = JSON.parse(readFileSync(join(__dirname, ...up, 'package.json'), 'utf8')) as {
          name?: string;
          version?: string;
        };
        if (pkg.name === 'flowlog-agent' && typeof pkg.version === 'string') {
          cachedVersion = pkg.version;
          break;
        }
      } catch {
        // not at this level
      }
    }
  }
  return cachedVersion;
}
