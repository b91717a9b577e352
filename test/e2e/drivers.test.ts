/**
 * `@hubbub/server` fits users who only embed it: ChannelHub, HubSocketServer and createRealtime on the
 * memory engine load no database or Redis driver, and work when none is installed; the parts that need
 * a driver load it when used and, when it is missing, say which package to install. Each case runs a
 * child process of the built package with module hooks (test/support/driver-hooks.mjs) that record or
 * refuse the drivers' imports, as a project without them would.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runToEnd } from '../support/commands.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const HOOKS = join(REPO, 'test/support/driver-hooks.mjs');
const DRIVERS = ['ioredis', 'pg', 'better-sqlite3'];
const scratch = mkdtempSync(join(tmpdir(), 'hubbub-drivers-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Run `source` (an ES module) in a child with the drivers recorded, or refused when `missing`. */
function child(source: string, missing: boolean) {
  return node(['--input-type=module', '-e', source], missing);
}

async function node(args: string[], missing: boolean) {
  const log = join(scratch, `imports-${Math.random().toString(36).slice(2)}.log`);
  const ran = await runToEnd(process.execPath, ['--import', HOOKS, ...args], {
    cwd: REPO,
    env: { ...process.env, HUBBUB_TEST_DRIVERS: DRIVERS.join(','), HUBBUB_TEST_DRIVER_LOG: log, HUBBUB_TEST_DRIVERS_MISSING: missing ? '1' : '0' },
    timeoutMs: 30_000,
  });
  const imported = existsSync(log) ? [...new Set(readFileSync(log, 'utf8').split('\n').filter(Boolean))].sort() : [];
  return { ...ran, imported };
}

const EMBED = `
import { ChannelHub, HubSocketServer, MemoryEngine, createRealtime } from '@hubbub/server';
const seen = [];
const hub = new ChannelHub({ engine: new MemoryEngine() });
const conn = (id) => ({ id, send: (type, payload) => seen.push(id + ' ' + type), onClose() {} });
hub.join('lobby', 'ada', conn('a'));
hub.join('lobby', 'bob', conn('b'));
const realtime = createRealtime({ driver: 'sse' });
new HubSocketServer({ paths: ['/ws'] });
console.log(JSON.stringify({ seen, members: hub.presence('lobby'), realtime: typeof realtime.broadcast }));
await realtime.close?.();
process.exit(0);
`;

describe('@hubbub/server without drivers', () => {
  it('ChannelHub, HubSocketServer and createRealtime import no database or Redis driver', async () => {
    const ran = await child(EMBED, false);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.imported).toEqual([]);
    expect(JSON.parse(ran.stdout)).toMatchObject({ seen: ['a presence:join'], members: ['ada', 'bob'], realtime: 'function' });
  });

  it('they work in a project where no driver is installed', async () => {
    const ran = await child(EMBED, true);
    expect(ran.code, ran.stderr).toBe(0);
    expect(JSON.parse(ran.stdout).members).toEqual(['ada', 'bob']);
  });

  it('RedisEngine without ioredis: a 50001 error naming the package to install', async () => {
    const ran = await child(
      `import { RedisEngine } from '@hubbub/server';
       try { const engine = new RedisEngine({ url: 'redis://127.0.0.1:6379' }); await engine.start({ message() {}, presence() {} }); console.log('started'); }
       catch (err) { console.log(JSON.stringify({ name: err.name, code: err.code, message: err.message })); }
       process.exit(0);`,
      true,
    );
    expect(ran.code, ran.stderr).toBe(0);
    const err = JSON.parse(ran.stdout);
    expect(err).toMatchObject({ name: 'HubbubError', code: 50001 });
    expect(err.message).toMatch(/npm install ioredis/);
  });

  it('HubbubServer on the SQLite store without better-sqlite3: start rejects naming the package and --postgres', async () => {
    const dataDir = join(scratch, 'data');
    const ran = await child(
      `import { HubbubServer } from '@hubbub/server';
       try { const s = await HubbubServer.start({ port: 0, host: '127.0.0.1', dataDir: ${JSON.stringify(dataDir)}, logger: undefined }); console.log('started'); await s.close(); }
       catch (err) { console.log(JSON.stringify({ message: err.message })); }
       process.exit(0);`,
      true,
    );
    expect(ran.code, ran.stderr).toBe(0);
    const err = JSON.parse(ran.stdout.trim().split('\n').at(-1)!);
    expect(err.message).toMatch(/better-sqlite3/);
    expect(err.message).toMatch(/--postgres/);
  });

  it('hubbub serve --redis without ioredis exits non-zero saying what to install', async () => {
    const cli = join(REPO, 'packages/server/dist/cli/main.js');
    const ran = await node([cli, 'serve', '--port', '0', '--data-dir', join(scratch, 'cli'), '--redis', 'redis://127.0.0.1:6379'], true);
    expect(ran.code).not.toBe(0);
    expect(ran.stderr + ran.stdout).toMatch(/The Redis engine \(--redis\) needs the package ioredis, which is not installed: npm install ioredis/);
  });
});
