// Builds @hubbub/client's browser bundles from tsc's output (run by `npm run build`, after tsc):
//   dist/browser/hubbub.js       one-file ESM, no imports (`import { Realtime } from '/sdk/hubbub.js'`)
//   dist/browser/hubbub.iife.js  one-file classic script that defines window.Hubbub with the same exports
// Both come from the browser entry (dist/index.js), so nothing Node-only can get in: a `node:` import
// fails the build on platform 'browser'.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const client = fileURLToPath(new URL('../packages/client/', import.meta.url));
const { name, version, license } = JSON.parse(readFileSync(`${client}package.json`, 'utf8'));

/** The options both bundles and the size check share (scripts/bundle-size.mjs imports them). */
export const browserBuild = {
  bundle: true,
  minify: true,
  platform: 'browser',
  target: 'es2022',
  legalComments: 'none',
  logLevel: 'warning',
};

export const browserEntry = `${client}dist/index.js`;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const banner = { js: `/*! ${name} ${version} | ${license} */` };
  await build({ ...browserBuild, banner, entryPoints: [browserEntry], format: 'esm', outfile: `${client}dist/browser/hubbub.js` });
  await build({ ...browserBuild, banner, entryPoints: [browserEntry], format: 'iife', globalName: 'Hubbub', outfile: `${client}dist/browser/hubbub.iife.js` });
  // Types for the `./browser` export: the same surface as the browser entry.
  writeFileSync(`${client}dist/browser/hubbub.d.ts`, "export * from '../index.js';\n");
}
