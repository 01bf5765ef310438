'use strict';

/**
 * A small protobuf reader for `sls.LogGroup`, by hand from the SDK's sls.proto:
 *   LogGroup { repeated Log Logs = 1; optional string Reserved = 2; optional string Topic = 3;
 *              optional string Source = 4; repeated LogTag LogTags = 6; }
 *   Log { required uint32 Time = 1; repeated Content Contents = 2; optional fixed32 TimeNs = 4; }
 *   Content / LogTag { required string Key = 1; required string Value = 2; }
 * Unknown fields are skipped by wire type, as protobuf requires.
 */

/**
 * @typedef {object} DecodedLog
 * @property {number} time Unix seconds
 * @property {number} [timeNs]
 * @property {Array<[string, string]>} contents in wire order
 *
 * @typedef {object} DecodedLogGroup
 * @property {DecodedLog[]} logs
 * @property {string} topic
 * @property {string} source
 * @property {Array<[string, string]>} tags
 */

class Reader {
  /** @param {Buffer} buf @param {number} start @param {number} end */
  constructor(buf, start, end) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }
  varint() {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error('varint runs past its message');
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    throw new Error('varint longer than 10 bytes');
  }
  /** @returns {[number, number]} start and end of a length-delimited field */
  span() {
    const len = this.varint();
    const start = this.pos;
    if (start + len > this.end) throw new Error('length-delimited field runs past its message');
    this.pos = start + len;
    return [start, start + len];
  }
  string() {
    const [s, e] = this.span();
    return this.buf.toString('utf8', s, e);
  }
  fixed32() {
    if (this.pos + 4 > this.end) throw new Error('fixed32 runs past its message');
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  /** @param {number} wireType */
  skip(wireType) {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 2) this.span();
    else if (wireType === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wireType}`);
    if (this.pos > this.end) throw new Error('skipped field runs past its message');
  }
}

/** @param {Buffer} buf @param {number} s @param {number} e @returns {[string, string]} */
function readPair(buf, s, e) {
  const r = new Reader(buf, s, e);
  let key;
  let value;
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag === 0x0a) key = r.string();
    else if (tag === 0x12) value = r.string();
    else r.skip(tag & 7);
  }
  if (key === undefined || value === undefined) throw new Error('a key/value pair lacks its required Key or Value');
  return [key, value];
}

/** @param {Buffer} buf @param {number} s @param {number} e @param {boolean} keep @returns {DecodedLog} */
function readLog(buf, s, e, keep) {
  const r = new Reader(buf, s, e);
  let time;
  let timeNs;
  /** @type {Array<[string, string]>} */
  const contents = [];
  let contentCount = 0;
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag === 0x08) time = r.varint();
    else if (tag === 0x12) {
      const [cs, ce] = r.span();
      contentCount++;
      if (keep) contents.push(readPair(buf, cs, ce));
    } else if (tag === 0x25) timeNs = r.fixed32();
    else r.skip(tag & 7);
  }
  if (time === undefined) throw new Error('a log lacks its required Time');
  if (time > 0xffffffff) throw new Error('a log Time is not a uint32');
  if (contentCount === 0) throw new Error('a log has no Contents');
  /** @type {DecodedLog} */
  const log = { time, contents };
  if (timeNs !== undefined) log.timeNs = timeNs;
  return log;
}

/**
 * Decodes a LogGroup. With keep = false, checks the structure and log times but does not build
 * the contents (the bench's server mode, so the server is not the bottleneck).
 * @param {Buffer} buf
 * @param {boolean} [keep=true]
 * @returns {DecodedLogGroup}
 * @throws {Error} on malformed input
 */
function readLogGroup(buf, keep = true) {
  const r = new Reader(buf, 0, buf.length);
  /** @type {DecodedLogGroup} */
  const group = { logs: [], topic: '', source: '', tags: [] };
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag === 0x0a) {
      const [s, e] = r.span();
      group.logs.push(readLog(buf, s, e, keep));
    } else if (tag === 0x1a) group.topic = r.string();
    else if (tag === 0x22) group.source = r.string();
    else if (tag === 0x32) {
      const [s, e] = r.span();
      group.tags.push(readPair(buf, s, e));
    } else r.skip(tag & 7);
  }
  return group;
}

module.exports = { readLogGroup };
