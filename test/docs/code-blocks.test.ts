/**
 * Every fenced code block of README.md and docs/*.md is either run by a test or says, in the file,
 * why it is not: it is preceded by `<!-- runnable: NAME -->` (and some test claims NAME, by calling
 * `runnableBlock('NAME')` or naming the marker itself) or by `<!-- not runnable: REASON -->`.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO, allCodeBlocks, codeBlocks, docFiles } from './support/markdown.js';

/** Every test file (and test support file) of the repo but this one. */
function testSources(dir = join(REPO, 'test')): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return testSources(path);
    return /\.(ts|mjs)$/.test(entry) && !path.endsWith('code-blocks.test.ts') ? [path] : [];
  });
}

/** Block names claimed by tests, with the files that claim them. */
function claims(): Map<string, string[]> {
  const claimed = new Map<string, string[]>();
  for (const file of testSources()) {
    const source = readFileSync(file, 'utf8');
    const names = [
      ...[...source.matchAll(/runnableBlock\(\s*['"`]([a-z0-9-]+)['"`]/g)].map((m) => m[1]),
      ...[...source.matchAll(/<!-- runnable: ([a-z0-9-]+) -->/g)].map((m) => m[1]),
    ];
    for (const name of names) claimed.set(name, [...(claimed.get(name) ?? []), relative(REPO, file)]);
  }
  return claimed;
}

describe('code blocks in README.md and docs/*.md', () => {
  const blocks = allCodeBlocks();

  it('finds the docs and their blocks', () => {
    expect(docFiles()).toContain('README.md');
    expect(docFiles()).toContain('docs/protocol.md');
    expect(blocks.length).toBeGreaterThan(10);
  });

  it('marks every block as runnable or not runnable, with a reason', () => {
    const unmarked = blocks.filter((b) => !b.marker).map((b) => `${b.file}:${b.line} (\`\`\`${b.lang})`);
    expect(unmarked, 'put <!-- runnable: NAME --> or <!-- not runnable: REASON --> on the line before each').toEqual([]);
  });

  it('gives each runnable block a name of its own', () => {
    const names = blocks.flatMap((b) => (b.marker?.kind === 'runnable' ? [b.marker.name] : []));
    const twice = names.filter((name, i) => names.indexOf(name) !== i);
    expect(twice).toEqual([]);
  });

  it('runs every runnable block in some test', () => {
    const claimed = claims();
    const unclaimed = blocks.flatMap((b) =>
      b.marker?.kind === 'runnable' && !claimed.has(b.marker.name) ? [`${b.file}:${b.line} runnable: ${b.marker.name}`] : [],
    );
    expect(unclaimed, 'no test runs these blocks').toEqual([]);
  });

  it('claims no block that is not in the docs', () => {
    const names = new Set(blocks.flatMap((b) => (b.marker?.kind === 'runnable' ? [b.marker.name] : [])));
    const stale = [...claims()].filter(([name]) => !names.has(name)).map(([name, files]) => `${name} (${files.join(', ')})`);
    expect(stale).toEqual([]);
  });

  it('starts the README with the two commands of a fresh clone', () => {
    const [first] = codeBlocks('README.md');
    expect(first.line, 'the first thing after the title').toBeLessThanOrEqual(4);
    expect(first.text).toBe('npm install && npm start\nnpm test');
  });

  it("has the README's Node sample as the js block right after <!-- runnable: sdk-node -->", () => {
    const sample = codeBlocks('README.md').find((b) => b.marker?.kind === 'runnable' && b.marker.name === 'sdk-node');
    expect(sample?.lang).toBe('js');
    expect(sample?.text).toMatch(/\/\/ prints: /);
    expect(sample?.text).toContain("'ws://localhost:3000'");
    expect(sample?.text).toContain('http://localhost:3000/auth/token');
    expect(sample?.text).toContain('process.env.HUBBUB_KEY');
    expect(sample?.text.trim().endsWith('realtime.close();')).toBe(true);
  });
});
