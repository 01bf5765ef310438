/**
 * The drain layout is written by C (flow-tc.h, ebpf-engine.h, ebpf-drain.c) and read by
 * TypeScript (drain-layout.ts): the two must name the same reasons, counters and offsets. Read
 * from the C sources themselves, so a reason added on one side only fails here, without root.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BYTE_FLAGS,
  BYTE_PROTOCOL,
  BYTE_TCP_FLAGS,
  F64_BYTES,
  F64_FIRST_US,
  F64_LAST_US,
  F64_PACKETS,
  LOSS_REASONS,
  LossReason,
  RECORD_BYTES,
  RECORD_IPV6,
  RECORD_ODD_SECOND,
  RECORD_OUT,
  STAT_NAMES,
  Stat,
  U16_DST_PORT,
  U16_SLOT,
  U16_SRC_PORT,
} from '../../../src/capture/ebpf/drain-layout';

const root = join(__dirname, '..', '..', '..');
const header = readFileSync(join(root, 'src/capture/ebpf/flow-tc.h'), 'utf8');
const drainC = readFileSync(join(root, 'src/capture/native/ebpf-drain.c'), 'utf8');
const engineH = readFileSync(join(root, 'src/capture/native/ebpf-engine.h'), 'utf8');

/** NAME = value pairs of a C enum. */
function cEnum(name: string): Map<string, number> {
  const body = new RegExp(`enum ${name} \\{([\\s\\S]*?)\\};`).exec(header)?.[1] ?? '';
  const out = new Map<string, number>();
  for (const m of body.matchAll(/^\s*([A-Z_]+) = (\d+),/gm)) out.set(m[1], Number(m[2]));
  return out;
}

describe('drain layout shared by C and TypeScript', () => {
  it('has the loss reasons of flow-tc.h, in order', () => {
    const c = cEnum('loss_reason');
    const names = [...c.entries()]
      .filter(([k]) => k !== 'LOSS_REASONS')
      .map(([k, v]) => [k.replace(/^LOSS_/, '').toLowerCase(), v]);
    expect(names).toEqual(LOSS_REASONS.map((r, i) => [r.name, i]));
    expect(c.get('LOSS_REASONS')).toBe(LOSS_REASONS.length);
    expect(Object.values(LossReason)).toEqual(LOSS_REASONS.map((_, i) => i));
  });

  it('has the counters of flow-tc.h, in order', () => {
    const c = cEnum('flow_stat');
    const names = [...c.entries()]
      .filter(([k]) => k !== 'STAT_COUNT')
      .map(([k, v]) => [k.replace(/^STAT_/, '').toLowerCase(), v]);
    expect(names).toEqual(STAT_NAMES.map((n, i) => [n, i]));
    expect(c.get('STAT_COUNT')).toBe(STAT_NAMES.length);
    expect(Object.values(Stat)).toEqual(STAT_NAMES.map((_, i) => i));
  });

  it('writes records at the offsets drain-layout.ts reads', () => {
    expect(engineH).toContain(`#define RECORD_BYTES ${RECORD_BYTES}`);
    expect(header).toMatch(/#define FLOW_OUT 0x0*1\b/);
    expect(header).toMatch(/#define FLOW_IPV6 0x0*2\b/);
    expect(header).toMatch(/#define FLOW_ODD_SECOND 0x0*4\b/);
    expect([RECORD_OUT, RECORD_IPV6, RECORD_ODD_SECOND]).toEqual([1, 2, 4]);
    const writes: Array<[RegExp, number]> = [
      [/memcpy\(r \+ 32, &k->slot, 2\)/, U16_SLOT * 2],
      [/r\[34\] = k->flags/, BYTE_FLAGS],
      [/r\[35\] = k->proto/, BYTE_PROTOCOL],
      [/memcpy\(r \+ 36, &sport, 2\)/, U16_SRC_PORT * 2],
      [/memcpy\(r \+ 38, &dport, 2\)/, U16_DST_PORT * 2],
      [/r\[40\] = v->tcp_flags/, BYTE_TCP_FLAGS],
      [/put_f64\(r \+ 48, \(double\)v->packets\)/, F64_PACKETS * 8],
      [/put_f64\(r \+ 56, \(double\)v->bytes\)/, F64_BYTES * 8],
      [/put_f64\(r \+ 64,/, F64_FIRST_US * 8],
      [/put_f64\(r \+ 72,/, F64_LAST_US * 8],
    ];
    for (const [pattern, offset] of writes) {
      expect(drainC).toMatch(pattern);
      expect(Number(/r(?:\[| \+ )(\d+)/.exec(pattern.source.replace(/\\/g, ''))?.[1])).toBe(offset);
    }
  });
});
