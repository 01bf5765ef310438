/**
 * `flowlog-agent query FILE... [--where EXPR] [--group F,F --top N --by bytes|packets]`:
 * answers "who talks most" and "what was rejected" from file-sink output on a laptop, as the
 * Log Service console would. Results go to stdout; the summary and problems to stderr.
 * Exit 0 on success (also with no match), 2 for a bad expression, option or unreadable file.
 */
import type { CommandModule } from 'yargs';
import type { FlowRecord } from '../flow/record';
import { newRecordReadStats, readRecordFile, RecordFileError } from '../query/record-file-reader';
import { GroupSums, TopRecords, type RankMeasure } from '../query/record-ranking';
import { formatCount, formatUnixSeconds, renderTable, type TableColumn } from '../query/text-table';
import { compileWhere, type RecordPredicate } from '../query/where-eval';
import { WhereError } from '../query/where-lexer';
import { QUERY_FIELDS } from '../query/where-parser';

/** Where runQuery writes; process.stdout/stderr or a test double. */
export interface TextOutput {
  write(text: string): unknown;
}

export interface QueryArgs {
  files: string[];
  where?: string;
  /** Group-by fields, as a list or one comma-separated string. */
  group?: string[] | string;
  /** Groups (or, without --group, records) shown when ranking; default 10. */
  top?: number;
  by?: RankMeasure;
  /** Records listed without --group/--top; default 50. */
  limit?: number;
  format?: 'table' | 'json';
}

export const EXIT_QUERY_USAGE = 2;
const DEFAULT_TOP = 10;
const DEFAULT_LIMIT = 50;
/** Typed, not a literal: yargs infers the option's type from its default. */
const DEFAULT_RANK: RankMeasure = 'bytes';

/** Record columns shown by the table listing; the JSON format keeps every field. */
const LIST_COLUMNS: readonly { field: string; header: string; align: 'left' | 'right'; show: (v: string) => string }[] =
  [
    { field: 'start', header: 'start (UTC)', align: 'left', show: formatUnixSeconds },
    { field: 'end', header: 'end (UTC)', align: 'left', show: formatUnixSeconds },
    { field: 'eni-id', header: 'eni-id', align: 'left', show: (v) => v },
    { field: 'direction', header: 'dir', align: 'left', show: (v) => v },
    { field: 'srcaddr', header: 'srcaddr', align: 'left', show: (v) => v },
    { field: 'srcport', header: 'srcport', align: 'right', show: (v) => v },
    { field: 'dstaddr', header: 'dstaddr', align: 'left', show: (v) => v },
    { field: 'dstport', header: 'dstport', align: 'right', show: (v) => v },
    { field: 'protocol', header: 'proto', align: 'right', show: (v) => v },
    { field: 'packets', header: 'packets', align: 'right', show: showCount },
    { field: 'bytes', header: 'bytes', align: 'right', show: showCount },
    { field: 'action', header: 'action', align: 'left', show: (v) => v },
    { field: 'log-status', header: 'log-status', align: 'left', show: (v) => v },
  ];

const RIGHT_ALIGNED_FIELDS = new Set(['srcport', 'dstport', 'protocol', 'packets', 'bytes', 'start', 'end', 'version']);

/** Runs one query; returns the exit status. Never throws for bad input. */
export async function runQuery(args: QueryArgs, out: TextOutput, err: TextOutput): Promise<number> {
  const fail = (message: string): number => {
    err.write(`flowlog-agent query: ${message}\n`);
    return EXIT_QUERY_USAGE;
  };
  if (args.files.length === 0) return fail('name at least one record file');
  const groupFields = splitFields(args.group);
  const unknown = groupFields.find((f) => !QUERY_FIELDS.includes(f));
  if (unknown !== undefined) return fail(`--group: unknown field "${unknown}" (fields: ${QUERY_FIELDS.join(', ')})`);
  const by = args.by ?? 'bytes';
  if (by !== 'bytes' && by !== 'packets') return fail(`--by: must be bytes or packets, got "${String(by)}"`);
  const format = args.format ?? 'table';
  if (format !== 'table' && format !== 'json') return fail(`--format: must be table or json, got "${String(format)}"`);
  for (const [name, value] of [
    ['--top', args.top],
    ['--limit', args.limit],
  ] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
      return fail(`${name}: must be a whole number >= 1, got ${String(value)}`);
    }
  }

  let predicate: RecordPredicate;
  try {
    predicate = compileWhere(args.where);
  } catch (e) {
    if (e instanceof WhereError) return fail(e.message);
    throw e;
  }

  const groups = groupFields.length > 0 ? new GroupSums(groupFields) : undefined;
  const ranked = groups
    ? undefined
    : args.top !== undefined
      ? TopRecords.largest(args.top, by)
      : TopRecords.newest(args.limit ?? DEFAULT_LIMIT);
  let matched = 0;
  const onRecord = (record: FlowRecord): void => {
    if (!predicate(record)) return;
    matched++;
    if (groups) groups.add(record);
    else ranked?.add(record);
  };
  const stats = newRecordReadStats();
  for (const file of args.files) {
    try {
      await readRecordFile(file, onRecord, stats);
    } catch (e) {
      if (e instanceof RecordFileError) return fail(e.message);
      throw e;
    }
  }

  if (groups) {
    const top = groups.top(args.top ?? DEFAULT_TOP, by);
    out.write(format === 'json' ? groupsAsJson(groupFields, top) : groupsAsTable(groupFields, top));
  } else {
    const records = ranked?.result() ?? [];
    out.write(format === 'json' ? records.map((r) => JSON.stringify(r) + '\n').join('') : formatRecordsTable(records));
  }

  const files = `${args.files.length} file${args.files.length === 1 ? '' : 's'}`;
  const groupNote = groups ? `, ${groups.size} group${groups.size === 1 ? '' : 's'}` : '';
  err.write(`flowlog-agent query: ${matched} of ${stats.records} records matched in ${files}${groupNote}\n`);
  if (stats.malformedLines > 0) {
    err.write(
      `flowlog-agent query: skipped ${stats.malformedLines} malformed line${stats.malformedLines === 1 ? '' : 's'}` +
        ` (first: ${stats.firstMalformed})\n`,
    );
  }
  return 0;
}

