import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
export const PACKAGE_VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;

export interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command without blocking this process (vitest's worker must keep answering while a
 * package builds or a root installs for minutes).
 */
export function run(cmd: string, args: string[], timeoutMs = 900_000): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

async function ok(r: Promise<Ran>, what: string): Promise<string> {
  const done = await r;
  if (done.status !== 0) throw new Error(`${what}: exit ${done.status}: ${done.stderr.slice(-2000)}`);
  return done.stdout.trim();
}

/**
 * The .deb or .rpm of this checkout: the one .ci/run built into $FLOWLOG_PACKAGE_DIR (each
 * build takes a minute on the CI machine; three test files use them), else built into `dir`.
 */
export async function builtPackage(kind: 'deb' | 'rpm', dir: string): Promise<string> {
  const name =
    kind === 'deb' ? `flowlog-agent_${PACKAGE_VERSION}_amd64.deb` : `flowlog-agent-${PACKAGE_VERSION}-1.x86_64.rpm`;
  const prebuilt = process.env.FLOWLOG_PACKAGE_DIR;
  if (prebuilt !== undefined && existsSync(join(prebuilt, name))) return join(prebuilt, name);
  const script = kind === 'deb' ? 'tools/package-deb.js' : 'tools/package-rpm.js';
  return ok(run(process.execPath, [join(ROOT, script), '--out', dir]), `build the ${kind}`);
}

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

/** Whether this machine can build and test the packages (root, the tools, a built checkout). */
export function canTestPackages(tools: string[]): boolean {
  return process.getuid?.() === 0 && tools.every(has) && existsSync(join(ROOT, 'dist', 'cli', 'main.js'));
}

/** tools/debian-root.sh: the cached root of `release` with `packages`, made on first use. */
export function debianRoot(release: string, ...packages: string[]): Promise<string> {
  return ok(run(join(ROOT, 'tools', 'debian-root.sh'), ['path', release, ...packages]), `make the ${release} root`);
}

/** Runs `script` (sh) in a throwaway copy of `root`, with `binds` (host:inside) mounted. */
export function inRoot(
  root: string,
  script: string,
  binds: string[] = [],
  options: { outside?: boolean } = {},
): Promise<Ran> {
  const args = [
    'run',
    root,
    ...(options.outside ? ['--outside'] : []),
    ...binds.flatMap((b) => ['--bind', b]),
    '--',
    'sh',
    '-c',
    script,
  ];
  return run(join(ROOT, 'tools', 'debian-root.sh'), args);
}
