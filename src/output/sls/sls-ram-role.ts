import {
  RedactedProvider,
  SlsCredentialsError,
  type SlsCredentials,
  type SlsCredentialsProvider,
} from './sls-credentials-contract';

export interface RamRoleOptions {
  /** RAM role attached to the ECS instance. */
  role: string;
  /** Base URL of the metadata service, no trailing slash; default http://100.100.100.200. */
  metadataUrl?: string;
  /** Ask for a metadata token first (hardened mode); default true. */
  hardened?: boolean;
  /** When the token cannot be had, ask without it (normal mode); default true. */
  allowNormalMode?: boolean;
  /** Refresh this long before the credentials expire; default 10 minutes. */
  refreshBeforeExpiryMs?: number;
  /** Per metadata request; default 2000. */
  requestTimeoutMs?: number;
  /** Lifetime asked for the metadata token; default 21600 (6 h, the service's maximum). */
  tokenTtlSec?: number;
}

interface CachedCredentials {
  credentials: SlsCredentials;
  expiresAtMs: number;
}

/** Credentials without an Expiration (not seen from ECS, but possible) are asked for again after this. */
const NO_EXPIRY_CACHE_MS = 5 * 60_000;

/**
 * STS credentials of the instance's RAM role, from the ECS metadata service:
 * `GET /latest/meta-data/ram/security-credentials/<role>` answering
 * `{Code, AccessKeyId, AccessKeySecret, SecurityToken, Expiration}`. In hardened mode a token
 * is first obtained by `PUT /latest/api/token` (header X-aliyun-ecs-metadata-token-ttl-seconds)
 * and sent as X-aliyun-ecs-metadata-token.
 *
 * Refresh is lazy: `getCredentials` serves the cached pair until `refreshBeforeExpiryMs` before
 * its Expiration, then fetches (one fetch shared by concurrent callers). A failed refresh keeps
 * serving the old pair while it is still valid, so a metadata hiccup near expiry costs nothing.
 * Time is `Date.now()`, so tests move it with fake timers.
 */
export class RamRoleCredentialsProvider extends RedactedProvider implements SlsCredentialsProvider {
  readonly description: string;
  private readonly role: string;
  private readonly baseUrl: string;
  private readonly hardened: boolean;
  private readonly allowNormalMode: boolean;
  private readonly refreshBeforeExpiryMs: number;
  private readonly requestTimeoutMs: number;
  private readonly tokenTtlSec: number;
  #cached: CachedCredentials | undefined;
  #inflight: Promise<CachedCredentials> | undefined;
  #token: { value: string; expiresAtMs: number } | undefined;

  constructor(o: RamRoleOptions) {
    super();
    if (o.role === '' || o.role.includes('/')) {
      throw new SlsCredentialsError(`use RAM role ${JSON.stringify(o.role)}: not a role name`, false);
    }
    this.role = o.role;
    this.description = `RAM role ${o.role}`;
    this.baseUrl = (o.metadataUrl ?? 'http://100.100.100.200').replace(/\/+$/, '');
    this.hardened = o.hardened ?? true;
    this.allowNormalMode = o.allowNormalMode ?? true;
    this.refreshBeforeExpiryMs = o.refreshBeforeExpiryMs ?? 10 * 60_000;
    this.requestTimeoutMs = o.requestTimeoutMs ?? 2000;
    this.tokenTtlSec = o.tokenTtlSec ?? 21600;
  }

