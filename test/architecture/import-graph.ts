/**
 * The import graph of packages/<name>/src: every `import … from`, `export … from`, `import '…'`,
 * `import('…')` (in code and in types) and `import x = require('…')`, read with TypeScript's own parser
 * so comments and strings never count, and the layer each file belongs to (../shared/DESIGN.md).
 */
import { existsSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import ts from 'typescript';
import { ROOT, type SourceFile } from './source-tree.js';

export interface Import {
  from: string;
  specifier: string;
  line: number;
  /** Erased at compile time: `import type`, `export type`, `import { type A }` only, `import('x').T` in a type. */
  typeOnly: boolean;
  /** The file imported (from the repository root), when it is one of ours. */
  to?: string;
  /** What a bare specifier names: `@hubbub/server`, `node:fs`, `ws`. */
  external?: string;
}

const WORKSPACE_SCOPE = '@hubbub/';

/** The module specifiers a file names, with their lines. */
export function importsOf(file: SourceFile): Array<Omit<Import, 'to' | 'external'>> {
  const source = ts.createSourceFile(file.path, file.text, ts.ScriptTarget.Latest, true);
  const found: Array<Omit<Import, 'to' | 'external'>> = [];
  const add = (node: ts.Node, specifier: ts.Expression | undefined, typeOnly: boolean) => {
    if (!specifier || !ts.isStringLiteralLike(specifier)) return;
    found.push({ from: file.path, specifier: specifier.text, line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1, typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const bindings = clause?.namedBindings;
      const onlyTypeNames = !!clause && !clause.name && !!bindings && ts.isNamedImports(bindings) && bindings.elements.length > 0 && bindings.elements.every((e) => e.isTypeOnly);
      add(node, node.moduleSpecifier, !!clause?.isTypeOnly || onlyTypeNames);
    } else if (ts.isExportDeclaration(node)) {
      const clause = node.exportClause;
      const onlyTypeNames = !!clause && ts.isNamedExports(clause) && clause.elements.length > 0 && clause.elements.every((e) => e.isTypeOnly);
      add(node, node.moduleSpecifier, node.isTypeOnly || onlyTypeNames);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node, node.moduleReference.expression, node.isTypeOnly);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node, node.arguments[0], false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node, node.argument.literal as ts.Expression, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Where a specifier leads: one of our files, or an external module. */
function resolve(from: string, specifier: string, files: Set<string>): Pick<Import, 'to' | 'external'> {
  if (specifier.startsWith('.')) {
    const base = normalize(join(dirname(from), specifier)).split('\\').join('/');
    const stem = base.replace(/\.(m|c)?js$/, '');
    for (const candidate of [`${stem}.ts`, `${stem}.mts`, `${stem}.d.ts`, `${stem}/index.ts`, base]) {
      if (files.has(candidate)) return { to: candidate };
    }
    return {};
  }
  if (specifier.startsWith(WORKSPACE_SCOPE)) {
    const pkg = specifier.slice(WORKSPACE_SCOPE.length).split('/')[0];
    const entry = `packages/${pkg}/src/index.ts`;
    return { external: `${WORKSPACE_SCOPE}${pkg}`, to: files.has(entry) || existsSync(join(ROOT, entry)) ? entry : undefined };
  }
  return { external: specifier.startsWith('node:') ? specifier : specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/') };
}

export function importGraph(files: SourceFile[]): Import[] {
  const paths = new Set(files.map((f) => f.path));
  return files.flatMap((file) => importsOf(file).map((i) => ({ ...i, ...resolve(file.path, i.specifier, paths) })));
}

/**
 * The layers, lowest first; an import may point to its own layer or a lower one, never up. Layers of
 * the same rank (engine, compat, transport, embed) may import each other.
 */
const RANKS: Record<string, number> = {
  protocol: 0,
  core: 1,
  engine: 2,
  compat: 2,
  transport: 2,
  embed: 2,
  service: 3,
  // packages/server/src/index.ts: the package's public surface, re-exporting the layers below it.
  'server entry': 4,
  cli: 5,
};

/** The layer of a file: `protocol`, `client`, a folder of packages/server/src, or `server entry`. */
export function layerOf(path: string): string {
  const [, pkg, , ...rest] = path.split('/');
  if (pkg !== 'server') return pkg;
  if (rest.length === 1) return rest[0] === 'index.ts' ? 'server entry' : `server/src/${rest[0]}`;
  return rest[0];
}

/** Why an import breaks the layer order, or undefined when it keeps it. */
export function layerProblem(fromLayer: string, toLayer: string): string | undefined {
  if (fromLayer === toLayer) return undefined;
  if (fromLayer === 'client') return toLayer === 'protocol' ? undefined : 'the client SDK imports only @hubbub/protocol';
  if (fromLayer === 'protocol') return 'protocol is below everything: it imports only itself';
  const from = RANKS[fromLayer];
  const to = RANKS[toLayer];
  if (from === undefined) return `${fromLayer} is in no layer of DESIGN.md (cli, service, embed, transport, compat, engine, core)`;
  if (to === undefined) return toLayer === 'client' ? 'the server does not import the client SDK' : `${toLayer} is in no layer of DESIGN.md`;
  if (toLayer === 'cli') return 'nothing imports cli';
  if (fromLayer === 'core') return toLayer === 'protocol' ? undefined : 'core imports only protocol and itself';
  return to <= from ? undefined : `an import points up: ${fromLayer} is below ${toLayer}`;
}

/**
 * The cycles of the graph: for each strongly connected group of files, one shortest cycle through each
 * of its edges, so every edge that keeps a cycle closed is shown.
 */
export function cycles(imports: Import[]): string[][] {
  const next = new Map<string, Set<string>>();
  for (const i of imports) {
    if (!i.to) continue;
    if (!next.has(i.from)) next.set(i.from, new Set());
    next.get(i.from)!.add(i.to);
  }
  const groups = stronglyConnected(next);
  const found = new Map<string, string[]>();
  for (const group of groups) {
    const inGroup = new Set(group);
    for (const from of group) {
      for (const to of next.get(from) ?? []) {
        if (!inGroup.has(to)) continue;
        const back = shortestPath(next, to, from, inGroup);
        if (!back) continue;
        // `back` runs to → … → from; the edge from → to closes it.
        const cycle = back;
        // One rotation per cycle: start at its smallest path.
        const start = cycle.indexOf([...cycle].sort()[0]);
        const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
        found.set(rotated.join(' '), rotated);
      }
    }
  }
  return [...found.values()].sort((a, b) => a.length - b.length || a.join().localeCompare(b.join()));
}

function shortestPath(next: Map<string, Set<string>>, from: string, to: string, within: Set<string>): string[] | undefined {
  const cameFrom = new Map<string, string | null>([[from, null]]);
  const queue = [from];
  while (queue.length) {
    const at = queue.shift()!;
    if (at === to) {
      const path: string[] = [];
      for (let step: string | null = at; step !== null; step = cameFrom.get(step)!) path.unshift(step);
      return path;
    }
    for (const n of next.get(at) ?? []) {
      if (within.has(n) && !cameFrom.has(n)) {
        cameFrom.set(n, at);
        queue.push(n);
      }
    }
  }
  return undefined;
}

/** Tarjan's algorithm; only groups that hold a cycle (more than one file, or a file importing itself). */
function stronglyConnected(next: Map<string, Set<string>>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  const connect = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1 || next.get(v)?.has(v)) groups.push(group.sort());
    }
  };
  for (const v of [...next.keys()].sort()) if (!index.has(v)) connect(v);
  return groups;
}
