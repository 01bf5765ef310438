import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load';
import { renderConfigReference } from '../src/config/reference';
import { HEALTH_PROBLEM_CODES } from '../src/metrics/health-report';

const ROOT = join(__dirname, '..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

/** GitHub's heading anchors: lower case, punctuation but `-` and `_` dropped, spaces as `-`. */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const m of markdown.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6} +(.+)$/gm)) {
    out.add(
      m[1]
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, '')
        .replace(/\s/g, '-'),
    );
  }
  return out;
}

describe('README', () => {
  const readme = read('README.md');

  it('is the front door: at most about 20 KB', () => {
    expect(Buffer.byteLength(readme)).toBeLessThanOrEqual(20_480);
  });

  it('names the set-up and test commands that CI runs, and the fast tier', () => {
    const ci = read('.ci/run');
    expect(ci).toContain('npm ci');
    expect(readme).toContain('npm ci');
    // The suite CI runs (`npm test`, or the full tier's script) is the one the README names.
    const ciTests = ci.match(/\bnpm (?:test|run test:[\w-]+)\b/g) ?? [];
    expect(ciTests.length).toBeGreaterThan(0);
    for (const command of ciTests) expect(readme).toContain(command);
    expect(readme).toContain('npm test');
    expect(readme).toContain('npm run test:full');
  });

  it('shows a configuration the validator accepts as it stands', () => {
    const blocks = [...readme.matchAll(/^```yaml\n([\s\S]*?)^```/gm)].map((m) => m[1]);
    expect(blocks).toHaveLength(1);
    const { config } = parseConfig(blocks[0], 'README.md');
    expect(config.enis).toHaveLength(1);
    expect(config.flowLogs[0].sink.type).toBe('sls');
  });
});

describe('docs/configuration.md', () => {
  it('embeds the configuration reference generated from the schema (npm run docs:config)', () => {
    const doc = read('docs/configuration.md');
    const start = '<!-- config-reference:start -->';
    const end = '<!-- config-reference:end -->';
    expect(doc.indexOf(start)).toBeGreaterThan(-1);
    expect(doc.indexOf(end)).toBeGreaterThan(doc.indexOf(start));
    const embedded = doc.slice(doc.indexOf(start) + start.length, doc.indexOf(end)).trim();
    expect(embedded).toBe(renderConfigReference().trim());
  });
});

describe('docs/operations.md', () => {
  it('documents every health problem code in the Metrics and health table, and no other', () => {
    const doc = read('docs/operations.md');
    const at = doc.indexOf('\n## Metrics and health');
    expect(at).toBeGreaterThan(-1);
    const section = doc.slice(at, doc.indexOf('\n## ', at + 1) === -1 ? undefined : doc.indexOf('\n## ', at + 1));
    const rows = [...section.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);
    expect(rows.sort()).toEqual(Object.keys(HEALTH_PROBLEM_CODES).sort());
  });
});

describe('links', () => {
  const files = [
    'README.md',
    ...readdirSync(join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];

  it.each(files)('every relative link of %s names a file that exists, and an anchor it has', (file) => {
    const text = read(file).replace(/^```[\s\S]*?^```/gm, '');
    const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((l) => !/^[a-z]+:/.test(l));
    expect(links.length).toBeGreaterThan(0);
    for (const link of links) {
      const [path, anchor] = link.split('#');
      const target = path === '' ? join(ROOT, file) : resolve(dirname(join(ROOT, file)), path);
      expect(existsSync(target), `${file}: ${link}`).toBe(true);
      if (anchor !== undefined && target.endsWith('.md')) {
        expect(anchors(readFileSync(target, 'utf8')).has(anchor), `${file}: ${link}`).toBe(true);
      }
    }
  });
});
