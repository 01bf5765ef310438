import { readFileSync, statSync } from 'node:fs';
import type { CredentialsConfig } from '../../config/types';
import {
  RedactedProvider,
  SlsCredentialsError,
  type SlsCredentials,
  type SlsCredentialsProvider,
} from './sls-credentials-contract';
import { RamRoleCredentialsProvider } from './sls-ram-role';

export { SlsCredentialsError, type SlsCredentials, type SlsCredentialsProvider } from './sls-credentials-contract';
export { RamRoleCredentialsProvider, type RamRoleOptions } from './sls-ram-role';

export const ENV_ACCESS_KEY_ID = 'ALIBABA_CLOUD_ACCESS_KEY_ID';
export const ENV_ACCESS_KEY_SECRET = 'ALIBABA_CLOUD_ACCESS_KEY_SECRET';
export const ENV_SECURITY_TOKEN = 'ALIBABA_CLOUD_SECURITY_TOKEN';

/** Credentials from ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET / _SECURITY_TOKEN, read once. */
export class EnvCredentialsProvider extends RedactedProvider implements SlsCredentialsProvider {
  readonly description = 'environment';
  readonly #credentials: SlsCredentials;

  /** @throws SlsCredentialsError (permanent) when the key id or secret is missing. */
  constructor(env: NodeJS.ProcessEnv = process.env) {
    super();
    const accessKeyId = env[ENV_ACCESS_KEY_ID];
    const accessKeySecret = env[ENV_ACCESS_KEY_SECRET];
    if (!accessKeyId || !accessKeySecret) {
      throw new SlsCredentialsError(
        `find Log Service credentials: ${ENV_ACCESS_KEY_ID} and ${ENV_ACCESS_KEY_SECRET} are not both set; ` +
          'set them, or name credentials.file or credentials.ramRole in the config',
        false,
      );
    }
    const securityToken = env[ENV_SECURITY_TOKEN];
    this.#credentials = securityToken
      ? { accessKeyId, accessKeySecret, securityToken }
      : { accessKeyId, accessKeySecret };
  }

  async getCredentials(): Promise<SlsCredentials> {
    return this.#credentials;
  }

  invalidate(): void {}
}

/**
 * Credentials from a JSON file `{accessKeyId, accessKeySecret, securityToken?}`. Like ssh with a
 * private key, the file is refused when its group or others have any permission on it. It is
 * re-read when its modification time or size changes, so a rotated key needs no restart.
 */
export class FileCredentialsProvider extends RedactedProvider implements SlsCredentialsProvider {
  readonly description: string;
  readonly #path: string;
  #credentials: SlsCredentials;
  #stamp: string;

  /** @throws SlsCredentialsError (permanent) when the file is missing, too open or malformed. */
  constructor(path: string) {
    super();
    this.#path = path;
    this.description = `file ${path}`;
    const loaded = this.#load();
    this.#credentials = loaded.credentials;
    this.#stamp = loaded.stamp;
  }

  async getCredentials(): Promise<SlsCredentials> {
    let stamp: string;
    try {
      const st = statSync(this.#path);
      stamp = `${st.mtimeMs}:${st.size}:${st.mode}`;
    } catch (err) {
      throw new SlsCredentialsError(`read credentials file ${this.#path}: ${(err as Error).message}`, false, {
        cause: err,
      });
    }
    if (stamp !== this.#stamp) {
      const loaded = this.#load();
      this.#credentials = loaded.credentials;
      this.#stamp = loaded.stamp;
    }
    return this.#credentials;
  }

  invalidate(): void {}

  #load(): { credentials: SlsCredentials; stamp: string } {
    const path = this.#path;
    let text: string;
    let stamp: string;
    try {
      const st = statSync(path);
      if ((st.mode & 0o077) !== 0) {
        const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
        throw new SlsCredentialsError(
          `refuse credentials file ${path}: its mode ${mode} lets group or others access it; run chmod 600 ${path}`,
          false,
        );
      }
      stamp = `${st.mtimeMs}:${st.size}:${st.mode}`;
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if (err instanceof SlsCredentialsError) throw err;
      throw new SlsCredentialsError(`read credentials file ${path}: ${(err as Error).message}`, false, { cause: err });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Deliberately neither the parser's message nor it as cause: it may quote the secret.
      // Retryable: a file caught half-rewritten parses on the next attempt.
      throw new SlsCredentialsError(`parse credentials file ${path}: not valid JSON`, true);
    }
    const o = parsed as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || !isNonEmpty(o.accessKeyId) || !isNonEmpty(o.accessKeySecret)) {
      throw new SlsCredentialsError(
        `parse credentials file ${path}: expected {"accessKeyId": "...", "accessKeySecret": "...", "securityToken"?: "..."}`,
        false,
      );
    }
    if (o.securityToken !== undefined && typeof o.securityToken !== 'string') {
      throw new SlsCredentialsError(`parse credentials file ${path}: securityToken must be a string`, false);
    }
    const credentials: SlsCredentials = { accessKeyId: o.accessKeyId, accessKeySecret: o.accessKeySecret };
    if (isNonEmpty(o.securityToken)) credentials.securityToken = o.securityToken;
    return { credentials, stamp };
  }
}

function isNonEmpty(v: unknown): v is string {
  return typeof v === 'string' && v !== '';
}

/** What `resolveSlsCredentials` needs from the config. */
export interface SlsCredentialsOptions {
  credentials?: CredentialsConfig;
  /** `discovery.metadataUrl`; default http://100.100.100.200. */
  metadataUrl?: string;
  /** `discovery.hardened`: use the metadata token; default true. */
  hardened?: boolean;
  /** `discovery.allowNormalMode`: fall back to token-less requests; default true. */
  allowNormalMode?: boolean;
  env?: NodeJS.ProcessEnv;
}

/**
 * The provider the config asks for: the credentials file, else the RAM role, else the
 * environment variables.
 * @throws SlsCredentialsError (permanent) when both a file and a role are named, or the chosen
 *   source is unusable at startup (missing variables, file too open or malformed).
 */
export function resolveSlsCredentials(o: SlsCredentialsOptions = {}): SlsCredentialsProvider {
  const c = o.credentials ?? {};
  if (c.file !== undefined && c.ramRole !== undefined) {
    throw new SlsCredentialsError(
      'choose Log Service credentials: name credentials.file or credentials.ramRole, not both',
      false,
    );
  }
  if (c.file !== undefined) return new FileCredentialsProvider(c.file);
  if (c.ramRole !== undefined) {
    return new RamRoleCredentialsProvider({
      role: c.ramRole,
      metadataUrl: o.metadataUrl,
      hardened: o.hardened,
      allowNormalMode: o.allowNormalMode,
    });
  }
  return new EnvCredentialsProvider(o.env);
}
