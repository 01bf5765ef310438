import { describe, expect, it } from 'vitest';
import { DecodeStatus } from '../../src/packet/decode/packet-view';
import { FlowTable } from '../../src/flow/flow-table';
import { PacketCounters } from '../../src/packet/flow-recorder';
import { WindowDropSummary } from '../../src/flow/window-drop-summary';
import { captureLogger } from '../helpers/capture-logger';

function window(lost: number[]) {
  return {
    intervalSec: 60,
    startSec: 120,
    endSec: 180,
    table: new FlowTable(1),
    eniPackets: new Float64Array(2),
    eniLostPackets: Float64Array.from(lost),
    eniLostBytes: new Float64Array(2),
    eniCaptured: new Uint8Array(2).fill(1),
  };
}

describe('WindowDropSummary', () => {
  it('logs once per window what was dropped since the last window, and nothing for a clean window', () => {
    const counters = new PacketCounters(2);
    const { logger, lines } = captureLogger();
    const summary = new WindowDropSummary(counters, ['eni-a', 'eni-b'], logger);
    counters.byStatus[DecodeStatus.Truncated] += 3;
    counters.byStatus[DecodeStatus.NotIp] += 9; // not a drop: well-formed non-IP frames
    counters.unattributed += 4;
    summary.onWindowClosed(window([0, 7]));
    summary.onWindowClosed(window([0, 0])); // nothing new: silent
    counters.byStatus[DecodeStatus.BadLength] += 1;
    summary.onWindowClosed(window([0, 0]));
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [
        'warn',
        'window 1970-01-01T00:02:00.000Z..1970-01-01T00:03:00.000Z: 7 packets not recorded (SKIPDATA written); 3 malformed packets skipped; 4 packets of no configured ENI skipped',
      ],
      ['info', 'window 1970-01-01T00:02:00.000Z..1970-01-01T00:03:00.000Z: 1 malformed packets skipped'],
    ]);
  });
});
