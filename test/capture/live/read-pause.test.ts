import { describe, expect, it } from 'vitest';
import { readPauseMs } from '../../../src/capture/live/chunk-handle';

// A pause may let at most half the ring fill with a 1.5 Mpps burst of full-snaplen frames, each
// taking its snaplen plus 64 ring bytes (1,500 x 192 = 288,000 bytes a millisecond at snaplen
// 128): ringBytes / 2 / that, rounded down, and never above the configured pause.
describe('readPauseMs', () => {
  it.each([
    // [configured ms, ring bytes, snaplen, pause]
    [40, 32 * 1024 * 1024, 128, 40], // the default ring: 58.25 ms allowed, the configured 40 kept
    [100, 32 * 1024 * 1024, 128, 58], // 16,777,216 / 288,000 = 58.25
    [40, 32 * 1024 * 1024, 256, 34], // an overlay device: 16,777,216 / 480,000 = 34.95
    [40, 4 * 1024 * 1024, 128, 7], // 2,097,152 / 288,000 = 7.28
    [40, 768 * 1024, 128, 1], // 393,216 / 288,000 = 1.37
    [40, 512 * 1024, 128, 0], // the minimum share (a dense host): no pause
    [0, 32 * 1024 * 1024, 128, 0], // turned off
  ])('pause %i ms, ring %i bytes, snaplen %i -> %i ms', (wanted, ring, snaplen, expected) => {
    expect(readPauseMs(wanted, ring, snaplen)).toBe(expected);
  });
});
