import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importCycles, importGraph, type ImportEdge } from './helpers/import-graph';

const SRC = join(__dirname, '..', 'src');

/**
 * The data flow of the source tree (docs: LAYOUT of issue 33), imports running one way: a stage
 * imports only the stages to its left (the ones whose output it takes), never one to its right.
 *
 *   config, log → capture → packet → flow → output → agent → daemon → cli
 */
const STAGES = ['config', 'log', 'capture', 'packet', 'flow', 'output', 'agent', 'daemon', 'cli'] as const;
const RANK: Record<string, number> = {
  config: 0,
  log: 0,
  capture: 1,
  packet: 2,
  flow: 3,
  output: 4,
  agent: 5,
  daemon: 6,
  cli: 7,
};

/**
 * Side folders: what each may import, and which stages may import it.
 * enrich: the ENI inventory, discovery and policy, used by the packet path and later stages; it
 *   reads decoded packets (packet/decode's PacketView) and formats addresses as records do.
 * metrics: metric contracts (in record terms) and their server; every stage may report.
 * query, report, synth: tools the CLI uses, over records and the output formats.
 */
const SIDE: Record<string, { imports: readonly string[]; importedBy: readonly string[] }> = {
  enrich: {
    imports: ['config', 'log', 'capture', 'packet/decode', 'flow/address-format.ts', 'metrics'],
    importedBy: ['packet', 'flow', 'output', 'agent', 'daemon', 'cli'],
  },
  metrics: { imports: ['config', 'log', 'flow/record.ts'], importedBy: [...STAGES] },
  query: { imports: ['config', 'log', 'flow', 'output'], importedBy: ['cli', 'report'] },
  report: { imports: ['config', 'log', 'flow', 'output', 'query'], importedBy: ['cli'] },
  synth: { imports: ['config', 'log', 'capture', 'packet', 'flow', 'output'], importedBy: ['cli'] },
};

/**
 * Imports that cross the flow on purpose, each with its reason. Leaves only: a file here imports
 * nothing of its stage, so no cycle can run through it.
 */
const ALLOWED: Record<string, string> = {
  'config/schema.ts -> output/sls/sls-limits.ts':
    'the Log Service limits, defined once where the protocol is and bounding delivery.maxBatch*',
  'config/schema.ts -> capture/live/ring-share.ts': 'the capture ring floor bounds capture.bufferBytes',
  'config/cross-checks.ts -> capture/live/ring-share.ts': 'the capture ring floor bounds capture.totalBufferBytes',
};

function folderOf(rel: string): string {
  return rel === 'log.ts' ? 'log' : rel.split('/')[0];
}

const within = (rel: string, prefixes: readonly string[]): boolean =>
  prefixes.some((p) => rel === p || rel.startsWith(`${p}/`) || (p === 'log' && rel === 'log.ts'));

/** Why `e` runs against the flow, or null when it does not. */
export function againstTheFlow(e: ImportEdge): string | null {
  const from = folderOf(e.from);
  const to = folderOf(e.to);
  if (from === to) return null;
  if (ALLOWED[`${e.from} -> ${e.to}`] !== undefined) return null;
  const side = SIDE[from];
  if (side !== undefined)
    return within(e.to, side.imports) ? null : `${from}/ (a side folder) may import ${side.imports.join(', ')} only`;
  const target = SIDE[to];
  if (target !== undefined)
    return target.importedBy.includes(from) ? null : `${to}/ is for ${target.importedBy.join(', ')}`;
  if (RANK[from] === undefined || RANK[to] === undefined)
    return `${from === undefined ? e.from : from} or ${to}: not a folder of the layout`;
  return RANK[to] <= RANK[from] ? null : `${from}/ imports ${to}/, a later stage`;
}

describe('imports follow the data flow (capture → packet → flow → output → agent → daemon → cli)', () => {
  const edges = importGraph(SRC);

  it('parses the imports of every source file', () => {
    // A parse that found nothing would make the rules below pass vacuously.
    expect(edges.length).toBeGreaterThan(400);
    expect(edges.some((e) => e.from === 'cli/main.ts' && e.to === 'cli/replay-command.ts')).toBe(true); // a lazy require()
    expect(edges.some((e) => e.typeOnly)).toBe(true);
  });

  it('no import runs against the flow', () => {
    const against = edges.flatMap((e) => {
      const why = againstTheFlow(e);
      return why === null ? [] : [`${e.from} -> ${e.to}${e.typeOnly ? ' (types)' : ''}: ${why}`];
    });
    expect(against).toEqual([]);
  });

  it('no import cycle', () => {
    expect(importCycles(edges)).toEqual([]);
  });

  it('the rules catch what they are for', () => {
    // Oracles for the checker itself: edges the layout forbids and allows.
    expect(againstTheFlow({ from: 'daemon/flowlog-daemon.ts', to: 'cli/cli-files.ts', typeOnly: false })).toMatch(
      /later stage/,
    );
    expect(
      againstTheFlow({ from: 'capture/live/live-source.ts', to: 'packet/chunk-recorder.ts', typeOnly: true }),
    ).toMatch(/later stage/);
    expect(againstTheFlow({ from: 'config/schema.ts', to: 'enrich/policy/rule-list.ts', typeOnly: false })).toMatch(
      /enrich/,
    );
    expect(againstTheFlow({ from: 'output/sink.ts', to: 'flow/record.ts', typeOnly: true })).toBeNull();
    expect(againstTheFlow({ from: 'cli/main.ts', to: 'agent/agent.ts', typeOnly: false })).toBeNull();
    expect(
      importCycles([
        { from: 'a.ts', to: 'b.ts', typeOnly: false },
        { from: 'b.ts', to: 'c.ts', typeOnly: true },
        { from: 'c.ts', to: 'a.ts', typeOnly: false },
        { from: 'c.ts', to: 'd.ts', typeOnly: false },
      ]),
    ).toEqual([['a.ts', 'b.ts', 'c.ts']]);
  });
});
