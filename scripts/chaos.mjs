// `npm run chaos -- --seconds N --seed S`: a chaos run against real `hubbub serve --redis` processes
// (test/chaos/main.ts). Client counts: --publishers, --subscribers, --sse (Hubbub SDK and SSE), --binary
// and --longpoll (Foony SDK subscribers over WebSocket and long-polling), --foony-publishers, --rest
// (REST publishers); --faults KIND,… picks the fault kinds, --keep writes the history of a clean run too.
// The harness is TypeScript beside the tests; esbuild bundles it (the packages stay external: the built
// @hubbub/* and their dependencies) so plain Node runs it. Needs `npm run build` first.
import { mkdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
// Two levels below the root, as test/chaos is: the helpers find the built CLI relative to themselves.
const outdir = `${root}node_modules/.hubbub-chaos`;
mkdirSync(outdir, { recursive: true });
const outfile = `${outdir}/main.mjs`;
await build({ entryPoints: [`${root}test/chaos/main.ts`], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile, logLevel: 'warning' });
const { main } = await import(pathToFileURL(outfile).href);
process.exitCode = await main(process.argv.slice(2));
