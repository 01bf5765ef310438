import type { Logger } from '../../src/log';

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg: string;
}

/** A logger double that keeps every line, for asserting how often (not just what) is logged. */
export function captureLogger(): { logger: Logger; lines: LogLine[]; at: (level: LogLine['level']) => LogLine[] } {
  const lines: LogLine[] = [];
  const method =
    (level: LogLine['level']) =>
    (obj: Record<string, unknown> | string, msg?: string): void => {
      if (typeof obj === 'string') lines.push({ level, obj: {}, msg: obj });
      else lines.push({ level, obj, msg: msg ?? '' });
    };
  const logger = {
    debug: method('debug'),
    info: method('info'),
    warn: method('warn'),
    error: method('error'),
  } as unknown as Logger;
  return { logger, lines, at: (level) => lines.filter((l) => l.level === level) };
}
