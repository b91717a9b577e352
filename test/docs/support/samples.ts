/**
 * Running the docs' JavaScript samples as a user would: the block's text saved as a file in the clone
 * (under test-output/, so that `@hubbub/client` and `@hubbub/server` resolve through the workspace
 * links as they do for a file in the clone) and run with node against a real server.
 *
 * The one substitution: `localhost:3000` becomes the test server's `127.0.0.1:<port>`.
 * Secrets the samples read from the environment (`HUBBUB_KEY`, …) are minted by the test.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { CodeBlock } from './markdown.js';
import { REPO } from './markdown.js';
import { runToEnd, userEnv, type Ran } from '../../support/commands.js';

/** `localhost:3000` → the test server. */
export function atPort(text: string, port: number): string {
  return text.replaceAll('localhost:3000', `127.0.0.1:${port}`);
}

/** What a sample says it prints: each code line ending in `// prints: TEXT`. */
export function promisedLines(source: string): string[] {
  return [...source.matchAll(/^(?!\s*\/\/).*\/\/ prints: (.+)$/gm)].map((m) => m[1].trim());
}

/** Save the block as `<name>.mjs` in a fresh folder under test-output/ and run it with node. */
export async function runJs(block: CodeBlock, port: number, env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000): Promise<Ran> {
  const base = join(REPO, 'test-output');
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, 'docs-sample-'));
  const name = block.marker?.kind === 'runnable' ? block.marker.name : 'sample';
  try {
    writeFileSync(join(dir, `${name}.mjs`), atPort(block.text, port));
    return await runToEnd(process.execPath, [`${name}.mjs`], { cwd: dir, env: userEnv(env), timeoutMs });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Run a sample, expect it to exit 0 and to print every line it promises with `// prints:`. */
export async function expectSampleRuns(block: CodeBlock, port: number, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const promised = promisedLines(block.text);
  expect(promised.length, `${block.file}:${block.line} says what it prints with "// prints: …"`).toBeGreaterThan(0);
  const ran = await runJs(block, port, env);
  const where = `${block.file}:${block.line}\n--- stdout\n${ran.stdout}\n--- stderr\n${ran.stderr}`;
  expect(ran.code, where).toBe(0);
  const lines = ran.stdout.split('\n').map((line) => line.trim());
  for (const text of promised) expect(lines, `${where}\nshould print "${text}"`).toContain(text);
  return lines;
}
