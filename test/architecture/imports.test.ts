/**
 * The layers of ../shared/DESIGN.md, checked on the import graph of packages/<name>/src: an arrow
 * points down (cli → server entry → service → embed, transport, compat, engine → core → protocol),
 * nothing imports cli, core imports only protocol and itself, no file is part of an import cycle, and
 * the client SDK and the protocol never reach into the server.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cycles, importGraph, layerOf, layerProblem } from './import-graph.js';
import { ROOT, report, typeScriptFiles } from './source-tree.js';

const files = typeScriptFiles();
const imports = importGraph(files);
const erased = (typeOnly: boolean) => (typeOnly ? ' (type only)' : '');

describe('the import graph of packages/*/src', () => {
  it('reads the whole tree', () => {
    // A parser that found nothing would pass every check below.
    expect(files.length).toBeGreaterThan(50);
    expect(imports.filter((i) => i.to).length).toBeGreaterThan(100);
  });

  it('has no import cycle', () => {
    const found = cycles(imports);
    // An edge is erased at compile time only when every import along it is.
    const valueEdge = new Set(imports.filter((i) => !i.typeOnly && i.to).map((i) => `${i.from} ${i.to}`));
    const typeOnlyEdge = new Set(imports.filter((i) => i.to && !valueEdge.has(`${i.from} ${i.to}`)).map((i) => `${i.from} ${i.to}`));
    const lines = found.map((cycle) => {
      const steps = [...cycle, cycle[0]];
      return steps.map((file, n) => (n > 0 && typeOnlyEdge.has(`${steps[n - 1]} ${file}`) ? `(type) ${file}` : file)).join(' → ');
    });
    expect(found.length, report('import cycles (each shortest cycle through an edge of a cycle; "(type)": the edge is an import type)', lines)).toBe(0);
  });

  it('every import points down the layers, or within one', () => {
    const lines = imports.flatMap((i) => {
      if (!i.to) return [];
      const problem = layerProblem(layerOf(i.from), layerOf(i.to));
      return problem ? [`${i.from}:${i.line} → ${i.to}${erased(i.typeOnly)}  [${layerOf(i.from)} → ${layerOf(i.to)}: ${problem}]`] : [];
    });
    expect(lines.length, report('imports against the layer order', lines)).toBe(0);
  });

  it('core knows no sockets or HTTP: of packages, it imports only @hubbub/protocol', () => {
    const io = /^node:(http|https|http2|net|tls|dgram|child_process|cluster|worker_threads)$/;
    const lines = imports
      .filter((i) => layerOf(i.from) === 'core' && i.external && (i.external.startsWith('node:') ? io.test(i.external) : i.external !== '@hubbub/protocol'))
      .map((i) => `${i.from}:${i.line}: '${i.specifier}'${erased(i.typeOnly)}`);
    expect(lines.length, report('imports of I/O or other packages from core', lines)).toBe(0);
  });

  it('every relative import names a file that exists', () => {
    const lines = imports.filter((i) => i.specifier.startsWith('.') && !i.to).map((i) => `${i.from}:${i.line}: '${i.specifier}'`);
    expect(lines.length, report('relative imports of no file', lines)).toBe(0);
  });
});

describe('packages', () => {
  it('@hubbub/client and @hubbub/protocol import nothing from @hubbub/server', () => {
    const lines = imports
      .filter((i) => (i.from.startsWith('packages/client/') || i.from.startsWith('packages/protocol/')) && (i.external === '@hubbub/server' || i.to?.startsWith('packages/server/')))
      .map((i) => `${i.from}:${i.line}: '${i.specifier}'`);
    expect(lines.length, report('imports of the server from the SDK or the protocol', lines)).toBe(0);
  });

  it('@hubbub/protocol has no runtime dependency', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'packages/protocol/package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
    const declared = ['dependencies', 'peerDependencies', 'optionalDependencies'].flatMap((field) => Object.keys(manifest[field] ?? {}).map((name) => `package.json ${field}: ${name}`));
    const imported = imports
      .filter((i) => i.from.startsWith('packages/protocol/') && i.external && !i.typeOnly)
      .map((i) => `${i.from}:${i.line}: '${i.specifier}'`);
    const lines = [...declared, ...imported];
    expect(lines.length, report('runtime dependencies of @hubbub/protocol (it runs in browsers and servers alike)', lines)).toBe(0);
  });
});
