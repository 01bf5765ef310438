import type { AgentConfig, FlowLogConfig } from '../config/types';
import { FileSink } from './file-sink';
import type { Sink } from './sink';
import type { SlsCredentialsProvider } from './sls/sls-credentials-contract';
import { StdoutSink } from './stdout-sink';

/**
 * Builds each flow log's sink from the config. Credentials are resolved once, on the first SLS
 * sink, and shared by every SLS sink of the process.
 * @throws the credentials or endpoint error of an SLS sink that cannot be set up at all.
 */
export class SinkFactory {
  private credentials: SlsCredentialsProvider | undefined;

  constructor(private readonly config: AgentConfig) {}

  create(flowLog: FlowLogConfig): Sink {
    const s = flowLog.sink;
    switch (s.type) {
      case 'file':
        return new FileSink(s.path);
      case 'stdout':
        return new StdoutSink();
      case 'sls': {
        // Loaded on first use: the Log Service SDK costs a tenth of a second at start-up that a
        // replay to files should not pay.
        /* eslint-disable @typescript-eslint/no-require-imports */
        const { resolveSlsCredentials } = require('./sls/sls-credentials') as typeof import('./sls/sls-credentials');
        const { SlsSink } = require('./sls/sls-sink') as typeof import('./sls/sls-sink');
        /* eslint-enable @typescript-eslint/no-require-imports */
        this.credentials ??= resolveSlsCredentials({
          credentials: this.config.credentials,
          metadataUrl: this.config.discovery.metadataUrl,
          hardened: this.config.discovery.hardened,
          allowNormalMode: this.config.discovery.allowNormalMode,
        });
        return new SlsSink({
          sink: s,
          region: this.config.region,
          credentials: this.credentials,
          requestTimeoutMs: this.config.delivery.requestTimeoutMs,
        });
      }
    }
  }

  /** The sink of flow log `id`, or undefined when the config has no such flow log. */
  createById(id: string): Sink | undefined {
    const fl = this.config.flowLogs.find((f) => f.id === id);
    return fl ? this.create(fl) : undefined;
  }
}
