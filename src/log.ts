import type { Logger as PinoLogger } from 'pino';

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/**
 * On a terminal, one readable line per entry ("15:04:05 WARN message {fields}") instead of JSON;
 * journald, files and pipes keep JSON. FLOWLOG_LOG_FORMAT=json forces JSON everywhere.
 */
function terminalDestination(): { write(line: string): void } {
  return {
    write(line: string): void {
      try {
        const {
          level,
          time,
          msg,
          pid: _pid,
          hostname: _host,
          name: _name,
          ...fields
        } = JSON.parse(line) as Record<string, unknown>;
        const extra = Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : '';
        const clock = new Date(Number(time)).toISOString().slice(11, 19);
        // eslint-disable-next-line @typescript-eslint/no-base-to-string -- pino writes msg as a string
        process.stderr.write(`${clock} ${LEVEL_NAMES[Number(level)] ?? String(level)} ${String(msg ?? '')}${extra}\n`);
      } catch {
        process.stderr.write(line);
      }
    },
  };
}

/**
 * The process logger. JSON lines on stderr (stdout may carry records with `--output -`), or
 * readable lines when stderr is a terminal. Secrets are redacted by key wherever they appear in
 * a logged object.
 */
function createLogger(): PinoLogger {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pino = require('pino') as typeof import('pino');
  return pino(
    {
      name: 'flowlog-agent',
      level: process.env.FLOWLOG_LOG_LEVEL ?? configuredLevel ?? 'info',
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
    process.stderr.isTTY && process.env.FLOWLOG_LOG_FORMAT !== 'json'
      ? terminalDestination()
      : pino.destination({ fd: 2, sync: true }),
  );
}

let instance: PinoLogger | undefined;
/** `log.level` from the config, set before the logger existed. */
let configuredLevel: string | undefined;

/**
 * The logger, created on first use: loading pino is a tenth of the start-up of a command (a
 * replay that logs nothing never pays it). Methods are bound to the one pino instance.
 */
export const log: PinoLogger = new Proxy({} as PinoLogger, {
  get(_target, key) {
    const logger = (instance ??= createLogger());
    const value: unknown = Reflect.get(logger, key, logger);
    return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(logger) : value;
  },
  set(_target, key, value) {
    return Reflect.set((instance ??= createLogger()), key, value);
  },
});

export type Logger = PinoLogger;

/** Applies the config's `log.level`, unless FLOWLOG_LOG_LEVEL was set (the environment wins). */
export function applyLogLevel(level: string): void {
  if (process.env.FLOWLOG_LOG_LEVEL !== undefined) return;
  if (instance === undefined)
    configuredLevel = level; // taken when the logger is created
  else instance.level = level;
}
