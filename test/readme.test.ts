import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderConfigReference } from '../src/config/reference';
import { HEALTH_PROBLEM_CODES } from '../src/metrics/health-report';

describe('README', () => {
  const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');

  it('embeds the configuration reference generated from the schema (npm run docs:config)', () => {
    const start = '<!-- config-reference:start -->';
    const end = '<!-- config-reference:end -->';
    const embedded = readme.slice(readme.indexOf(start) + start.length, readme.indexOf(end)).trim();
    expect(embedded).toBe(renderConfigReference().trim());
  });

  it('documents every health problem code in the Metrics and health table, and no other', () => {
    const section = readme.slice(readme.indexOf('### Metrics and health'), readme.indexOf('\n## ', readme.indexOf('### Metrics and health')));
    const rows = [...section.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);
    expect(rows.sort()).toEqual(Object.keys(HEALTH_PROBLEM_CODES).sort());
  });

  it('names the set-up and test commands that CI runs, and the fast tier', () => {
    const ci = readFileSync(join(__dirname, '..', '.ci', 'run'), 'utf8');
    for (const command of ['npm ci', 'npm run test:full']) {
      expect(readme).toContain(command);
      expect(ci).toContain(command);
    }
    expect(readme).toContain('npm test');
  });
});
