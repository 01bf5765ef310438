import { describe, expect, it } from 'vitest';
import { readPauseMs } from '../../src/capture/chunk-handle';

// A pause may let at most half the ring fill with a 1.5 Mpps burst of 192-byte ring records
// (288,000 bytes a millisecond): ringBytes / 2 / 288000, rounded down, and never above the
// configured pause.
describe('readPauseMs', () => {
  it.each([
    // [configured ms, ring bytes, pause]
    [40, 32 * 1024 * 1024, 40], // the default ring: 58.25 ms allowed, the configured 40 kept
    [100, 32 * 1024 * 1024, 58], // 16,777,216 / 288,000 = 58.25
    [40, 4 * 1024 * 1024, 7], // 2,097,152 / 288,000 = 7.28
    [40, 2 * 1024 * 1024, 3], // 1,048,576 / 288,000 = 3.64
    [40, 512 * 1024, 0], // a dense host's share: no pause
    [0, 32 * 1024 * 1024, 0], // turned off
  ])('pause %i ms, ring %i bytes -> %i ms', (wanted, ring, expected) => {
    expect(readPauseMs(wanted, ring)).toBe(expected);
  });
});
