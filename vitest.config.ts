import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Two tiers. `npm test` (the fast tier): unit and integration tests, a few minutes on 2 cores,
 * no root. `npm run test:full` (`vitest run --mode full`, what .ci/run runs): everything, with the
 * files of the full tier only, named for what they need:
 *   *.live.test.ts     root, network namespaces, live traffic, timing (run them under an
 *                      isolation wrapper on a shared machine)
 *   *.package.test.ts  the built .deb/.rpm and install roots
 *   *.browser.test.ts  headless Chromium
 *   *.slow.test.ts     minutes of CPU (the whole tcpdump corpus against tshark)
 */
export const FULL_TIER_ONLY = [
  '**/*.live.test.ts',
  '**/*.package.test.ts',
  '**/*.browser.test.ts',
  '**/*.slow.test.ts',
];

export default defineConfig(({ mode }) => ({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: mode === 'full' ? configDefaults.exclude : [...configDefaults.exclude, ...FULL_TIER_ONLY],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default'],
  },
}));
