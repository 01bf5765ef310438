import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/** A scratch directory under the OS temp dir, removed after the calling test file. */
export function tempDirForFile(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `flowlog-${prefix}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