  async getCredentials(): Promise<SlsCredentials> {
    const now = Date.now();
    const cached = this.#cached;
    if (cached !== undefined && now < cached.expiresAtMs - this.refreshBeforeExpiryMs) return cached.credentials;
    if (this.#inflight === undefined) {
      this.#inflight = this.fetchCredentials().finally(() => {
        this.#inflight = undefined;
      });
    }
    try {
      const fresh = await this.#inflight;
      this.#cached = fresh;
      return fresh.credentials;
    } catch (err) {
      if (cached !== undefined && Date.now() < cached.expiresAtMs) return cached.credentials;
      throw err;
    }
  }

  invalidate(): void {
    this.#cached = undefined;
  }

  private async fetchCredentials(): Promise<CachedCredentials> {
    const headers: Record<string, string> = {};
    if (this.hardened) {
      const token = await this.metadataToken();
      if (token !== undefined) headers['X-aliyun-ecs-metadata-token'] = token;
    }
    const url = `${this.baseUrl}/latest/meta-data/ram/security-credentials/${encodeURIComponent(this.role)}`;
    const res = await this.request(url, { method: 'GET', headers }, 'get RAM role credentials');
    if (res.status === 404) {
      throw new SlsCredentialsError(
        `get credentials of RAM role ${this.role}: the metadata service does not know the role; ` +
          'attach it to the instance (ECS console: instance > Attach RAM role) or fix credentials.ramRole',
        false,
      );
    }
    if (res.status !== 200) {
      this.#token = undefined; // a 401/403 may mean the token went stale
      throw new SlsCredentialsError(
        `get credentials of RAM role ${this.role}: metadata service answered HTTP ${res.status}`,
        true,
      );
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(res.text) as Record<string, unknown>;
    } catch (err) {
      throw new SlsCredentialsError(`get credentials of RAM role ${this.role}: the answer is not JSON`, true, {
        cause: err,
      });
    }
    const { Code, AccessKeyId, AccessKeySecret, SecurityToken, Expiration } = body;
    if (
      (Code !== undefined && Code !== 'Success') ||
      typeof AccessKeyId !== 'string' ||
      typeof AccessKeySecret !== 'string' ||
      AccessKeyId === ''
    ) {
      throw new SlsCredentialsError(
        `get credentials of RAM role ${this.role}: the answer has no credentials (Code ${String(Code)})`,
        true,
      );
    }
    const credentials: SlsCredentials = { accessKeyId: AccessKeyId, accessKeySecret: AccessKeySecret };
    if (typeof SecurityToken === 'string' && SecurityToken !== '') credentials.securityToken = SecurityToken;
    const expiresAtMs = typeof Expiration === 'string' ? Date.parse(Expiration) : NaN;
    return {
      credentials,
      expiresAtMs: Number.isFinite(expiresAtMs)
        ? expiresAtMs
        : Date.now() + NO_EXPIRY_CACHE_MS + this.refreshBeforeExpiryMs,
    };
  }

  /** The hardened-mode token, cached for its lifetime less a minute; undefined to go on in normal mode. */
  private async metadataToken(): Promise<string | undefined> {
    const now = Date.now();
    if (this.#token !== undefined && now < this.#token.expiresAtMs) return this.#token.value;
    let failure: string;
    let cause: unknown;
    try {
      const res = await this.request(
        `${this.baseUrl}/latest/api/token`,
        { method: 'PUT', headers: { 'X-aliyun-ecs-metadata-token-ttl-seconds': String(this.tokenTtlSec) } },
        'get metadata token',
      );
      if (res.status === 200 && res.text !== '') {
        this.#token = { value: res.text.trim(), expiresAtMs: now + (this.tokenTtlSec - 60) * 1000 };
        return this.#token.value;
      }
      failure = `HTTP ${res.status}`;
    } catch (err) {
      failure = (err as Error).message;
      cause = err;
    }
    if (this.allowNormalMode) return undefined;
    throw new SlsCredentialsError(
      `get metadata token for RAM role ${this.role}: ${failure} (normal mode not allowed)`,
      true,
      { cause },
    );
  }

  private async request(url: string, init: RequestInit, what: string): Promise<{ status: number; text: string }> {
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(this.requestTimeoutMs) });
      return { status: res.status, text: await res.text() };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const reason =
        e.name === 'TimeoutError' ? `no answer within ${this.requestTimeoutMs} ms` : (e.cause?.code ?? e.message);
      throw new SlsCredentialsError(`${what} from ${this.baseUrl}: ${reason}`, true, { cause: err });
    }
  }
}
