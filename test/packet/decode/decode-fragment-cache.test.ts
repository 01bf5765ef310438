import { describe, expect, it } from 'vitest';
import { FragmentCache } from '../../../src/packet/decode/fragment-cache';

const SRC = Uint32Array.of(0x0a000001, 0, 0, 0);
const DST = Uint32Array.of(0x0a000002, 0, 0, 0);

/** Which of `ids` the cache still joins (at time `nowSec`). */
function found(cache: FragmentCache, ids: number[], nowSec = 0): number[] {
  return ids.filter((id) => cache.find(4, SRC, DST, id, false, nowSec));
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('FragmentCache', () => {
  it('keeps the newest `capacity` entries and counts the rest as evictions', () => {
    const cache = new FragmentCache(3);
    let evictions = 0;
    for (const id of range(1, 10)) if (cache.remember(4, SRC, DST, id, 17, id, id + 1, 0)) evictions++;
    expect(evictions).toBe(10 - 3);
    expect(found(cache, range(1, 10))).toEqual([8, 9, 10]);
    expect(cache.find(4, SRC, DST, 9, false, 0)).toBe(true);
    expect([cache.foundProtocol, cache.foundSrcPort, cache.foundDstPort]).toEqual([17, 9, 10]);
  });

  it('finds every entry of a full cache, and only the newest after wrapping many times', () => {
    const cache = new FragmentCache(1000);
    // Multiplicative spread of ids, so buckets see both collisions and empty chains.
    const ids = range(0, 4999).map((i) => Math.imul(i, 0x9e3779b1) >>> 0);
    for (const id of ids.slice(0, 1000)) cache.remember(4, SRC, DST, id, 6, 1, 2, 0);
    expect(found(cache, ids.slice(0, 1000)).length).toBe(1000);
    for (const id of ids.slice(1000)) cache.remember(4, SRC, DST, id, 6, 1, 2, 0);
    expect(found(cache, ids.slice(4000)).length).toBe(1000);
    expect(found(cache, ids.slice(0, 4000))).toEqual([]);
  });

  it('tells families and addresses apart', () => {
    const cache = new FragmentCache(8);
    cache.remember(6, SRC, DST, 5, 17, 1, 2, 0);
    expect(cache.find(4, SRC, DST, 5, false, 0)).toBe(false);
    expect(cache.find(6, DST, SRC, 5, false, 0)).toBe(false);
    expect(cache.find(6, Uint32Array.of(0x0a000001, 0, 0, 1), DST, 5, false, 0)).toBe(false);
    expect(cache.find(6, SRC, DST, 5, false, 0)).toBe(true);
  });

  it('does not count replacing a completed or timed-out entry as an eviction', () => {
    const cache = new FragmentCache(2, 30);
    cache.remember(4, SRC, DST, 1, 17, 1, 1, 100);
    cache.remember(4, SRC, DST, 2, 17, 2, 2, 100);
    expect(cache.find(4, SRC, DST, 1, true, 110)).toBe(true); // last fragment of 1
    expect(cache.remember(4, SRC, DST, 3, 17, 3, 3, 120)).toBe(false); // replaces completed 1
    expect(cache.remember(4, SRC, DST, 4, 17, 4, 4, 131)).toBe(false); // replaces 2, 31 s old
    expect(cache.remember(4, SRC, DST, 5, 17, 5, 5, 131)).toBe(true); // replaces 3, still waiting
    expect(found(cache, [1, 2, 3, 4, 5], 131)).toEqual([4, 5]);
  });

  it('keeps entries when the clock steps backwards', () => {
    const cache = new FragmentCache(2, 30);
    cache.remember(4, SRC, DST, 1, 17, 1, 1, 1000);
    expect(found(cache, [1], 900)).toEqual([1]);
  });

  it('with capacity 0 remembers nothing', () => {
    const cache = new FragmentCache(0);
    expect(cache.remember(4, SRC, DST, 1, 17, 1, 1, 0)).toBe(false);
    expect(found(cache, [1])).toEqual([]);
  });

  it.each([-1, 1.5, Number.NaN])('refuses capacity %s', (capacity) => {
    expect(() => new FragmentCache(capacity)).toThrow(RangeError);
  });
});
