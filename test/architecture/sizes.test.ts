/** Short files named for the one thing they hold: none in packages/<name>/src runs past 400 lines. */
import { expect, it } from 'vitest';
import { report, sourceFiles } from './source-tree.js';

const MAX_LINES = 400;

/** Lines as `wc -l` counts them, plus a last line without its newline. */
const lineCount = (text: string) => text.split('\n').length - (text.endsWith('\n') ? 1 : 0);

it(`no file in packages/*/src is over ${MAX_LINES} lines`, () => {
  const long = sourceFiles()
    .map((f) => ({ path: f.path, lines: lineCount(f.text) }))
    .filter((f) => f.lines > MAX_LINES)
    .sort((a, b) => b.lines - a.lines)
    .map((f) => `${f.path}: ${f.lines} lines`);
  expect(long.length, report(`files over ${MAX_LINES} lines, longest first`, long)).toBe(0);
});
