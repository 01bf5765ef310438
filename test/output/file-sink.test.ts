import { mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { FlowRecord, RecordBatch } from '../../src/flow/record';
import { classifyFileError, FileSink } from '../../src/output/file-sink';
import { StdoutSink } from '../../src/output/stdout-sink';
import { tempDirForFile } from '../helpers/temp-dir';

const root = tempDirForFile('file-sink');

// The 18 fields in the order the VPC flow log format defines, written out independently here.
const STANDARD: Array<[string, string]> = [
  ['version', '2'],
  ['vswitch-id', 'vsw-bp1'],
  ['vm-id', 'i-bp1'],
  ['vpc-id', 'vpc-bp1'],
  ['account-id', '1234567890'],
  ['eni-id', 'eni-bp1'],
  ['srcaddr', '10.0.0.1'],
  ['srcport', '443'],
  ['dstaddr', '10.0.0.2'],
  ['dstport', '51234'],
  ['protocol', '6'],
  ['direction', 'out'],
  ['packets', '10'],
  ['bytes', '1500'],
  ['start', '1700000000'],
  ['end', '1700000060'],
  ['log-status', 'OK'],
  ['action', 'ACCEPT'],
];
const EXPECTED_LINE =
  '{"version":"2","vswitch-id":"vsw-bp1","vm-id":"i-bp1","vpc-id":"vpc-bp1","account-id":"1234567890",' +
  '"eni-id":"eni-bp1","srcaddr":"10.0.0.1","srcport":"443","dstaddr":"10.0.0.2","dstport":"51234",' +
  '"protocol":"6","direction":"out","packets":"10","bytes":"1500","start":"1700000000","end":"1700000060",' +
  '"log-status":"OK","action":"ACCEPT","tcp-flags":"18","region":"cn-hangzhou"}';

/** The standard fields scrambled, extra fields in between: the writer must restore the order. */
function scrambledRecord(srcport = '443'): FlowRecord {
  const entries: Array<[string, string]> = [
    ...STANDARD.map(([k, v]): [string, string] => [k, k === 'srcport' ? srcport : v]),
  ];
  entries.reverse();
  entries.splice(5, 0, ['tcp-flags', '18']);
  entries.push(['region', 'cn-hangzhou']);
  return Object.fromEntries(entries);
}
const batchOf = (...records: FlowRecord[]): RecordBatch => ({
  flowLogId: 'fl-1',
  windowStartSec: 1_700_000_000,
  windowEndSec: 1_700_000_060,
  records,
});
const lines = (file: string) => readFileSync(file, 'utf8').split('\n');

describe('FileSink', () => {
  it('writes one JSON object per line: the 18 fields in order, then extra fields', async () => {
    const file = join(root, 'order.jsonl');
    const sink = new FileSink(file);
    expect(await sink.write(batchOf(scrambledRecord()))).toEqual({ kind: 'ok' });
    await sink.close();
    expect(readFileSync(file, 'utf8')).toBe(`${EXPECTED_LINE}\n`);
  });

  it('escapes values so every record stays on one line, and leaves out a missing field', async () => {
    const file = join(root, 'escape.jsonl');
    const sink = new FileSink(file);
    await sink.write(batchOf({ version: '2', 'vm-id': 'a"b\nc\\d', note: 'é' }));
    await sink.close();
    expect(readFileSync(file, 'utf8')).toBe('{"version":"2","vm-id":"a\\"b\\nc\\\\d","note":"é"}\n');
  });

  it('appends across writes and across sink instances, creating parent directories', async () => {
    const file = join(root, 'a', 'b', 'c', 'out.jsonl');
    const first = new FileSink(file);
    await first.write(batchOf(scrambledRecord('1'), scrambledRecord('2')));
    await first.write(batchOf(scrambledRecord('3')));
    await first.close();
    const second = new FileSink(file);
    await second.write(batchOf(scrambledRecord('4')));
    await second.close();
    const written = lines(file);
    expect(written.pop()).toBe(''); // trailing newline
    expect(written.map((l) => JSON.parse(l).srcport)).toEqual(['1', '2', '3', '4']);
    for (const l of written)
      expect(Object.keys(JSON.parse(l))).toEqual([...STANDARD.map(([k]) => k), 'tcp-flags', 'region']);
  });

  it('starts a new file when the old one was rotated away', async () => {
    const file = join(root, 'rotate.jsonl');
    const sink = new FileSink(file);
    await sink.write(batchOf(scrambledRecord('1')));
    renameSync(file, `${file}.1`);
    await sink.write(batchOf(scrambledRecord('2')));
    await sink.close();
    expect(
      lines(`${file}.1`)
        .filter(Boolean)
        .map((l) => JSON.parse(l).srcport),
    ).toEqual(['1']);
    expect(
      lines(file)
        .filter(Boolean)
        .map((l) => JSON.parse(l).srcport),
    ).toEqual(['2']);
  });

  it('reports a directory in the way as permanent and a full disk as retryable', async () => {
    const dirPath = join(root, 'is-a-dir');
    mkdirSync(dirPath);
    const blocked = await new FileSink(dirPath).write(batchOf(scrambledRecord()));
    expect(blocked).toMatchObject({ kind: 'permanent', reason: expect.stringContaining('EISDIR') });
    // /dev/full accepts the open and fails every write with ENOSPC.
    const full = await new FileSink('/dev/full').write(batchOf(scrambledRecord()));
    expect(full).toMatchObject({ kind: 'retryable', reason: expect.stringContaining('ENOSPC') });
  });

  it.each([
    ['ENOSPC', 'retryable'],
    ['EIO', 'retryable'],
    ['EDQUOT', 'retryable'],
    ['EMFILE', 'retryable'],
    ['ENOENT', 'retryable'],
    ['EACCES', 'permanent'],
    ['EPERM', 'permanent'],
    ['EISDIR', 'permanent'],
    ['EROFS', 'permanent'],
  ])('classifies %s as %s', (code, kind) => {
    const err = Object.assign(new Error(`${code}: boom`), { code });
    expect(classifyFileError('append to file /x', err)).toMatchObject({
      kind,
      reason: `append to file /x: ${code}: boom`,
    });
  });

  it('refuses writes after close', async () => {
    const sink = new FileSink(join(root, 'closed.jsonl'));
    await sink.close();
    expect((await sink.write(batchOf(scrambledRecord()))).kind).toBe('permanent');
  });
});

/** A stream whose consumer acknowledges each chunk only when the test says so. */
function slowStream() {
  const chunks: string[] = [];
  const release: Array<() => void> = [];
  const stream = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      release.push(() => done());
    },
  });
  return { stream, chunks, release };
}

