// Prints the gzip size of @hubbub/client's browser bundles and of `Realtime` alone (what an app that
// imports only `Realtime` ships after tree-shaking), and exits 1 when one is over its budget.
// Run by `npm run size` and by test/e2e/packaging.test.ts, so CI checks it; run `npm run build` first.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { browserBuild, browserEntry } from './bundle-client.mjs';

const browserDir = fileURLToPath(new URL('../packages/client/dist/browser/', import.meta.url));

/**
 * Gzip budgets in bytes, each a few percent above what the code measures today, so growth is a decision
 * and not an accident. `Realtime` alone was about 4.5 KB before the presence merge (serials, snapshot
 * reconciliation, tombstones), close-code classes, token renewal, the connect timeout and the fixes of an
 * outside tester's findings came in: those cost about 2.6 KB gzip (property mangling and shorter messages were measured to save under 0.3 KB).
 */
const BUDGETS = [
  { what: 'Realtime alone (tree-shaken ESM)', budget: 7_500, source: realtimeAlone },
  { what: 'dist/browser/hubbub.js', budget: 9_700, source: () => readFileSync(`${browserDir}hubbub.js`) },
  { what: 'dist/browser/hubbub.iife.js', budget: 9_900, source: () => readFileSync(`${browserDir}hubbub.iife.js`) },
];

async function realtimeAlone() {
  const result = await build({
    ...browserBuild,
    stdin: { contents: `export { Realtime } from ${JSON.stringify(browserEntry)};`, resolveDir: browserDir, loader: 'js' },
    format: 'esm',
    write: false,
  });
  return result.outputFiles[0].contents;
}

let over = 0;
const rows = [];
for (const { what, budget, source } of BUDGETS) {
  const bytes = await source();
  const gzip = gzipSync(bytes, { level: 9 }).length;
  if (gzip > budget) over++;
  rows.push(`| ${what} | ${bytes.length} | ${gzip} | ${budget} | ${gzip > budget ? 'OVER' : 'ok'} |`);
}
process.stdout.write(['| bundle | min bytes | gzip bytes | gzip budget | |', '|---|---:|---:|---:|---|', ...rows, ''].join('\n'));
if (over) {
  process.stderr.write(`bundle-size: ${over} bundle(s) over budget: make them smaller, or raise the budget in scripts/bundle-size.mjs and say why in the CHANGELOG\n`);
  process.exitCode = 1;
}
