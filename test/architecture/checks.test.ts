/** The architecture checks themselves, on small made-up inputs: each finds what it is there to find. */
import { describe, expect, it } from 'vitest';
import { cycles, importGraph, layerOf, layerProblem } from './import-graph.js';

const file = (path: string, text: string) => ({ path, pkg: path.split('/')[1], text });

describe('importGraph', () => {
  it('reads static, re-export, side-effect, dynamic and type imports, not comments or strings', () => {
    const graph = importGraph([
      file(
        'packages/server/src/core/a.ts',
        [
          "import { b } from './b.js';",
          "import type { C } from '../engine/c.js';",
          "import { type D } from './d.js';",
          "export { e } from './e.js';",
          "export type * from './f.js';",
          "import './g.js';",
          "const h = await import('./h.js');",
          "let i: import('./i.js').I;",
          "// import { x } from './commented.js';",
          "const s = \"import { y } from './string.js'\";",
        ].join('\n'),
      ),
    ]);
    expect(graph.map((i) => [i.specifier, i.line, i.typeOnly])).toEqual([
      ['./b.js', 1, false],
      ['../engine/c.js', 2, true],
      ['./d.js', 3, true],
      ['./e.js', 4, false],
      ['./f.js', 5, true],
      ['./g.js', 6, false],
      ['./h.js', 7, false],
      ['./i.js', 8, true],
    ]);
  });

  it('resolves .js to the .ts file, a folder to its index.ts, and @hubbub/<pkg> to its entry', () => {
    const graph = importGraph([
      file('packages/server/src/service/a.ts', "import './store/index.js';\nimport './store';\nimport '@hubbub/protocol';\nimport 'ws';\nimport './missing.js';"),
      file('packages/server/src/service/store/index.ts', ''),
      file('packages/protocol/src/index.ts', ''),
    ]);
    expect(graph.map((i) => i.to ?? i.external ?? null)).toEqual([
      'packages/server/src/service/store/index.ts',
      'packages/server/src/service/store/index.ts',
      'packages/protocol/src/index.ts',
      'ws',
      null,
    ]);
  });
});

describe('layerProblem', () => {
  const problem = (from: string, to: string) => layerProblem(layerOf(from), layerOf(to));
  it('lets imports point down or stay in a layer', () => {
    expect(problem('packages/server/src/cli/main.ts', 'packages/server/src/service/server.ts')).toBeUndefined();
    expect(problem('packages/server/src/service/rest.ts', 'packages/server/src/compat/foony/rest.ts')).toBeUndefined();
    expect(problem('packages/server/src/embed/realtime.ts', 'packages/server/src/transport/ws.ts')).toBeUndefined();
    expect(problem('packages/server/src/engine/redis.ts', 'packages/server/src/core/engine.ts')).toBeUndefined();
    expect(problem('packages/server/src/core/session.ts', 'packages/protocol/src/index.ts')).toBeUndefined();
    expect(problem('packages/client/src/channel.ts', 'packages/protocol/src/index.ts')).toBeUndefined();
  });

  it('refuses imports that point up, into cli, out of core, or from the SDK and protocol into the server', () => {
    expect(problem('packages/server/src/core/router.ts', 'packages/server/src/engine/memory.ts')).toMatch(/core imports only protocol/);
    expect(problem('packages/server/src/transport/ws.ts', 'packages/server/src/service/server.ts')).toMatch(/points up/);
    expect(problem('packages/server/src/service/server.ts', 'packages/server/src/cli/options.ts')).toMatch(/nothing imports cli/);
    expect(problem('packages/server/src/service/server.ts', 'packages/server/src/index.ts')).toMatch(/points up/);
    expect(problem('packages/client/src/channel.ts', 'packages/server/src/index.ts')).toMatch(/client SDK/);
    expect(problem('packages/protocol/src/codec.ts', 'packages/client/src/index.ts')).toMatch(/protocol is below/);
    expect(problem('packages/server/src/stray.ts', 'packages/server/src/core/session.ts')).toMatch(/no layer/);
  });
});

describe('cycles', () => {
  it('finds every cycle through each edge of a group, and nothing in a tree', () => {
    const edge = (from: string, to: string) => ({ from, to, specifier: to, line: 1, typeOnly: false });
    expect(cycles([edge('a', 'b'), edge('b', 'c'), edge('a', 'c')])).toEqual([]);
    expect(cycles([edge('a', 'b'), edge('b', 'a'), edge('b', 'c'), edge('c', 'a'), edge('d', 'd'), edge('x', 'a')])).toEqual([
      ['d'],
      ['a', 'b'],
      ['a', 'b', 'c'],
    ]);
  });
});
