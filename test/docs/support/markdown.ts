/**
 * The fenced code blocks of README.md and docs/*.md, each with the marker that precedes it:
 * `<!-- runnable: NAME -->` (a test runs exactly this block, found with `runnableBlock(NAME)`) or
 * `<!-- not runnable: REASON -->`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export type Marker = { kind: 'runnable'; name: string } | { kind: 'not runnable'; reason: string };

export interface CodeBlock {
  /** Relative to the repo, e.g. `docs/server.md`. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The info string after the fence (`sh`, `js`, …). */
  lang: string;
  /** The block's text, without the fences and without the fence's indentation. */
  text: string;
  marker?: Marker;
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^`\s]*)/;
const MARKER = /^<!-- (runnable: ([a-z0-9-]+)|not runnable: (.+?)) -->$/;

/** README.md and docs/*.md (not docs/internal). */
export function docFiles(): string[] {
  const docs = readdirSync(join(REPO, 'docs')).filter((f) => f.endsWith('.md')).sort();
  return ['README.md', ...docs.map((f) => `docs/${f}`)];
}

export function codeBlocks(file: string): CodeBlock[] {
  const lines = readFileSync(join(REPO, file), 'utf8').split('\n');
  const blocks: CodeBlock[] = [];
  let lastText = '';
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]);
    if (!open) {
      if (lines[i].trim()) lastText = lines[i].trim();
      continue;
    }
    const [, indent, fence, lang] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const close = FENCE.exec(lines[j]);
      if (close && close[2][0] === fence[0] && close[2].length >= fence.length && !close[3]) break;
      body.push(lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j].trimStart());
    }
    const m = MARKER.exec(lastText);
    const marker: Marker | undefined = m ? (m[2] ? { kind: 'runnable', name: m[2] } : { kind: 'not runnable', reason: m[3] }) : undefined;
    blocks.push({ file, line: i + 1, lang, text: body.join('\n'), marker });
    lastText = '';
    i = j;
  }
  return blocks;
}

export function allCodeBlocks(): CodeBlock[] {
  return docFiles().flatMap(codeBlocks);
}

/** The one block marked `<!-- runnable: NAME -->`: what a test runs. */
export function runnableBlock(name: string): CodeBlock {
  const found = allCodeBlocks().filter((b) => b.marker?.kind === 'runnable' && b.marker.name === name);
  if (found.length !== 1) throw new Error(`${found.length} code blocks are marked <!-- runnable: ${name} --> (want exactly one)`);
  return found[0];
}

/**
 * A shell block's commands, one per entry: comments and blank lines dropped, lines ending in `\`
 * joined with the next, as a shell reads them.
 */
export function shellCommands(block: CodeBlock): string[] {
  const commands: string[] = [];
  let pending = '';
  for (const line of block.text.split('\n')) {
    if (!pending && (!line.trim() || line.trim().startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)}`;
      continue;
    }
    commands.push(pending + line);
    pending = '';
  }
  return commands;
}