describe('StdoutSink', () => {
  it('writes JSON Lines and resolves only once the stream took the chunk', async () => {
    const { stream, chunks, release } = slowStream();
    const sink = new StdoutSink(stream);
    let firstDone = false;
    const first = sink.write(batchOf(scrambledRecord('1'))).then((r) => ((firstDone = true), r));
    const second = sink.write(batchOf(scrambledRecord('2')));
    await new Promise((r) => setImmediate(r));
    expect(firstDone).toBe(false);
    expect(chunks).toHaveLength(1); // the second waits for the first: no unbounded buffering
    release[0]();
    expect(await first).toEqual({ kind: 'ok' });
    await new Promise((r) => setImmediate(r));
    expect(chunks).toHaveLength(2);
    release[1]();
    expect(await second).toEqual({ kind: 'ok' });
    expect(chunks[0]).toBe(`${EXPECTED_LINE.replace('"srcport":"443"', '"srcport":"1"')}\n`);
    await sink.close();
  });

  it('treats a reader that went away (EPIPE) as permanent, without crashing', async () => {
    const stream = new Writable({
      write(_chunk, _enc, done) {
        done(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });
    const sink = new StdoutSink(stream);
    expect(await sink.write(batchOf(scrambledRecord()))).toMatchObject({ kind: 'permanent' });
    expect(await sink.write(batchOf(scrambledRecord()))).toMatchObject({ kind: 'permanent' });
  });
});
