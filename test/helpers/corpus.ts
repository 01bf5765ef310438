import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { TestContext } from 'vitest';

/**
 * Where tcpdump's regression corpus is (830 captures, many malformed on purpose; read only):
 * the directory FLOWLOG_CORPUS_DIR names, else ../shared/corpus/tcpdump-tests beside the
 * repository (the shared machine's layout; .ci/run exports the variable when that is there).
 */
export const CORPUS_ENV = 'FLOWLOG_CORPUS_DIR';

/** The directory holding package.json above this file: the repository, wherever tests move. */
function repositoryRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

const configured = process.env[CORPUS_ENV];

export const CORPUS_DIR = configured || resolve(repositoryRoot(), '..', 'shared', 'corpus', 'tcpdump-tests');

/**
 * Why the corpus tests cannot run, or null. Only a clone without the corpus at the default
 * place skips them; a FLOWLOG_CORPUS_DIR naming nothing does not: asked for, they fail on the
 * missing directory instead of passing by skipping.
 */
export const CORPUS_MISSING: string | null =
  configured || existsSync(CORPUS_DIR)
    ? null
    : `no tcpdump corpus at ${CORPUS_DIR}: set ${CORPUS_ENV} to its directory`;

/**
 * The first statement of a test that reads the corpus: skips it where the corpus is missing,
 * with CORPUS_MISSING as the note the reporter prints beside the test's name.
 */
export function skipWithoutCorpus(ctx: TestContext): void {
  if (CORPUS_MISSING !== null) ctx.skip(CORPUS_MISSING);
}
