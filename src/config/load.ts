/**
 * Reading a configuration file: YAML (positions kept), schema walk, cross-field rules, then
 * normalisation (absolute paths, canonical CIDRs). A file with any error is refused whole.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { runCrossChecks } from './cross-checks';
import { parseIpOrCidr } from './net-address';
import { AGENT_SCHEMA } from './schema';
import { SchemaWalk } from './schema-walk';
import type { AgentConfig, ConfigProblem } from './types';

/** A configuration refused: `problems` lists every error and warning found, in file order. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    /** The path as the caller gave it (used in messages). */
    readonly file: string,
    readonly problems: ConfigProblem[],
    options?: { cause?: unknown },
  ) {
    const errors = problems.filter((p) => p.severity === 'error');
    const lines = problems.map((p) => formatProblem(file, p));
    super(`load config ${file}: ${errors.length} error${errors.length === 1 ? '' : 's'}\n${lines.join('\n')}`, options);
  }
}

/**
 * One line for a problem: `[warning: ]<file>[:<line>]: [<key path>: ]<message>`, e.g.
 * `agent.yaml:12: flowLogs[1].aggregationInterval: must be 1, 5 or 10 minutes, got 7`.
 * List indexes in key paths are 0-based.
 */
export function formatProblem(file: string, p: ConfigProblem): string {
  const where = p.line !== undefined ? `${file}:${p.line}` : file;
  const path = p.path ? `${p.path}: ` : '';
  const text = `${where}: ${path}${p.message}`.replace(/\s*\n\s*/g, ' ');
  return p.severity === 'warning' ? `warning: ${text}` : text;
}

/** Why a file could not be read, in words; never a stack. */
export function describeReadError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EISDIR':
      return 'is a directory, not a file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Reads and validates `file`. Returns the config and the warnings; throws ConfigError (with
 * every error and warning) when anything is wrong, including an unreadable file.
 */
export function loadConfig(file: string): { config: AgentConfig; warnings: ConfigProblem[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(
      file,
      [{ severity: 'error', path: '', message: `read config file: ${describeReadError(err)}` }],
      { cause: err },
    );
  }
  return parseConfig(text, file);
}

/** Line order; problems without a line (file-level, top-level keys missing) come first. */
function byLine(a: ConfigProblem, b: ConfigProblem): number {
  return (a.line ?? 0) - (b.line ?? 0);
}

/**
 * Validates configuration text as if read from `file` (relative paths inside are resolved
 * against its directory). Same contract as loadConfig.
 */
export function parseConfig(text: string, file: string): { config: AgentConfig; warnings: ConfigProblem[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const yamlProblems: ConfigProblem[] = [];
  for (const [severity, list] of [
    ['error', doc.errors],
    ['warning', doc.warnings],
  ] as const) {
    for (const e of list) {
      // The library appends " at line L, column C:" and a source excerpt; the line goes in the prefix instead.
      const message = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
      const pos = e.linePos?.[0];
      const column = pos ? ` (column ${pos.col})` : '';
      yamlProblems.push({
        severity,
        path: '',
        message: `parse YAML: ${message}${column}`,
        ...(pos && { line: pos.line }),
      });
    }
  }
  if (doc.errors.length > 0) throw new ConfigError(file, yamlProblems.sort(byLine));

  if (doc.contents === null || (doc.contents as { value?: unknown }).value === null) {
    const keys = AGENT_SCHEMA.fields.filter((f) => f.required).map((f) => f.key);
    throw new ConfigError(file, [
      ...yamlProblems,
      { severity: 'error', path: '', message: `file is empty: expected a mapping with at least ${keys.join(', ')}` },
    ]);
  }

  const walk = new SchemaWalk(doc, lineCounter);
  const raw = walk.object(doc.contents, AGENT_SCHEMA.fields, '', '') ?? {};
  runCrossChecks(walk, raw);
  const problems = [...yamlProblems, ...walk.problems].sort(byLine);
  if (problems.some((p) => p.severity === 'error')) throw new ConfigError(file, problems);
  return { config: finish(raw, resolve(file)), warnings: problems };
}

/** Absolute paths and derived fields, on a value known to be valid. */
function finish(raw: Record<string, unknown>, sourcePath: string): AgentConfig {
  const config = raw as unknown as Omit<AgentConfig, 'sourcePath'>;
  const base = dirname(sourcePath);
  config.stateDir = resolve(base, config.stateDir);
  for (const eni of config.enis) {
    eni.cidrs = eni.ips.map((ip) => {
      const parsed = parseIpOrCidr(ip);
      if (!parsed.ok) throw new Error(`normalise ENI address: ${ip} passed validation but does not parse`);
      return parsed.value.cidr;
    });
  }
  for (const fl of config.flowLogs) {
    if (fl.sink.type === 'file') fl.sink.path = resolve(base, fl.sink.path);
  }
  if (config.credentials?.file !== undefined) config.credentials.file = resolve(base, config.credentials.file);
  // Key order of the output follows the schema; put sourcePath first for readable dumps.
  return { sourcePath, ...config };
}
