import { inspect } from 'node:util';

/*
 * The credentials contract shared by the providers (sls-credentials.ts, sls-ram-role.ts); its
 * own file so that neither provider module imports the other.
 */

/** An AccessKey pair, with an STS token when temporary. Never logged or put in a message. */
export interface SlsCredentials {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
}

/** Credentials could not be had. `retryable`: a later attempt may succeed (metadata service down). */
export class SlsCredentialsError extends Error {
  readonly retryable: boolean;
  constructor(message: string, retryable: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SlsCredentialsError';
    this.retryable = retryable;
  }
}

/**
 * A source of credentials, asked before every request (the SDK's `credentialsProvider`).
 *
 * Contract: `getCredentials` is a native async method (the SDK checks
 * `constructor.name === 'AsyncFunction'`), cheap when cached, and rejects only with
 * `SlsCredentialsError`. `invalidate` drops cached temporary credentials (after the service
 * says the token expired). Implementations never expose the secret in `toJSON` or `inspect`.
 */
export interface SlsCredentialsProvider {
  /** Where credentials come from, for messages: "environment", "file /etc/...", "RAM role X". */
  readonly description: string;
  getCredentials(): Promise<SlsCredentials>;
  invalidate(): void;
}

/** Shared redaction: providers print as their description only. */
export abstract class RedactedProvider {
  abstract readonly description: string;
  toJSON(): { credentials: string } {
    return { credentials: this.description };
  }
  [inspect.custom](): string {
    return `SlsCredentialsProvider(${this.description})`;
  }
}
