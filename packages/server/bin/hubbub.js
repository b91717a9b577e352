#!/usr/bin/env node
// The `hubbub` bin. Committed, not built, so that npm links it on the very first install: the CLI
// it loads is compiled later, by `prepare`, after npm has linked bins.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('hubbub is not built yet: run npm run build\n');
  process.exit(1);
}
await import(cli.href);
