/**
 * The docs' tables of flags, error codes, close codes and frame types are generated from the code by
 * scripts/docs.mjs; these tests fail when a doc's table drifts from the code, and check that the
 * generator covers every flag, code and frame type the code has.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLOSE_CODES, ErrorCode, FRAME_TYPES } from '@hubbub/protocol';
import { DEVTOKEN, KEYS, SERVE } from '../../packages/server/src/cli/options.js';
import { REPO } from './support/markdown.js';

type Generator = {
  TABLES: Record<string, () => string>;
  regenerate(root?: string): { files: { file: string; text: string; updated: string }[]; drifted: string[]; problems: string[] };
};
// @ts-expect-error: a plain ES module script, without types
const generator = (await import('../../scripts/docs.mjs')) as Generator;

function check(root = REPO) {
  return spawnSync(process.execPath, [join(REPO, 'scripts/docs.mjs'), '--check', '--root', root], { encoding: 'utf8' });
}

/** A copy of README.md and docs/ to break. */
function copyOfDocs(): string {
  const root = mkdtempSync(join(tmpdir(), 'hubbub-docs-'));
  cpSync(join(REPO, 'README.md'), join(root, 'README.md'));
  cpSync(join(REPO, 'docs'), join(root, 'docs'), { recursive: true });
  return root;
}

describe('generated tables', () => {
  it('match the code (node scripts/docs.mjs --check)', () => {
    const ran = check();
    expect(ran.stderr, 'run `npm run docs` to regenerate them').toBe('');
    expect(ran.status).toBe(0);
  });

  it('are reported by file and name when one drifts, and rewritten in place', () => {
    const root = copyOfDocs();
    try {
      const protocol = join(root, 'docs/protocol.md');
      const text = readFileSync(protocol, 'utf8');
      writeFileSync(protocol, text.replace(/^\| 40301 \|.*$/m, '| 40301 | Capability | something else |'));
      const drifted = generator.regenerate(root);
      expect(drifted.drifted).toEqual(['docs/protocol.md: error-codes']);
      expect(drifted.problems).toEqual([]);
      // What the script writes back is the doc as it was.
      expect(drifted.files.find((f) => f.file === 'docs/protocol.md')?.updated).toBe(text);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('--check exits 1 and names each drifted table', () => {
    const root = copyOfDocs();
    try {
      const server = join(root, 'docs/server.md');
      writeFileSync(server, readFileSync(server, 'utf8').replace(/^\| `--max-buffered` \|.*\n/m, ''));
      const ran = check(root);
      expect(ran.status).toBe(1);
      expect(ran.stderr).toContain('docs/server.md: flags serve differs from the code');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('refuse an unknown table name and a table no doc holds', () => {
    const root = copyOfDocs();
    try {
      const protocol = join(root, 'docs/protocol.md');
      writeFileSync(protocol, readFileSync(protocol, 'utf8').replace('<!-- generated: close-codes -->', '<!-- generated: close-kodes -->'));
      const { problems } = generator.regenerate(root);
      expect(problems.join('\n')).toContain('docs/protocol.md: unknown generated table "close-kodes"');
      expect(problems.join('\n')).toContain('no doc holds the generated table "close-codes"');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('list every flag of serve, devtoken and keys with its env twin and default', () => {
    for (const [name, specs] of [['flags serve', SERVE], ['flags devtoken', DEVTOKEN], ['flags keys', KEYS]] as const) {
      const table = generator.TABLES[name]();
      for (const spec of specs) {
        const row = table.split('\n').find((line) => line.startsWith(`| \`--${spec.name}\` |`));
        expect(row, `${name}: --${spec.name}`).toBeDefined();
        if (spec.env) expect(row).toContain(`\`${spec.env}\``);
        if (spec.default !== undefined) expect(row).toContain(`\`${spec.default}\``);
      }
    }
  });

  it('list every error code, close code and frame type', () => {
    const errors = generator.TABLES['error-codes']();
    for (const [name, code] of Object.entries(ErrorCode)) expect(errors).toContain(`| ${code} | ${name} |`);
    const closes = generator.TABLES['close-codes']();
    for (const c of CLOSE_CODES) expect(closes).toContain(`| ${c.code} | ${c.name} |`);
    // frame-types.ts is held to the ClientFrame and ServerFrame unions by the compiler; here, the tables hold it all.
    for (const f of FRAME_TYPES) expect(generator.TABLES[`frames ${f.from}`](), f.t).toContain(`| \`${f.t}\` | ${f.fields.map((x) => `\`${x}\``).join(', ')} |`);
    expect(FRAME_TYPES.map((f) => f.t)).toEqual(expect.arrayContaining(['tsub', 'tunsub', 'dm', 'evt']));
  });
});
