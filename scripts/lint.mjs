// The project's own lint rules for packages/*/src, printed one a line as `file:line: rule: what`, exit 1
// when there is any. Run by `npm run lint`, by CI (.ci/run) and by test/architecture/lint.test.ts.
//   no-console      logs go through the injected logger, never `console.*`
//   no-silent-catch a catch with an empty body (`catch {}`, `.catch(() => {})`, `.then(ok, () => {})`)
//                   drops the error: handle it, log it, rethrow it, or say why in a comment on its line,
//                   the line before or inside the braces (`// the socket is gone: nothing to do`)
//   no-unused       TypeScript's noUnusedLocals and noUnusedParameters (tsconfig.lint.json)
// TypeScript's parser reads the code, so comments and strings never count. No dependency beyond
// `typescript`, which the build already needs.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const LINT_TSCONFIG = join(ROOT, 'tsconfig.lint.json');

/** The diagnostics of noUnusedLocals and noUnusedParameters. */
const UNUSED_CODES = new Set([6133, 6138, 6192, 6196, 6198, 6199, 6205]);

const rel = (file) => relative(ROOT, file).split('\\').join('/');

function sourceFiles() {
  const walk = (dir) =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
  return readdirSync(join(ROOT, 'packages'), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .flatMap((e) => {
      const src = join(ROOT, 'packages', e.name, 'src');
      return ts.sys.directoryExists(src) ? walk(src) : [];
    })
    .sort();
}

/**
 * The 1-based lines that hold (part of) a comment with some text, from the comments before and after
 * each node (the parser's view: a `//` in a string or a template is no comment).
 */
function commentLines(source) {
  const lines = new Set();
  const visit = (node) => {
    for (const range of [...(ts.getLeadingCommentRanges(source.text, node.pos) ?? []), ...(ts.getTrailingCommentRanges(source.text, node.end) ?? [])]) {
      const text = source.text.slice(range.pos, range.end).replace(/^\/\/|^\/\*|\*\/$/g, '').trim();
      if (!text) continue;
      const first = source.getLineAndCharacterOfPosition(range.pos).line + 1;
      const last = source.getLineAndCharacterOfPosition(range.end).line + 1;
      for (let l = first; l <= last; l++) lines.add(l);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return lines;
}

/** Is this function's body empty: `{}` (whatever comments it holds), `undefined` or `void 0`? */
function emptyBody(fn) {
  if (!fn || !(ts.isArrowFunction(fn) || ts.isFunctionExpression(fn))) return false;
  const body = fn.body;
  if (ts.isBlock(body)) return body.statements.length === 0;
  return (ts.isIdentifier(body) && body.text === 'undefined') || (ts.isVoidExpression(body) && ts.isNumericLiteral(body.expression));
}

/** A comment inside the braces of an empty block (no node's trivia reaches there; nothing else is inside). */
function commentInside(source, block) {
  if (!block || !ts.isBlock(block)) return false;
  const inner = source.text.slice(block.getStart(source) + 1, block.end - 1);
  return /\/\/\s*\S|\/\*[\s\S]*?\S[\s\S]*?\*\//.test(inner);
}

/** The no-console and no-silent-catch findings in one file's text, as `{ line, rule, what }`. */
export function lintSource(path, text) {
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const commented = commentLines(source);
  const found = [];
  const lineOf = (node) => source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
  const explained = (line, block) => commented.has(line) || commented.has(line - 1) || commentInside(source, block);
  const visit = (node) => {
    if ((ts.isPropertyAccessExpression(node) || ts.isElementAccessExpression(node)) && isConsole(node.expression)) {
      const name = ts.isPropertyAccessExpression(node) ? node.name.text : '[…]';
      found.push({ line: lineOf(node), rule: 'no-console', what: `console.${name}: log through the injected logger` });
    }
    if (ts.isCatchClause(node) && node.block.statements.length === 0) {
      const line = lineOf(node);
      if (!explained(line, node.block)) found.push({ line, rule: 'no-silent-catch', what: 'empty catch block: handle, log at debug with why, rethrow, or comment why there is nothing to do' });
    }
    if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
      const method = node.expression.name.text;
      const handler = method === 'catch' ? node.arguments[0] : method === 'then' ? node.arguments[1] : undefined;
      if (emptyBody(handler)) {
        const line = source.getLineAndCharacterOfPosition(node.expression.name.getStart(source)).line + 1;
        const handlerLine = lineOf(handler);
        if (!explained(line, handler.body) && !explained(handlerLine, handler.body)) {
          found.push({ line, rule: 'no-silent-catch', what: `.${method}() with an empty rejection handler: handle, log at debug with why, or comment why there is nothing to do` });
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function isConsole(expression) {
  if (ts.isIdentifier(expression)) return expression.text === 'console';
  // globalThis.console.log, window.console.log
  return ts.isPropertyAccessExpression(expression) && expression.name.text === 'console' && ts.isIdentifier(expression.expression) && ['globalThis', 'window', 'self', 'global'].includes(expression.expression.text);
}

/** noUnusedLocals / noUnusedParameters: a type-check of every package's src with tsconfig.lint.json. */
function unusedViolations() {
  const config = ts.getParsedCommandLineOfConfigFile(LINT_TSCONFIG, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => fail(d) });
  if (!config) fail(`cannot read ${LINT_TSCONFIG}`);
  if (config.errors.length) fail(config.errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('\n'));
  const program = ts.createProgram({ rootNames: config.fileNames, options: config.options });
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => UNUSED_CODES.has(d.code) && d.file && rel(d.file.fileName).startsWith('packages/'))
    .map((d) => ({
      file: rel(d.file.fileName),
      line: d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1,
      rule: 'no-unused',
      what: ts.flattenDiagnosticMessageText(d.messageText, ' '),
    }));
}

function fail(problem) {
  process.stderr.write(`lint: ${typeof problem === 'string' ? problem : ts.flattenDiagnosticMessageText(problem.messageText, '\n')}\n`);
  process.exit(2);
}

/** Every finding of every rule in every package's src, as `{ file, line, rule, what }`, sorted. */
export function lint() {
  const rules = sourceFiles().flatMap((file) => lintSource(file, readFileSync(file, 'utf8')).map((v) => ({ file: rel(file), ...v })));
  return [...rules, ...unusedViolations()].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.rule.localeCompare(b.rule));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const violations = lint();
  for (const v of violations) process.stdout.write(`${v.file}:${v.line}: ${v.rule}: ${v.what}\n`);
  if (violations.length) {
    const byRule = new Map();
    for (const v of violations) byRule.set(v.rule, (byRule.get(v.rule) ?? 0) + 1);
    const counts = [...byRule].map(([rule, n]) => `${n} ${rule}`).join(', ');
    process.stderr.write(`lint: ${violations.length} problem${violations.length > 1 ? 's' : ''} (${counts})\n`);
    process.exitCode = 1;
  }
}
