import * as dns from 'node:dns';
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP } from 'node:net';
import type { SlsSinkConfig } from '../../config/types';

/** A Log Service endpoint that cannot be used as configured. */
export class SlsEndpointError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SlsEndpointError';
  }
}

/** Where requests go. The SDK sends to `<project>.<host>[:port]`, which is also the Host header. */
export interface SlsEndpoint {
  /** What the SDK's `endpoint` option gets: scheme, host and optional port, no path. */
  sdkEndpoint: string;
  /** Host (and port when not the scheme's default) that follows `<project>.` in URL and Host header. */
  host: string;
  useHttps: boolean;
  /**
   * For an IP-literal or `localhost` endpoint (a local Log Service-compatible server), the
   * address to connect to instead of resolving `<project>.<host>` through DNS.
   */
  connectAddress?: string;
}

/**
 * Resolves the configured endpoint. Without `endpoint`, the region's Log Service endpoint:
 * `<region>.log.aliyuncs.com`, or `<region>-intranet.log.aliyuncs.com` with `intranet`, over
 * HTTPS (the service accepts both; bodies are compressed, so TLS costs little). An endpoint
 * without a scheme also gets HTTPS; `http://` is kept as written.
 *
 * @param agentRegion `AgentConfig.region`, used when the sink names no region.
 * @throws SlsEndpointError when neither endpoint nor a region is known, or the endpoint is unusable.
 */
export function resolveSlsEndpoint(
  sink: Pick<SlsSinkConfig, 'endpoint' | 'region' | 'intranet'>,
  agentRegion?: string,
): SlsEndpoint {
  let url: URL;
  if (sink.endpoint !== undefined && sink.endpoint !== '') {
    const written = sink.endpoint.includes('://') ? sink.endpoint : `https://${sink.endpoint}`;
    try {
      url = new URL(written);
    } catch (err) {
      throw new SlsEndpointError(`parse endpoint ${JSON.stringify(sink.endpoint)}: not a host or URL`, { cause: err });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new SlsEndpointError(`use endpoint ${sink.endpoint}: scheme must be http or https`);
    }
    if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '') {
      throw new SlsEndpointError(`use endpoint ${sink.endpoint}: an endpoint is a host, without path or query`);
    }
  } else {
    const region = sink.region ?? agentRegion;
    if (region === undefined || region === '') {
      throw new SlsEndpointError(
        'resolve Log Service endpoint: the sink names neither endpoint nor region, and the agent has no region',
      );
    }
    url = new URL(`https://${region}${sink.intranet ? '-intranet' : ''}.log.aliyuncs.com`);
  }
  const hostname = url.hostname;
  // The SDK builds `<project>.<host>` by string concatenation: an IPv6 literal would become
  // `project.[::1]`, which no URL parser accepts.
  if (hostname.startsWith('[')) {
    throw new SlsEndpointError(
      `use endpoint ${url.host}: IPv6 literal endpoints are not supported; use a host name or an IPv4 address`,
    );
  }
  const useHttps = url.protocol === 'https:';
  const host = url.port === '' ? hostname : `${hostname}:${url.port}`;
  const endpoint: SlsEndpoint = { sdkEndpoint: `${url.protocol}//${host}`, host, useHttps };
  if (isIP(hostname) === 4) endpoint.connectAddress = hostname;
  else if (hostname === 'localhost') endpoint.connectAddress = '127.0.0.1';
  return endpoint;
}

/**
 * Per-request record of the HTTP response head. The SDK returns only the body (and on JSON
 * errors the code and request id), never the status or headers, so the agent observes them here.
 */
export interface SlsResponseProbe {
  statusCode?: number;
  retryAfter?: string;
  requestId?: string;
  /** GetLogs' x-log-progress: Complete, or Incomplete when the query must be asked again. */
  progress?: string;
}

/** The option name under which a probe travels from `beforeRequest` to the agent. */
const PROBE_OPTION = 'flowlogResponseProbe';

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | dns.LookupAddress[],
  family?: number,
) => void;

/**
 * Builds the keep-alive agent the SDK's HTTP layer (httpx) uses for every request, doing two
 * things the SDK cannot:
 * - For a local endpoint (`http://127.0.0.1:PORT`), the SDK still asks for
 *   `http://<project>.127.0.0.1:PORT/...`, which is right for the Host header but not
 *   resolvable. A `lookup` override maps `<anything>.<endpoint address>` to the address, so the
 *   Host header stays `<project>.<endpoint host>` as the service expects. This is the least-bad
 *   way: the SDK builds the URL itself, httpx gives no way to set a Host header apart from the
 *   URL, and a `beforeRequest` rewrite of the host would lose keep-alive pooling per project.
 * - It records the response status and headers into the request's probe (see
 *   `probeRequestOptions`), through `addRequest`, which http.ClientRequest calls with the
 *   request options.
 *
 * Ownership: one agent per sink (or per setup run); `destroy()` it on close.
 */
export function createSlsAgent(endpoint: SlsEndpoint): http.Agent {
  const options: http.AgentOptions & { lookup?: unknown } = { keepAlive: true, maxSockets: 8 };
  const address = endpoint.connectAddress;
  if (address !== undefined) {
    const suffix = `.${endpoint.host.split(':')[0]}`;
    options.lookup = (hostname: string, opts: dns.LookupOptions, cb: LookupCallback) => {
      if (hostname.endsWith(suffix) || hostname === suffix.slice(1)) {
        if (opts.all) cb(null, [{ address, family: 4 }]);
        else cb(null, address, 4);
        return;
      }
      dns.lookup(hostname, opts, cb as never);
    };
  }
  const Base = endpoint.useHttps ? https.Agent : http.Agent;
  class ProbingAgent extends Base {
    // addRequest is not in @types/node's Agent, but is the documented hook ClientRequest calls.
    addRequest(req: http.ClientRequest, reqOptions: Record<string, unknown>): void {
      const probe = reqOptions[PROBE_OPTION] as SlsResponseProbe | undefined;
      if (probe !== undefined) {
        req.once('response', (res: http.IncomingMessage) => {
          probe.statusCode = res.statusCode;
          const retryAfter = res.headers['retry-after'];
          if (typeof retryAfter === 'string') probe.retryAfter = retryAfter;
          const requestId = res.headers['x-log-requestid'];
          if (typeof requestId === 'string') probe.requestId = requestId;
          const progress = res.headers['x-log-progress'];
          if (typeof progress === 'string') probe.progress = progress;
        });
      }
      (Base.prototype as unknown as { addRequest: (r: unknown, o: unknown) => void }).addRequest.call(
        this,
        req,
        reqOptions,
      );
    }
  }
  return new ProbingAgent(options);
}

/**
 * httpx options for one SDK call: the agent, timeouts, and a `beforeRequest` hook that hands
 * the probe to the agent with the request options.
 */
export function probeRequestOptions(
  agent: http.Agent,
  probe: SlsResponseProbe,
  timeouts: { connectTimeoutMs: number; readTimeoutMs: number },
): Record<string, unknown> {
  return {
    agent,
    connectTimeout: timeouts.connectTimeoutMs,
    readTimeout: timeouts.readTimeoutMs,
    beforeRequest: (o: Record<string, unknown>) => {
      o[PROBE_OPTION] = probe;
      return o;
    },
  };
}
