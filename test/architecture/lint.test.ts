/** scripts/lint.mjs: its rules on made-up code, and the whole tree clean (what `npm run lint` checks). */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './source-tree.js';

interface Finding {
  line: number;
  rule: string;
  what: string;
}
// @ts-expect-error: a plain ES module script, without types
const { lintSource } = (await import('../../scripts/lint.mjs')) as { lintSource(path: string, text: string): Finding[] };
const findings = (...lines: string[]) => lintSource('made-up.ts', lines.join('\n')).map((f) => `${f.line}: ${f.rule}`);

describe('no-console', () => {
  it('finds console calls in code, not in comments or strings', () => {
    expect(findings('console.log(1);', "const page = '<script>console.log(2)</script>';", '// console.warn is not used', 'globalThis.console.error(3);')).toEqual([
      '1: no-console',
      '4: no-console',
    ]);
  });
});

describe('no-silent-catch', () => {
  it('finds empty catch blocks and empty rejection handlers', () => {
    expect(
      findings(
        'try { f(); } catch {}',
        'try { f(); } catch (err) {',
        '}',
        'p.catch(() => {});',
        'p.then(ok, () => undefined);',
        'p.catch(function () {});',
      ),
    ).toEqual(['1: no-silent-catch', '2: no-silent-catch', '4: no-silent-catch', '5: no-silent-catch', '6: no-silent-catch']);
  });

  it('accepts a comment on the line, the line before or inside the braces, and a body that does something', () => {
    expect(
      findings(
        'try { f(); } catch {} // the file may be gone: nothing to do',
        '// closing twice is harmless: nothing to do',
        'p.catch(() => {});',
        'try { f(); } catch {',
        '  // the socket is gone: nothing to do',
        '}',
        'p.catch(() => { /* logged by the caller */ });',
        'p.catch((err) => log.debug({ err }, "why"));',
        'try { f(); } catch (err) { throw err; }',
      ),
    ).toEqual([]);
  });

  it('does not take a "//" in a string for a comment', () => {
    expect(findings("const url = 'http://x';", 'p.catch(() => {});')).toEqual(['2: no-silent-catch']);
  });
});

describe('the tree', () => {
  it('npm run lint finds nothing in packages/*/src', () => {
    const ran = spawnSync(process.execPath, [join(ROOT, 'scripts/lint.mjs')], { cwd: ROOT, encoding: 'utf8' });
    const found = ran.stdout.split('\n').filter(Boolean);
    expect(ran.status, `${ran.stderr.trim()}\n  ${found.join('\n  ')}\n`).toBe(0);
  }, 60_000);
});
