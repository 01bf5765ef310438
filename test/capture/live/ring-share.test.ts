import { describe, expect, it } from 'vitest';
import { RING_FLOOR_BYTES, ringShareBytes } from '../../../src/capture/live/ring-share';

const KiB = 1024;
const MiB = 1024 * KiB;

describe('ringShareBytes: one budget over every capture device', () => {
  it.each([
    // total, handles, cap, expected: an equal share in whole 256 KiB blocks, capped, floored
    [256 * MiB, 1, 32 * MiB, 32 * MiB],
    [256 * MiB, 8, 32 * MiB, 32 * MiB],
    [256 * MiB, 100, 32 * MiB, 2.5 * MiB],
    [256 * MiB, 500, 32 * MiB, 512 * KiB],
    [256 * MiB, 600, 32 * MiB, RING_FLOOR_BYTES],
    [256 * MiB, 0, 32 * MiB, 32 * MiB],
    [256 * MiB, 3, 64 * KiB, 64 * KiB],
  ])('%d bytes over %d devices, at most %d: %d', (total, handles, cap, expected) => {
    expect(ringShareBytes(total, handles, cap)).toBe(expected);
  });

  it('never gives the devices more than the budget when the budget allows the floor', () => {
    for (let n = 1; n <= 512; n++) expect(ringShareBytes(256 * MiB, n, 32 * MiB) * n).toBeLessThanOrEqual(256 * MiB);
  });
});
