import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';

/**
 * Test tiers, one named project each (`vitest run --project NAME`). `npm test` builds and runs them
 * all; `npm run test:fast` runs unit, architecture and e2e, which need no build.
 *
 * - unit: packages/<name>/test, each package alone.
 * - architecture: the layer, size and lint rules (test/architecture).
 * - e2e: end-to-end tests whose server runs in the test process (test/support/in-process.ts), listed below.
 * - e2e-process: the other test/e2e files: they spawn the built CLI (its commands, its output, kills, restarts).
 * - one project per other folder of test/ (browser, compat, docs, faults, hostile, …), so a new folder runs too.
 */

/** test/e2e files that start no process: the server runs in the test process. */
const IN_PROCESS_E2E = ['embedding', 'embedding-scale-out', 'home-page', 'multi-node', 'presence.property', 'realtime'].map((name) => `test/e2e/${name}.test.ts`);

/** Folders of test/ that hold no tests of their own, or have a project above. */
const NOT_A_PROJECT = new Set(['support', 'fixtures', 'e2e', 'architecture']);

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/**
 * The workspace packages resolved to their TypeScript source, not to dist: what lets the fast tiers run
 * without a build. (Only the tiers that never spawn the CLI, so they test the same code the CLI runs.)
 */
const fromSource = {
  alias: [
    { find: /^@hubbub\/protocol$/, replacement: source('./packages/protocol/src/index.ts') },
    { find: /^@hubbub\/server$/, replacement: source('./packages/server/src/index.ts') },
    { find: /^@hubbub\/client$/, replacement: source('./packages/client/src/node.ts') },
  ],
};

function project(name: string, include: string[], extra: { exclude?: string[]; resolve?: typeof fromSource } = {}): TestProjectInlineConfiguration {
  return { extends: true, ...(extra.resolve && { resolve: extra.resolve }), test: { name, include, ...(extra.exclude && { exclude: extra.exclude }) } };
}

const otherFolders = readdirSync(source('./test'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && !NOT_A_PROJECT.has(entry.name))
  .map((entry) => project(entry.name, [`test/${entry.name}/**/*.test.ts`]));

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: process.env.CI ? ['verbose'] : ['default'],
    projects: [
      project('unit', ['packages/*/test/**/*.test.ts'], { resolve: fromSource }),
      project('architecture', ['test/architecture/**/*.test.ts'], { resolve: fromSource }),
      project('e2e', IN_PROCESS_E2E, { resolve: fromSource }),
      project('e2e-process', ['test/e2e/**/*.test.ts'], { exclude: IN_PROCESS_E2E }),
      ...otherFolders,
    ],
  },
});
