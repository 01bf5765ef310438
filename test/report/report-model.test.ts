import { describe, expect, it } from 'vitest';
import { RECORD_FIELDS, type FlowRecord } from '../../src/flow/record';
import { FlowReportBuilder } from '../../src/report/flow-report';
import { renderReportHtml } from '../../src/report/report-html';

/** A record: the 18 fields, OK ACCEPT by default. */
function rec(over: Partial<Record<string, string>>): FlowRecord {
  const base: Record<string, string> = {
    version: '1',
    'vswitch-id': 'vsw-1',
    'vm-id': 'i-1',
    'vpc-id': 'vpc-1',
    'account-id': '1',
    'eni-id': 'eni-1',
    srcaddr: '10.0.0.1',
    srcport: '40000',
    dstaddr: '10.0.0.2',
    dstport: '443',
    protocol: '6',
    direction: 'out',
    packets: '10',
    bytes: '1000',
    start: '1767225600',
    end: '1767225650',
    'log-status': 'OK',
    action: 'ACCEPT',
  };
  const r: FlowRecord = {};
  for (const f of RECORD_FIELDS) r[f] = over[f] ?? base[f];
  return r;
}

const SOURCE = { description: 'test', malformedLines: 0, generatedSec: 1767225600 };

describe('report model and page', () => {
  it('buckets three days by the hour and keeps every packet', () => {
    const b = new FlowReportBuilder();
    for (let h = 0; h < 72; h++) b.add(rec({ start: String(1767225600 + h * 3600 + 120), packets: String(h + 1) }));
    const r = b.build(10);
    expect(r.bucketSec).toBe(3600);
    expect(r.series).toHaveLength(72);
    expect(r.series.reduce((n, x) => n + x.outPackets, 0)).toBe((72 * 73) / 2);
  });

  it('lists a SKIPDATA of an uncaptured stretch as not counted, and says so', () => {
    const b = new FlowReportBuilder();
    b.add(
      rec({
        'log-status': 'SKIPDATA',
        packets: '-',
        bytes: '-',
        srcaddr: '-',
        dstaddr: '-',
        direction: '-',
        action: '-',
      }),
    );
    b.add(rec({ 'log-status': 'SKIPDATA', packets: '7', bytes: '-', start: '1767225660', end: '1767225720' }));
    const r = b.build(10);
    expect(r.losses.map((l) => l.packets)).toEqual([null, 7]);
    const html = renderReportHtml(r, SOURCE);
    expect(html).toContain('2 windows with SKIPDATA on 1 ENI: 7 packets lost, and 1 window not captured at all');
    expect(html).toContain('>not counted</td>');
  });

  it('counts traffic between ENIs of one VPC only', () => {
    const b = new FlowReportBuilder();
    b.add(rec({ 'eni-id': 'eni-a', srcaddr: '10.0.0.1', dstaddr: '10.0.0.2', direction: 'out' }));
    b.add(rec({ 'eni-id': 'eni-b', srcaddr: '10.0.0.1', dstaddr: '10.0.0.2', direction: 'in' }));
    // The same address pair in another VPC (an overlapping CIDR) is not the same ENIs.
    b.add(
      rec({
        'eni-id': 'eni-c',
        'vpc-id': 'vpc-2',
        srcaddr: '10.0.0.1',
        dstaddr: '10.0.0.2',
        direction: 'out',
        bytes: '5',
      }),
    );
    expect(b.build(10).pairs.map((p) => [p.srcEni, p.dstEni, p.bytes])).toEqual([['eni-a', 'eni-b', 1000]]);
  });

  it('escapes what records carry', () => {
    const b = new FlowReportBuilder();
    b.add(rec({ 'eni-id': '<img src=x onerror=alert(1)>', 'vm-id': '"quoted"&' }));
    const html = renderReportHtml(b.build(10), { ...SOURCE, description: '<b>file</b>' });
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<b>file');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('&quot;quoted&quot;&amp;');
  });
});
