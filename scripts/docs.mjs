// The docs' tables of flags, error codes, close codes and frame types, generated from the code:
//   node scripts/docs.mjs           rewrite every generated table in README.md and docs/*.md in place
//   node scripts/docs.mjs --check   change nothing; exit 1 naming each table that drifted from the code
//   --root DIR                      the README.md and docs/ of another tree (default: this repo)
// A table sits between `<!-- generated: NAME -->` and `<!-- /generated -->`; NAME is a key of TABLES.
// It reads the built packages (packages/*/dist), so run `npm run build` first (`npm test` does).
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = fileURLToPath(new URL('..', import.meta.url));

async function load(path) {
  const file = join(REPO, path);
  if (!existsSync(file)) throw new Error(`scripts/docs.mjs reads ${path}: run npm run build first`);
  return import(pathToFileURL(file).href);
}

const { CLOSE_CODES, ERROR_CODES, FRAME_TYPES } = await load('packages/protocol/dist/index.js');
const { DEVTOKEN, KEYS, SERVE } = await load('packages/server/dist/cli/options.js');
const { formatDuration } = await load('packages/server/dist/service/duration.js');

/** What a client does after each close class (packages/protocol/src/close-codes.ts). */
const CLASS_MEANING = {
  reconnect: 'reconnect at once',
  backoff: 'reconnect after backoff',
  renew: 'renew the token, then reconnect',
  stop: 'stop (`failed`)',
};

/** Every generated table, by the name its markers carry. */
export const TABLES = {
  'flags serve': () => flagTable(SERVE),
  'flags devtoken': () => flagTable(DEVTOKEN),
  'flags keys': () => flagTable(KEYS),
  'error-codes': () =>
    table(
      ['code', 'name', 'meaning'],
      ERROR_CODES.map((e) => [String(e.code), e.name, e.description]),
    ),
  'close-codes': () =>
    table(
      ['code', 'name', 'the SDK then', 'meaning'],
      CLOSE_CODES.map((c) => [String(c.code), c.name, CLASS_MEANING[c.class] ?? c.class, c.description]),
    ),
  'frames client': () =>
    table(
      ['`t`', 'fields', 'reply', 'what it does'],
      FRAME_TYPES.filter((f) => f.from === 'client').map((f) => [code(f.t), fields(f), f.reply ?? '', f.description]),
    ),
  'frames server': () =>
    table(
      ['`t`', 'fields', 'what it says'],
      FRAME_TYPES.filter((f) => f.from === 'server').map((f) => [code(f.t), fields(f), f.description]),
    ),
};

function flagTable(specs) {
  return table(
    ['flag', 'env', 'default', 'value', 'what it does'],
    specs.map((s) => [code(`--${s.name}`), s.env ? code(s.env) : '', s.default === undefined ? '' : code(String(s.default)), valueOf(s), s.help]),
  );
}

/** The values an option takes, from its type and bounds. */
function valueOf(spec) {
  const between = (show) => {
    const { min, max } = spec;
    if (min !== undefined && max !== undefined) return ` ${show(min)}–${show(max)}`;
    if (min !== undefined) return ` ≥ ${show(min)}`;
    if (max !== undefined) return ` ≤ ${show(max)}`;
    return '';
  };
  switch (spec.type) {
    case 'boolean':
      return 'on/off (`--no-…`, `true`/`false`)';
    case 'number':
      return `${spec.integer ? 'integer' : 'number'}${between(String)}`;
    case 'duration':
      return `duration${between(formatDuration)}`;
    case 'list':
      return `comma-separated ${spec.value ?? 'list'}`;
    default:
      if (spec.choices) return spec.choices.map(code).join(', ');
      return spec.value ?? 'text';
  }
}

function fields(frame) {
  return frame.fields.map(code).join(', ');
}

function code(text) {
  return `\`${text}\``;
}

function table(head, rows) {
  const line = (cells) => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
  return [line(head), `|${head.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}

const MARKER = /<!-- generated: ([^>]*?) -->\n([\s\S]*?)<!-- \/generated -->/g;

/** README.md and docs/*.md, relative to `root`. */
export function docFiles(root = REPO) {
  const docs = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).sort();
  return ['README.md', ...docs.map((f) => `docs/${f}`)];
}

/**
 * Regenerate the tables of every doc under `root`. Returns each file's new text, the tables that
 * differed from the code (`file: name`) and what is wrong with the markers themselves.
 */
export function regenerate(root = REPO) {
  const files = [];
  const drifted = [];
  const problems = [];
  const seen = new Set();
  for (const file of docFiles(root)) {
    const text = readFileSync(join(root, file), 'utf8');
    const opened = (text.match(/<!-- generated: /g) ?? []).length;
    let closed = 0;
    const updated = text.replace(MARKER, (whole, name, body) => {
      closed++;
      const make = TABLES[name];
      if (!make) {
        problems.push(`${file}: unknown generated table "${name}" (known: ${Object.keys(TABLES).join(', ')})`);
        return whole;
      }
      seen.add(name);
      const fresh = `${make()}\n`;
      if (body !== fresh) drifted.push(`${file}: ${name}`);
      return `<!-- generated: ${name} -->\n${fresh}<!-- /generated -->`;
    });
    if (opened !== closed) problems.push(`${file}: a <!-- generated: … --> marker without its <!-- /generated --> (or not at the start of a line)`);
    files.push({ file, text, updated });
  }
  for (const name of Object.keys(TABLES)) if (!seen.has(name)) problems.push(`no doc holds the generated table "${name}"`);
  return { files, drifted, problems };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fileURLToPath(pathToFileURL(process.argv[1]))) {
  const args = process.argv.slice(2);
  const check = args.includes('--check');
  // --root DIR: the docs of another tree (the tests check a copy); default this repo.
  const root = args.includes('--root') ? args[args.indexOf('--root') + 1] : REPO;
  const { files, drifted, problems } = regenerate(root);
  for (const problem of problems) process.stderr.write(`docs: ${problem}\n`);
  if (check) {
    for (const table of drifted) process.stderr.write(`docs: ${table} differs from the code: run npm run docs\n`);
    process.exit(drifted.length || problems.length ? 1 : 0);
  }
  for (const { file, text, updated } of files) if (updated !== text) writeFileSync(join(root, file), updated);
  for (const table of drifted) process.stdout.write(`docs: regenerated ${table}\n`);
  process.exit(problems.length ? 1 : 0);
}
