import type * as http from 'node:http';
import type { SlsCredentialsProvider } from './sls-credentials-contract';
import { createSlsAgent, probeRequestOptions, type SlsEndpoint, type SlsResponseProbe } from './sls-endpoint';
import type { SlsCallOutcome } from './sls-outcome';

/** The parts of @alicloud/log 1.2.x's Client used here (the package ships no types). */
interface SdkClient {
  _request(
    verb: string,
    project: string | undefined,
    path: string,
    queries: Record<string, unknown>,
    body: Buffer | null,
    headers: Record<string, unknown>,
    options: Record<string, unknown>,
  ): Promise<unknown>;
  getLogStore(project: string, logstore: string, options: Record<string, unknown>): Promise<unknown>;
  createLogStore(
    project: string,
    logstore: string,
    data: { ttl: number; shardCount: number },
    options: Record<string, unknown>,
  ): Promise<unknown>;
  getIndexConfig(project: string, logstore: string, options: Record<string, unknown>): Promise<unknown>;
  createIndex(project: string, logstore: string, index: unknown, options: Record<string, unknown>): Promise<unknown>;
  updateIndex(project: string, logstore: string, index: unknown, options: Record<string, unknown>): Promise<unknown>;
  getLogs(
    project: string,
    logstore: string,
    from: Date,
    to: Date,
    data: Record<string, unknown>,
    options: Record<string, unknown>,
  ): Promise<unknown>;
}
type SdkClientConstructor = new (config: Record<string, unknown>) => SdkClient;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const SdkClientClass = require('@alicloud/log') as SdkClientConstructor;

/** The SDK is not the one this code was written against. */
export class SlsSdkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SlsSdkError';
  }
}

export type SlsCompressType = 'lz4' | 'deflate';

export interface SlsApiOptions {
  endpoint: SlsEndpoint;
  credentials: SlsCredentialsProvider;
  connectTimeoutMs: number;
  /** From connect to the whole answer read (httpx's read timeout covers the upload too). */
  readTimeoutMs: number;
  userAgent: string;
}

/**
 * Log Service calls through @alicloud/log, each returning what happened (`SlsCallOutcome`)
 * instead of throwing, for `classifySlsOutcome`.
 *
 * PutLogs goes through the SDK's `_request` (signing, Content-MD5, Date, STS token header,
 * error parsing) with a body encoded here, because the SDK's `postLogStoreLogs` neither
 * compresses nor can be fed an encoded LogGroup, and its protobufjs path encodes about 28,000
 * records/s against the 300,000 needed. `_request` is private: the constructor checks it is
 * there, and the tests against the local server exercise it with the pinned ^1.2.6.
 *
 * Lifecycle: owns its keep-alive agent; `close()` destroys it.
 */
export class SlsApi {
  private readonly client: SdkClient;
  private readonly agent: http.Agent;
  private readonly timeouts: { connectTimeoutMs: number; readTimeoutMs: number };

  constructor(o: SlsApiOptions) {
    this.client = new SdkClientClass({
      endpoint: o.endpoint.sdkEndpoint,
      credentialsProvider: o.credentials,
      userAgent: o.userAgent,
    });
    if (typeof this.client._request !== 'function') {
      throw new SlsSdkError('use @alicloud/log: Client._request is missing; this agent needs @alicloud/log ^1.2.6');
    }
    this.agent = createSlsAgent(o.endpoint);
    this.timeouts = { connectTimeoutMs: o.connectTimeoutMs, readTimeoutMs: o.readTimeoutMs };
  }

  /** PutLogs in LoadBalance mode; `body` is the LogGroup, compressed when `compressType` says so. */
  putLogs(
    project: string,
    logstore: string,
    body: Buffer,
    rawSize: number,
    compressType: SlsCompressType | undefined,
  ): Promise<SlsCallOutcome> {
    const headers: Record<string, unknown> = { 'x-log-bodyrawsize': rawSize, 'content-type': 'application/x-protobuf' };
    if (compressType !== undefined) headers['x-log-compresstype'] = compressType;
    return this.call((opts) =>
      this.client._request('POST', project, `/logstores/${logstore}/shards/lb`, {}, body, headers, opts),
    );
  }

  getLogstore(project: string, logstore: string): Promise<SlsCallOutcome> {
    return this.call((opts) => this.client.getLogStore(project, logstore, opts));
  }

  createLogstore(
    project: string,
    logstore: string,
    data: { ttl: number; shardCount: number },
  ): Promise<SlsCallOutcome> {
    return this.call((opts) => this.client.createLogStore(project, logstore, data, opts));
  }

  getIndex(project: string, logstore: string): Promise<SlsCallOutcome> {
    return this.call((opts) => this.client.getIndexConfig(project, logstore, opts));
  }

  createIndex(project: string, logstore: string, index: unknown): Promise<SlsCallOutcome> {
    return this.call((opts) => this.client.createIndex(project, logstore, index, opts));
  }

  updateIndex(project: string, logstore: string, index: unknown): Promise<SlsCallOutcome> {
    return this.call((opts) => this.client.updateIndex(project, logstore, index, opts));
  }

  /**
   * A JSON management call of the project (dashboards, alert rules, saved searches: the SDK has
   * no method for them), signed by the SDK's `_request` like every other call; `body`, when
   * given, is sent as JSON with its x-log-bodyrawsize.
   */
  requestJson(verb: 'GET' | 'POST' | 'PUT', project: string, path: string, body?: unknown): Promise<SlsCallOutcome> {
    const bytes = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const headers: Record<string, unknown> =
      bytes === null ? {} : { 'content-type': 'application/json', 'x-log-bodyrawsize': bytes.length };
    return this.call((opts) => this.client._request(verb, project, path, {}, bytes, headers, opts));
  }

  /** GetLogs: raw logs of [fromSec, toSec), `line` (at most 100) from `offset`, oldest first. */
  getLogs(
    project: string,
    logstore: string,
    fromSec: number,
    toSec: number,
    page: { query: string; line: number; offset: number },
  ): Promise<SlsCallOutcome> {
    const data = { query: page.query, line: page.line, offset: page.offset, reverse: false };
    return this.call((opts) =>
      this.client.getLogs(project, logstore, new Date(fromSec * 1000), new Date(toSec * 1000), data, opts),
    );
  }

  close(): void {
    this.agent.destroy();
  }

  private async call(run: (opts: Record<string, unknown>) => Promise<unknown>): Promise<SlsCallOutcome> {
    const probe: SlsResponseProbe = {};
    try {
      const resolved = await run(probeRequestOptions(this.agent, probe, this.timeouts));
      return { probe, resolved };
    } catch (error) {
      return { probe, error };
    }
  }
}
