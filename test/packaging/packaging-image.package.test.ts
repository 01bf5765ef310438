/**
 * The container image (issue 32): built from this checkout's Dockerfile with buildah (Debian's,
 * vfs storage, chroot isolation: no Docker engine or container registry exists here) on a Debian
 * 12 base made with debootstrap (tools/debian-root.sh), with the .deb as its context, so the build
 * reaches only Debian's repositories. The image holds the .deb's layout; no file capabilities;
 * with every capability dropped (as `docker run --cap-drop ALL`) it reports its version, validates
 * a config and replays a generated capture to the generator's totals; its entrypoint is the
 * installed binary.
 *
 * It runs where .ci/run asks for it (FLOWLOG_CI_IMAGE=1) or by hand, not in every `npm test`.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtPackage, canTestPackages, debianRoot, PACKAGE_VERSION, run } from '../helpers/built-packages';
import { tempDirForFile } from '../helpers/temp-dir';

const ROOT = join(__dirname, '..', '..');
const STORAGE = join(process.env.FLOWLOG_ROOT_CACHE ?? '/var/cache/flowlog-agent-ci/roots', '..', 'containers');
const BASE = 'localhost/flowlog-base:bookworm';
const IMAGE = 'localhost/flowlog-agent:test';
const wanted = process.env.FLOWLOG_CI_IMAGE === '1';
const canRun = canTestPackages(['buildah', 'debootstrap', 'getcap']);

it.runIf(wanted)('runs in CI', () => {
  expect(canRun).toBe(true);
});

function buildah(...args: string[]) {
  return run(
    'buildah',
    ['--root', join(STORAGE, 'storage'), '--runroot', join(STORAGE, 'run'), '--storage-driver', 'vfs', ...args],
    1_800_000,
  );
}
async function ok(p: ReturnType<typeof buildah>, what: string): Promise<string> {
  const r = await p;
  if (r.status !== 0) throw new Error(`${what}: exit ${r.status}: ${(r.stderr || r.stdout).slice(-3000)}`);
  return r.stdout.trim();
}

describe.skipIf(!wanted || !canRun)(
  'the container image (Dockerfile, built with buildah)',
  { timeout: 2_400_000 },
  () => {
    const dir = tempDirForFile('image');

    it('builds on a debootstrap Debian 12 base and runs validate, replay and --version with no capability', async () => {
      // The base: the cached clean root as an image (made once per root).
      const root = await debianRoot('bookworm');
      const stamp = readFileSync(join(root, '.flowlog-root'), 'utf8').trim();
      const images = await buildah('images', '--format', '{{.Name}}:{{.Tag}} {{.ID}}');
      const label = (
        await buildah('inspect', '--format', '{{index .ImageAnnotations "flowlog.root"}}', BASE)
      ).stdout.trim();
      if (!images.stdout.includes('flowlog-base') || label !== stamp) {
        const ctr = await ok(buildah('from', 'scratch'), 'buildah from scratch');
        await ok(buildah('copy', ctr, `${root}/`, '/'), 'copy the root');
        await ok(buildah('config', '--annotation', `flowlog.root=${stamp}`, ctr), 'annotate');
        await ok(buildah('commit', '--rm', ctr, BASE), 'commit the base');
      }
      // The context: the .deb alone (as the README's `npm run package -- --out image`).
      const context = join(dir, 'image');
      mkdirSync(context);
      copyFileSync(await builtPackage('deb', dir), join(context, `flowlog-agent_${PACKAGE_VERSION}_amd64.deb`));
      await ok(
        buildah(
          'bud',
          '--isolation',
          'chroot',
          '--pull-never',
          '--build-arg',
          `BASE=${BASE}`,
          '-t',
          IMAGE,
          '-f',
          join(ROOT, 'Dockerfile'),
          context,
        ),
        'buildah bud',
      );
      const entrypoint = await ok(
        buildah('inspect', '--format', '{{.OCIv1.Config.Entrypoint}} {{.OCIv1.Config.Cmd}}', IMAGE),
        'inspect',
      );
      expect(entrypoint).toBe('[/usr/bin/flowlog-agent] [run --config /etc/flowlog-agent/agent.yaml]');

      const ctr = await ok(buildah('from', '--pull-never', IMAGE), 'buildah from the image');
      try {
        const mnt = await ok(buildah('mount', ctr), 'mount');
        // No file capabilities anywhere in the program: capture's come from --cap-add alone.
        const caps = await run('getcap', ['-r', join(mnt, 'usr/lib/flowlog-agent')]);
        expect(caps.stdout.trim()).toBe('');
        const out = join(dir, 'work');
        mkdirSync(out, { recursive: true });
        const start = Math.floor(Date.now() / 60_000) * 60 - 600;
        writeFileSync(
          join(out, 'replay.yaml'),
          `region: cn-hangzhou\naccountId: "1234567890123456"\nenis:\n  - {id: eni-image, ips: [10.0.0.5], vpcId: vpc-image, vswitchId: vsw-image, vmId: i-image}\n` +
            'flowLogs:\n  - {id: fl-image, resourceType: eni, resourceId: eni-image, aggregationInterval: 1, sink: {type: file, path: /work/records.jsonl}}\nstateDir: /work/state\n',
        );
        const script = [
          'grep ^CapEff /proc/self/status',
          'flowlog-agent --version',
          'flowlog-agent validate --config /work/replay.yaml',
          // The eBPF engine's addon loads: libbpf.so.1 came with the .deb's Depends.
          `/usr/lib/flowlog-agent/node/bin/node -e "require('/usr/lib/flowlog-agent/dist/capture/ebpf/ebpf-binding.js').ebpfBinding(); console.log('eBPF addon loaded')"`,
          `flowlog-agent generate --out /work/capture.pcap --packets 2000 --flows 20 --start ${start} --duration 120 --expected /work/expected.jsonl --window 60 >/dev/null`,
          'flowlog-agent replay --pcap /work/capture.pcap --config /work/replay.yaml 2>/dev/null',
          'echo done',
        ].join(' && ');
        const r = await buildah(
          'run',
          '--isolation',
          'chroot',
          '--cap-drop',
          'ALL',
          '-v',
          `${out}:/work`,
          ctr,
          '--',
          'sh',
          '-c',
          script,
        );
        expect(r.status, r.stderr).toBe(0);
        const lines = r.stdout.trim().split('\n');
        expect(lines[0]).toBe('CapEff:\t0000000000000000');
        expect(lines[1]).toBe(PACKAGE_VERSION);
        expect(lines[2]).toBe('config OK: /work/replay.yaml (1 ENIs, 1 flow logs)');
        // No capability at all: auto would capture with libpcap, and validate says why.
        expect(lines[3]).toMatch(/^capture engine: libpcap \(eBPF unusable: .*lacks CAP_/);
        expect(lines[4]).toBe('eBPF addon loaded');
        expect(lines.at(-1)).toBe('done');
        const records = readFileSync(join(out, 'records.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as Record<string, string>);
        const expected = readFileSync(join(out, 'expected.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { bytes: number });
        const okRecords = records.filter((x) => x['log-status'] === 'OK');
        expect(okRecords.reduce((n, x) => n + Number(x.packets), 0)).toBe(2000);
        expect(okRecords.reduce((n, x) => n + Number(x.bytes), 0)).toBe(expected.reduce((n, x) => n + x.bytes, 0));
      } finally {
        await buildah('rm', ctr);
        await buildah('rmi', IMAGE);
      }
    });
  },
);
