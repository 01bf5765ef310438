import type { DiscoveryConfig } from '../config/types';

/** One ENI as the ECS instance metadata service describes it. */
export interface MetadataEni {
  /** Lower-case colon form. */
  mac: string;
  eniId: string;
  vpcId: string;
  vswitchId: string;
  primaryIp: string;
  /** Every private IPv4 (primary first when the service lists it so) and every IPv6. */
  ips: string[];
}

/** What the metadata service says about this instance and its ENIs. */
export interface InstanceMetadata {
  instanceId: string;
  instanceType: string;
  regionId: string;
  ownerAccountId: string;
  enis: MetadataEni[];
}

/** The metadata service could not be read (unreachable, refused the token, malformed answer). */
export class MetadataError extends Error {
  override readonly name = 'MetadataError';
}

/** Token lifetime asked for; the service allows 1..21600 s. */
const TOKEN_TTL_SEC = 21600;
/** Renew this long before the token expires. */
const TOKEN_RENEW_MARGIN_SEC = 60;

export interface EcsMetadataClientOptions {
  /** Per-request timeout. */
  requestTimeoutMs?: number;
  /** Clock in ms (tests). */
  nowMs?: () => number;
}

/**
 * Reads the instance and its ENIs from the ECS metadata service
 * (`<metadataUrl>/latest/meta-data/...`).
 *
 * Hardened mode: a token is fetched with `PUT /latest/api/token` and header
 * `X-aliyun-ecs-metadata-token-ttl-seconds`, then every read sends it in
 * `X-aliyun-ecs-metadata-token`; the token is cached until shortly before it expires and fetched
 * again when a read is refused (401/403). When the token cannot be obtained, normal mode
 * (no header) is used only if `allowNormalMode`; otherwise the read fails.
 */
export class EcsMetadataClient {
  private token: string | null = null;
  /** The token request in flight, shared by the reads that start while it runs. */
  private tokenRequest: Promise<string> | null = null;
  private tokenExpiresMs = 0;
  private readonly timeoutMs: number;
  private readonly nowMs: () => number;
  /** The mode the last successful read used. */
  mode: 'hardened' | 'normal' | 'none' = 'none';

  constructor(
    private readonly discovery: Pick<DiscoveryConfig, 'metadataUrl' | 'hardened' | 'allowNormalMode'>,
    options: EcsMetadataClientOptions = {},
  ) {
    this.timeoutMs = options.requestTimeoutMs ?? 2000;
    this.nowMs = options.nowMs ?? Date.now;
  }

  /** Reads everything; throws MetadataError. */
  async read(): Promise<InstanceMetadata> {
    const [instanceId, instanceType, regionId, ownerAccountId, macList] = await Promise.all([
      this.get('instance-id'),
      this.get('instance/instance-type'),
      this.get('region-id'),
      this.get('owner-account-id'),
      this.get('network/interfaces/macs/'),
    ]);
    const macs = lines(macList).map((m) => m.replace(/\/$/, '').toLowerCase());
    const enis = await Promise.all(macs.map((mac) => this.readEni(mac)));
    return { instanceId, instanceType, regionId, ownerAccountId, enis };
  }

  private async readEni(mac: string): Promise<MetadataEni> {
    const base = `network/interfaces/macs/${mac}/`;
    const [eniId, vpcId, vswitchId, primaryIp, v4, v6] = await Promise.all([
      this.get(base + 'network-interface-id'),
      this.get(base + 'vpc-id'),
      this.get(base + 'vswitch-id'),
      this.get(base + 'primary-ip-address'),
      this.get(base + 'private-ipv4s', true),
      this.get(base + 'ipv6s', true),
    ]);
    const ips = [...addressList(v4), ...addressList(v6)];
    if (primaryIp !== '' && !ips.includes(primaryIp)) ips.unshift(primaryIp);
    return { mac, eniId, vpcId, vswitchId, primaryIp, ips };
  }

  /** GET one meta-data path; `optional`: a 404 reads as ''. */
  private async get(path: string, optional = false): Promise<string> {
    const url = `${this.discovery.metadataUrl}/latest/meta-data/${path}`;
    for (let attempt = 0; attempt < 2; attempt++) {
      const headers = await this.authHeaders();
      const res = await this.fetch(url, { headers });
      if (res.status === 200) return (await res.text()).trim();
      if (res.status === 404 && optional) return '';
      if ((res.status === 401 || res.status === 403) && this.token !== null && attempt === 0) {
        this.token = null; // expired or revoked: fetch a new one once
        continue;
      }
      throw new MetadataError(`read metadata ${path}: HTTP ${res.status}`);
    }
    throw new MetadataError(`read metadata ${path}: token refused twice`);
  }

  private async authHeaders(): Promise<Record<string, string>> {
    if (!this.discovery.hardened) {
      this.mode = 'normal';
      return {};
    }
    if (this.token !== null && this.nowMs() < this.tokenExpiresMs) return { 'X-aliyun-ecs-metadata-token': this.token };
    try {
      this.tokenRequest ??= this.requestToken().finally(() => (this.tokenRequest = null));
      const token = await this.tokenRequest;
      this.mode = 'hardened';
      return { 'X-aliyun-ecs-metadata-token': token };
    } catch (err) {
      if (!this.discovery.allowNormalMode) {
        throw err instanceof MetadataError
          ? err
          : new MetadataError(`get metadata token: ${(err as Error).message}`, { cause: err });
      }
      this.mode = 'normal';
      return {};
    }
  }

  private async requestToken(): Promise<string> {
    const res = await this.fetch(`${this.discovery.metadataUrl}/latest/api/token`, {
      method: 'PUT',
      headers: { 'X-aliyun-ecs-metadata-token-ttl-seconds': String(TOKEN_TTL_SEC) },
    });
    if (res.status !== 200) throw new MetadataError(`get metadata token: HTTP ${res.status}`);
    this.token = (await res.text()).trim();
    this.tokenExpiresMs = this.nowMs() + (TOKEN_TTL_SEC - TOKEN_RENEW_MARGIN_SEC) * 1000;
    return this.token;
  }

  private async fetch(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, { ...init, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw new MetadataError(`request ${url}: ${(err as Error).message}`, { cause: err });
    }
  }
}

function lines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** private-ipv4s and ipv6s come as a JSON array (`["10.0.0.5"]`); older answers as lines. */
function addressList(text: string): string[] {
  const t = text.trim();
  if (t === '') return [];
  if (t.startsWith('[')) {
    try {
      const list = JSON.parse(t) as unknown;
      if (Array.isArray(list)) return list.map(String).filter((s) => s !== '');
    } catch {
      // fall through to the line form
    }
  }
  return lines(t.replace(/[[\]"]/g, '').replace(/,/g, '\n'));
}
