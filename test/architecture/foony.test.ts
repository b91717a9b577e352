/**
 * Foony's binary dialect lives whole in packages/server/src/compat/foony/, and one registration file
 * names it: `grep -ril foony packages/server/src` lists nothing else (comments count: a comment about
 * Foony outside its folder is a sign that Foony's rules leaked into the rest).
 */
import { expect, it } from 'vitest';
import { lineOf, report, sourceFiles } from './source-tree.js';

const DIALECT_FOLDER = 'packages/server/src/compat/foony/';
const REGISTRATION = 'packages/server/src/compat/dialects.ts';

it(`only ${DIALECT_FOLDER} and ${REGISTRATION} mention Foony`, () => {
  const outside = sourceFiles()
    .filter((f) => f.path.startsWith('packages/server/src/') && !f.path.startsWith(DIALECT_FOLDER) && f.path !== REGISTRATION)
    .flatMap((f) => {
      const lines = [...new Set([...f.text.matchAll(/foony/gi)].map((m) => lineOf(f.text, m.index)))];
      return lines.length ? [{ path: f.path, lines }] : [];
    })
    .sort((a, b) => b.lines.length - a.lines.length || a.path.localeCompare(b.path))
    .map((f) => `${f.path}: ${f.lines.length} line${f.lines.length > 1 ? 's' : ''} (${f.lines.slice(0, 12).join(', ')}${f.lines.length > 12 ? ', …' : ''})`);
  expect(outside.length, report('files outside the dialect folder that mention Foony, most lines first (line numbers)', outside)).toBe(0);
});
