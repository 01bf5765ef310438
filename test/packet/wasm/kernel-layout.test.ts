import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TABLE_DESCRIPTOR, TABLE_DESCRIPTOR_WORDS } from '../../../src/packet/wasm/kernel-layout';

const ROOT = join(__dirname, '..', '..', '..');
const ASSEMBLY = readFileSync(join(ROOT, 'src/packet/wasm/assembly/flow-update.ts'), 'utf8');

/** `T_<NAME> = <byte offset>` of the AssemblyScript side, by name. */
function assemblyOffsets(): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of ASSEMBLY.matchAll(/^(?:export )?const (T_[A-Z0-9_]+)(?::\s*u32)? = (\d+);/gm))
    out.set(m[1], Number(m[2]));
  return out;
}

const asName = (field: string): string => `T_${field.replace(/([A-Z])/g, '_$1').toUpperCase()}`;

describe('the packet kernel layout (one spec, both sides)', () => {
  it('every descriptor field of the spec is at 4 x its word on the AssemblyScript side, and no other', () => {
    const offsets = assemblyOffsets();
    const expected = new Map(Object.entries(TABLE_DESCRIPTOR).map(([field, word]) => [asName(field), word * 4]));
    expect(Object.fromEntries(offsets)).toEqual(Object.fromEntries(expected));
  });

  it('a descriptor is TABLE_BYTES long, and the spec fits in it', () => {
    const bytes = /export const TABLE_BYTES: u32 = (\d+);/.exec(ASSEMBLY);
    expect(bytes).not.toBeNull();
    expect(Number(bytes![1])).toBe(TABLE_DESCRIPTOR_WORDS * 4);
    // baseSec is a float64: two words, 8-byte aligned.
    expect(TABLE_DESCRIPTOR.baseSec % 2).toBe(0);
    expect(Math.max(...Object.values(TABLE_DESCRIPTOR)) + 1).toBeLessThanOrEqual(TABLE_DESCRIPTOR_WORDS);
  });

  it('the words are distinct (the float64 takes two)', () => {
    const words = Object.values(TABLE_DESCRIPTOR).flatMap((w) => (w === TABLE_DESCRIPTOR.baseSec ? [w, w + 1] : [w]));
    expect(new Set(words).size).toBe(words.length);
  });
});
