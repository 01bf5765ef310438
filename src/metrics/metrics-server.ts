/**
 * The operator endpoint: GET /metrics (Prometheus text) and GET /healthz (JSON, 200 or 503).
 * Bound to `metrics.listen`, loopback unless configured otherwise. Every request reads the
 * sources afresh; the server keeps no state of its own beyond the socket.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { log as processLog, type Logger } from '../log';
import { evaluateHealth } from './health-report';
import { formatHostPort, parseListenAddress, type ListenAddress } from './listen-address';
import { buildMetricRegistry } from './metric-registry';
import type { HealthSource, MetricsSource } from './metrics-source';

/** The endpoint could not be started (bad address, port in use, permission). */
export class MetricsServerError extends Error {
  override readonly name = 'MetricsServerError';
}

export interface MetricsServerOptions {
  /** "host:port" as in the config (`metrics.listen`); port 0 picks a free port. */
  listen: string;
  metrics: MetricsSource;
  health: HealthSource;
  /** Wall clock for /healthz, Unix ms; injectable for tests. */
  nowUnixMs?: () => number;
  logger?: Logger;
}

/**
 * Lifecycle: `start` resolves once listening (or rejects with MetricsServerError); `close`
 * stops accepting, ends idle keep-alive connections and resolves when the socket is closed.
 * The sources are borrowed: the server calls them per request and never after `close`.
 */
export class MetricsServer {
  private readonly registry: Registry;
  private readonly server: http.Server;
  private scrapeFailureLogged = false;

  private constructor(
    private readonly options: MetricsServerOptions,
    private bound: ListenAddress,
  ) {
    this.registry = buildMetricRegistry(options.metrics);
    this.server = http.createServer((req, res) => void this.handle(req, res));
    // A scrape is small; a slow or stuck client must not hold sockets forever.
    this.server.requestTimeout = 10_000;
    this.server.headersTimeout = 10_000;
  }

  static async start(options: MetricsServerOptions): Promise<MetricsServer> {
    const address = parseListenAddress(options.listen);
    if (!address) throw new MetricsServerError(`start metrics endpoint: not "host:port": "${options.listen}"`);
    const server = new MetricsServer(options, address);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) =>
        reject(
          new MetricsServerError(`start metrics endpoint on ${options.listen}: ${err.code ?? err.message}`, {
            cause: err,
          }),
        );
      server.server.once('error', onError);
      server.server.listen(address.port, address.host, () => {
        server.server.off('error', onError);
        resolve();
      });
    });
    const info = server.server.address() as AddressInfo;
    server.bound = { host: info.address, port: info.port };
    return server;
  }

  /** Where it listens (the real port when 0 was asked). */
  get address(): ListenAddress {
    return this.bound;
  }

  /** Base URL, e.g. "http://127.0.0.1:9465". */
  get url(): string {
    return `http://${formatHostPort(this.bound)}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res
        .writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' })
        .end('method not allowed\n');
      return;
    }
    try {
      if (path === '/metrics') {
        const body = await this.registry.metrics();
        res.writeHead(200, { 'content-type': this.registry.contentType }).end(req.method === 'HEAD' ? undefined : body);
      } else if (path === '/healthz') {
        const report = evaluateHealth(this.options.health, (this.options.nowUnixMs ?? Date.now)());
        const body = JSON.stringify(report) + '\n';
        res
          .writeHead(report.status === 'ok' ? 200 : 503, { 'content-type': 'application/json; charset=utf-8' })
          .end(req.method === 'HEAD' ? undefined : body);
      } else {
        res
          .writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
          .end('not found: try /metrics or /healthz\n');
      }
    } catch (err) {
      // A source broke its never-throw contract. Answer 500 and log once, not per scrape.
      if (!this.scrapeFailureLogged) {
        this.scrapeFailureLogged = true;
        (this.options.logger ?? processLog).error({ err, path }, `serve ${path}: ${(err as Error).message}`);
      }
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`serve ${path}: ${(err as Error).message}\n`);
    }
  }
}
