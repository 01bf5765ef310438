import type { Logger } from '../log';
import { isLoopbackHost, parseListenAddress } from '../metrics/listen-address';
import { MetricsServer } from '../metrics/metrics-server';
import type { HealthSource, MetricsSource } from '../metrics/metrics-source';

/**
 * The daemon's /metrics and /healthz server, following `metrics.listen` across reloads.
 *
 * Lifecycle: `start` at daemon start (rejects with MetricsServerError: the operator asked for an
 * endpoint that cannot be served, so the daemon does not start), `follow` on every reload
 * (restarts only when the address changed; a failure then is logged and the endpoint stays off
 * until a later reload), `close` on stop. The sources are borrowed for the daemon's lifetime.
 */
export class MetricsEndpoint {
  private server: MetricsServer | null = null;
  private listen = '';

  constructor(
    private readonly source: MetricsSource & HealthSource,
    private readonly log: Logger,
  ) {}

  /** Base URL while serving, else undefined. */
  get url(): string | undefined {
    return this.server?.url;
  }

  /** Serves on `listen`; '' serves nothing. */
  async start(listen: string): Promise<void> {
    this.listen = listen;
    if (listen === '') return;
    this.server = await MetricsServer.start({ listen, metrics: this.source, health: this.source, logger: this.log });
    this.log.info({ url: this.server.url }, 'metrics endpoint listening');
    const host = parseListenAddress(listen)?.host;
    if (host !== undefined && !isLoopbackHost(host)) {
      // Allowed by metrics.allowNonLoopback (the config refuses it otherwise): say what it exposes, once.
      this.log.warn(
        { listen },
        `metrics endpoint on ${listen}, not loopback (metrics.allowNonLoopback): it has no authentication, and whoever reaches it reads this host's ENIs and traffic counters; firewall it`,
      );
    }
  }

  /** Restarts on `listen` when it differs from the current address. The old socket closes first: the new one may reuse its port. */
  async follow(listen: string): Promise<void> {
    if (listen === this.listen) return;
    await this.close();
    try {
      await this.start(listen);
    } catch (err) {
      this.log.error(
        { err: (err as Error).message, listen },
        'metrics endpoint not restarted; it stays off until the next reload',
      );
    }
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server !== null) await server.close();
  }
}