function splitFields(group: string[] | string | undefined): string[] {
  if (group === undefined) return [];
  const parts = Array.isArray(group) ? group : [group];
  return parts
    .flatMap((p) => p.split(','))
    .map((f) => f.trim().toLowerCase())
    .filter((f) => f !== '');
}

function showCount(text: string): string {
  return /^\d+$/.test(text) ? formatCount(Number(text)) : text;
}

/** The listing table of `query`, also used by `status` for the last records of file sinks. */
export function formatRecordsTable(records: FlowRecord[]): string {
  const columns: TableColumn[] = LIST_COLUMNS.map((c) => ({ header: c.header, align: c.align }));
  return renderTable(
    columns,
    records.map((r) => LIST_COLUMNS.map((c) => c.show(r[c.field] ?? '-'))),
  );
}

function groupsAsTable(fields: string[], groups: ReturnType<GroupSums['top']>): string {
  const columns: TableColumn[] = [
    ...fields.map((f): TableColumn => ({ header: f, align: RIGHT_ALIGNED_FIELDS.has(f) ? 'right' : 'left' })),
    { header: 'records', align: 'right' },
    { header: 'packets', align: 'right' },
    { header: 'bytes', align: 'right' },
  ];
  return renderTable(
    columns,
    groups.map((g) => [...g.values, formatCount(g.records), formatCount(g.packets), formatCount(g.bytes)]),
  );
}

function groupsAsJson(fields: string[], groups: ReturnType<GroupSums['top']>): string {
  return groups
    .map((g) => {
      const row: Record<string, string | number> = {};
      fields.forEach((f, i) => (row[f] = g.values[i]));
      row.records = g.records;
      row.packets = g.packets;
      row.bytes = g.bytes;
      return JSON.stringify(row) + '\n';
    })
    .join('');
}

interface QueryArgv {
  files: string[];
  where?: string;
  group?: string[];
  top?: number;
  by: RankMeasure;
  limit: number;
  format: 'table' | 'json';
}

export const queryCommand: CommandModule<object, QueryArgv> = {
  command: 'query <files..>',
  describe: 'Filter, rank and sum flow-log records written by a file sink (JSON Lines)',
  builder: (yargs) =>
    yargs
      .positional('files', { type: 'string', array: true, demandOption: true, describe: 'JSON Lines record files' })
      .option('where', {
        alias: 'w',
        type: 'string',
        describe:
          "Filter, e.g. 'action=REJECT and dstport in (22,3389)' or 'srcaddr in 10.0.0.0/8'. " +
          'Operators = != > >= < <= in; and/or/not with parentheses. Numbers compare numerically, ' +
          'addresses by CIDR, other text case-insensitively.',
      })
      .option('group', {
        alias: 'g',
        type: 'string',
        array: true,
        describe: 'Sum packets, bytes and records per group of these fields, e.g. srcaddr,dstaddr,dstport',
      })
      .option('top', {
        alias: 't',
        type: 'number',
        describe: `Show the N largest groups (default ${DEFAULT_TOP}) or records`,
      })
      .option('by', {
        type: 'string',
        choices: ['bytes', 'packets'] as const,
        default: DEFAULT_RANK,
        describe: 'Rank by',
      })
      .option('limit', { alias: 'n', type: 'number', default: DEFAULT_LIMIT, describe: 'Records listed, newest first' })
      .option('format', { alias: 'f', type: 'string', choices: ['table', 'json'] as const, default: 'table' as const }),
  handler: async (argv) => {
    // exitCode, not exit(): lets buffered stdout drain (the table may be large).
    process.exitCode = await runQuery(argv, process.stdout, process.stderr);
  },
};
