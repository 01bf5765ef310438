import pino from 'pino';

/**
 * The process logger. JSON lines on stderr (stdout may carry records with `--output -`).
 * Secrets are redacted by key wherever they appear in a logged object.
 */
export const log = pino(
  {
    name: 'flowlog-agent',
    level: process.env.FLOWLOG_LOG_LEVEL ?? 'info',
    redact: {
      paths: [
        'accessKeyId',
        'accessKeySecret',
        'securityToken',
        '*.accessKeyId',
        '*.accessKeySecret',
        '*.securityToken',
        'headers.authorization',
        'headers["x-acs-security-token"]',
      ],
      censor: '[redacted]',
    },
  },
  pino.destination({ fd: 2, sync: true }),
);

export type Logger = typeof log;

/** Applies the config's `log.level`, unless FLOWLOG_LOG_LEVEL was set (the environment wins). */
export function applyLogLevel(level: string): void {
  if (process.env.FLOWLOG_LOG_LEVEL === undefined) log.level = level;
}
