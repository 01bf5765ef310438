import { describe, expect, it } from 'vitest';
import { RECORD_FIELDS, type FlowRecord } from '../../src/flow/record';
import { compileWhere } from '../../src/query/where-eval';
import { WhereError } from '../../src/query/where-lexer';

/** A complete record: an accepted inbound SSH flow, with `over` replacing fields. */
function rec(over: Partial<Record<string, string>> = {}): FlowRecord {
  const base: FlowRecord = {};
  for (const f of RECORD_FIELDS) base[f] = '-';
  return {
    ...base,
    'eni-id': 'eni-a',
    srcaddr: '203.0.113.7',
    srcport: '51000',
    dstaddr: '10.0.0.5',
    dstport: '22',
    protocol: '6',
    direction: 'in',
    packets: '3',
    bytes: '180',
    start: '1714557600',
    end: '1714557660',
    'log-status': 'OK',
    action: 'ACCEPT',
    ...over,
  };
}

describe('query --where matching', () => {
  const cases: [string, Partial<Record<string, string>>, boolean][] = [
    ['action=REJECT and dstport=22', { action: 'REJECT' }, true],
    ['action=REJECT and dstport=22', {}, false],
    ['action=reject', { action: 'REJECT' }, true], // text is case-insensitive
    ['ACTION = REJECT AND DSTPORT = 22', { action: 'REJECT' }, true], // keywords and fields too
    ['dstport=022', {}, true], // numeric: 022 == 22
    ['dstport!=22', {}, false],
    ['dstport in (22,3389)', { dstport: '3389' }, true],
    ['dstport in (22, 3389)', { dstport: '443' }, false],
    ['packets > 2', {}, true],
    ['packets > 3', {}, false],
    ['packets >= 3', {}, true],
    ['bytes < 180', {}, false],
    ['bytes <= 180', {}, true],
    ['bytes > 100', { bytes: '-' }, false], // NODATA records have no counts
    ['bytes != 100', { bytes: '-' }, true],
    ['srcport = -', { srcport: '-' }, true],
    ['packets > 9', { packets: '10' }, true], // numeric, not text order ("10" < "9" as text)
    ['srcaddr in 203.0.113.0/24', {}, true],
    ['srcaddr in 203.0.112.0/24', {}, false],
    ['srcaddr = 203.0.113.0/25', {}, true], // .7 is in the lower half
    ['srcaddr = 203.0.113.128/25', {}, false],
    ['srcaddr = 203.0.113.7', {}, true],
    ['srcaddr != 203.0.113.7', {}, false],
    ['srcaddr in (10.0.0.0/8, 203.0.113.7)', {}, true],
    ['dstaddr in 0.0.0.0/0', {}, true],
    ['dstaddr in ::/0', {}, false], // families never cross
    ['srcaddr = 2001:DB8::/32', { srcaddr: '2001:db8::10' }, true],
    ['srcaddr = 2001:db8::10', { srcaddr: '2001:0db8:0:0::10' }, true], // compared as bytes
    ['srcaddr = 2001:db9::/32', { srcaddr: '2001:db8::10' }, false],
    ['srcaddr in 10.0.0.0/8', { srcaddr: '-' }, false],
    ['not action=REJECT', {}, true],
    ['not (action=ACCEPT or dstport=22)', {}, false],
    ['action=REJECT or dstport=22 and protocol=6', {}, true], // and binds tighter than or
    ['(action=REJECT or dstport=22) and protocol=17', {}, false],
    ['not not direction=in', {}, true],
    ["eni-id='eni-a'", {}, true],
    ['log-status="OK"', {}, true],
  ];
  it.each(cases)('%s on %j -> %s', (expr, over, expected) => {
    expect(compileWhere(expr)(rec(over))).toBe(expected);
  });

  it('selects everything with no or a blank expression', () => {
    expect(compileWhere(undefined)(rec())).toBe(true);
    expect(compileWhere('   ')(rec())).toBe(true);
  });
});

describe('query --where errors name the offending token', () => {
  const cases: [string, RegExp][] = [
    ['dstport=22 and', /got the end of the expression at column 15/],
    ['colour=red', /unknown field "colour" at column 1/],
    ['dstport 22', /expected an operator .* after dstport, got "22" at column 9/],
    ['dstport=abc', /dstport takes a number, got "abc" at column 9/],
    ['srcaddr in 10.0.0.0/33', /srcaddr takes an address or CIDR, got "10.0.0.0\/33"/],
    ['srcaddr = 300.1.1.1', /got "300.1.1.1"/],
    ['action > REJECT', /operator ">" at column 8 needs a numeric field/],
    ['(action=REJECT', /expected "\)", got the end of the expression/],
    ['action=REJECT)', /expected "and", "or" or the end of the expression, got "\)" at column 14/],
    ['dstport in (22 3389)', /expected "," or "\)" in the in-list, got "3389" at column 16/],
    ['action=REJECT & dstport=22', /expected "and", "or" or the end of the expression, got "&" at column 15/],
    ['action ! REJECT', /"!" at column 8 must be followed by "="/],
    ["action='REJECT", /unterminated string starting at column 8/],
    ['()', /expected a field name, got "\)" at column 2/],
    ['and', /unknown field "and" at column 1/],
  ];
  it.each(cases)('%j', (expr, message) => {
    let thrown: unknown;
    try {
      compileWhere(expr);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(WhereError);
    expect((thrown as Error).message).toMatch(message);
    expect((thrown as Error).message).not.toContain('\n');
  });
});
