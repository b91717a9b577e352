/** The files of packages/<name>/src, read once, for the architecture tests. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface SourceFile {
  /** From the repository root, with forward slashes: `packages/server/src/core/session.ts`. */
  path: string;
  /** The package folder's name: `server`. */
  pkg: string;
  text: string;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = join(dir, entry.name);
    return entry.isDirectory() ? walk(full) : [full];
  });
}

/** Every file under packages/<name>/src (any extension), sorted by path. */
export function sourceFiles(): SourceFile[] {
  const packages = readdirSync(join(ROOT, 'packages'), { withFileTypes: true }).filter((e) => e.isDirectory());
  return packages
    .flatMap((pkg) => {
      const src = join(ROOT, 'packages', pkg.name, 'src');
      // A package folder without src (being made) has nothing to check.
      return (existsSync(src) ? walk(src) : []).map((full) => ({ path: relative(ROOT, full).split('\\').join('/'), pkg: pkg.name, text: readFileSync(full, 'utf8') }));
    })
    .sort((a, b) => a.path.localeCompare(b.path));
}

export const typeScriptFiles = (): SourceFile[] => sourceFiles().filter((f) => f.path.endsWith('.ts'));

/** The 1-based line of a character offset. */
export function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** A failure message: a headline, then one violation a line. */
export function report(headline: string, lines: string[]): string {
  return `${headline} (${lines.length}):\n  ${lines.join('\n  ')}\n`;
}
