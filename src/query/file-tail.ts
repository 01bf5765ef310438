/**
 * The last lines of a file without reading all of it: file sinks grow large, and `status`
 * only shows the newest few records.
 */
import { promises as fs } from 'node:fs';

const BLOCK_BYTES = 64 * 1024;

/**
 * Up to `count` last non-empty lines of `file`, oldest first. Reads backwards in blocks until
 * enough newlines are seen. Rejects (fs error) when the file cannot be read.
 */
export async function readLastLines(file: string, count: number): Promise<string[]> {
  if (count <= 0) return [];
  const handle = await fs.open(file, 'r');
  try {
    const { size } = await handle.stat();
    let pos = size;
    let chunks: Buffer[] = [];
    let newlines = 0;
    // count + 1 newlines guarantee `count` complete lines (a trailing newline ends the last one).
    while (pos > 0 && newlines <= count) {
      const len = Math.min(BLOCK_BYTES, pos);
      pos -= len;
      const buf = Buffer.alloc(len);
      await handle.read(buf, 0, len, pos);
      for (const b of buf) if (b === 0x0a) newlines++;
      chunks = [buf, ...chunks];
    }
    const lines = Buffer.concat(chunks).toString('utf8').split('\n');
    // Without reaching the start, the first piece may be a partial line.
    if (pos > 0) lines.shift();
    return lines.filter((l) => l.trim() !== '').slice(-count);
  } finally {
    await handle.close();
  }
}
