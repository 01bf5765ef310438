import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
/** The compiled Spool that child processes load (they run plain node, not vitest). */
export const DIST_SPOOL = join(ROOT, 'dist', 'output', 'spool', 'spool.js');
export const SPOOL_WRITER_CHILD = join(__dirname, 'spool-writer-child.js');

/** Compiles the project into dist/ when the compiled spool is missing or older than its sources. */
export function ensureCompiledSpool(): void {
  const output = join(ROOT, 'src', 'output');
  const sources = [
    join(ROOT, 'src', 'log.ts'),
    ...readdirSync(output, { recursive: true, encoding: 'utf8' })
      .filter((n) => n.endsWith('.ts'))
      .map((n) => join(output, n)),
  ];
  const newestSource = Math.max(...sources.map((f) => statSync(f).mtimeMs));
  if (existsSync(DIST_SPOOL) && statSync(DIST_SPOOL).mtimeMs >= newestSource) return;
  try {
    execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.json')],
      {
        stdio: 'pipe',
      },
    );
  } catch {
    // Type errors elsewhere in the tree do not stop tsc from emitting; the check below decides.
  }
  if (!existsSync(DIST_SPOOL)) throw new Error(`compile ${DIST_SPOOL}: tsc produced no output`);
}
