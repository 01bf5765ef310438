import { randomBytes } from 'node:crypto';

/**
 * `__pack_id__` values as Alibaba's own producers make them: "<prefix>-<sequence>", a random
 * per-process prefix of 16 hex digits and a hexadecimal sequence number. A batch gets its id
 * when it is appended to the spool, and the id is stored in the segment, so a retry (in this
 * process or after a restart) sends the same id again: a record stored twice (a write whose
 * answer was lost) shows up twice under one id, which is how a reader recognises the copy.
 */
export class PackIdSource {
  private seq = 0;

  constructor(readonly prefix: string = randomBytes(8).toString('hex').toUpperCase()) {}

  next(): string {
    return `${this.prefix}-${(this.seq++).toString(16).toUpperCase()}`;
  }
}

/** The process's pack ids (one prefix for every delivery of the process). */
export const processPackIds = new PackIdSource();

/** LogGroup tag key of the pack id. */
export const PACK_ID_TAG = '__pack_id__';
