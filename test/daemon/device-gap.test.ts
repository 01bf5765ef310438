import { describe, expect, it } from 'vitest';
import { DeviceGap, realtimeUs } from '../../src/daemon/device-gap';

const at = (ifindex: number, packets: number) => ({ ifindex, packets });

describe('DeviceGap: what a device carried while not captured, from its own counters', () => {
  it('counts from the counters at its start, window by window, and at the open less what the capture read stamped before', () => {
    const gap = new DeviceGap(at(7, 1000), null, 0);
    expect(gap.sample(at(7, 1040))).toBe(40); // a window closed meanwhile
    expect(gap.sample(at(7, 1040))).toBe(0);
    // Opened: the counters then say 1055; the new capture read 3 packets stamped before the read.
    expect(gap.endAtOpen(at(7, 1055), 3)).toBe(12);
    expect(gap.lost).toBe(52);
  });

  it('counts a device that appeared after its ENI was wanted from its counters then (0 when new)', () => {
    const gap = new DeviceGap(at(9, 25), 0, 0);
    expect(gap.endAtOpen(at(9, 31), 2)).toBe(29);
  });

  it('starts a gap as a capture closes past the records it still read stamped after the counters', () => {
    const gap = DeviceGap.afterClose(at(4, 500), { atSec: 0, atUsec: 0, atOrBefore: 10, after: 6 }, 0);
    // 506 were read by the old capture; 520 carried at the new one's open, 2 of them read by it.
    expect(gap.endAtOpen(at(4, 520), 2)).toBe(12);
  });

  it('restarts from the new instance when the device is re-created, and never counts backwards', () => {
    const gap = new DeviceGap(at(4, 500), null, 0);
    expect(gap.sample(at(4, 0))).toBe(0); // a veth being deleted reads 0 for a moment
    expect(gap.sample(at(5, 30))).toBe(0); // another instance: only `renew` switches to it
    gap.renew(5);
    expect(gap.sample(at(5, 30))).toBe(30);
    expect(gap.endAtOpen(at(6, 4), 1)).toBe(3); // replaced again while opening: counted from 0
  });

  it('reads the wall clock in microseconds, as the kernel stamps packets', () => {
    const us = realtimeUs();
    expect(Math.abs(us / 1000 - Date.now())).toBeLessThan(5);
    expect(Number.isInteger(us)).toBe(true);
  });
});
