/**
 * Start-up is all or nothing: every fatal error ends `hubbub serve` within 10 s with a message that
 * names the service, the URL without its password, and the fix; nothing is left listening. The
 * config file and the command line share one schema, and `config check` agrees with `serve`.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { HubbubError, HubbubServer, RedisEngine } from '@hubbub/server';
import { CLI, SIGNING_KEY, cleanup, devtoken, runCli, startServer } from '../support/server.js';
import { client, closeClients } from '../support/clients.js';
import { TestRedis, freePort, redisAvailable } from '../support/redis.js';
import { TestDatabase } from '../support/postgres.js';

const FATAL_WITHIN_MS = 10_000;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hubbub-startup-'));
  dirs.push(dir);
  return dir;
}

function configFile(content: unknown): string {
  const file = join(tempDir(), 'bad.config.json');
  writeFileSync(file, JSON.stringify(content));
  return file;
}

interface Ended {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Run `hubbub serve` on `port` and wait for it to end; a process still running after 10 s fails the test. */
function serveUntilExit(port: number, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Ended> {
  const started = Date.now();
  const proc = spawn(process.execPath, [CLI, 'serve', '--port', String(port), '--host', '127.0.0.1', '--data-dir', tempDir(), ...args], {
    env: { ...process.env, JWT_SIGNING_KEY: SIGNING_KEY, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => (stdout += d));
  proc.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`hubbub serve ${args.join(' ')} still running after ${FATAL_WITHIN_MS} ms:\n${stdout}\n${stderr}`));
    }, FATAL_WITHIN_MS);
    proc.once('exit', (code) => {
      clearTimeout(deadline);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** Nothing accepts connections on the port. */
async function notListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

/** A fatal error as a user should see it: one clear line, no stack trace, exit code not 0. */
function expectFatal(ended: Ended, ...mentions: Array<string | RegExp>): void {
  expect(ended.code, ended.stderr).not.toBe(0);
  expect(ended.code).not.toBeNull();
  expect(ended.ms).toBeLessThan(FATAL_WITHIN_MS);
  for (const m of mentions) {
    if (typeof m === 'string') expect(ended.stderr).toContain(m);
    else expect(ended.stderr).toMatch(m);
  }
  expect(ended.stderr, 'no stack trace').not.toMatch(/^\s+at /m);
  expect(ended.stdout, 'never said it listens').not.toContain('listening on');
}

describe('fatal start-up errors exit within 10 s, naming the service and the fix', () => {
  it('Redis unreachable: the URL without its password, and which flag to fix', async () => {
    const [port, redisPort] = [await freePort(), await freePort()];
    const ended = await serveUntilExit(port, ['--redis', `redis://:hunter2-secret@127.0.0.1:${redisPort}`]);
    expectFatal(ended, 'Redis', `redis://:***@127.0.0.1:${redisPort}`, '--redis', 'REDIS_URL');
    expect(ended.stderr).not.toContain('hunter2-secret');
    expect(await notListening(port)).toBe(true);
  });

  it('port in use: says so and how to pick another, without an EADDRINUSE stack', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', () => resolve()));
    const port = (taken.address() as { port: number }).port;
    try {
      const ended = await serveUntilExit(port, []);
      expectFatal(ended, `port ${port} is in use`, '--port', 'PORT');
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('--watch-table without --postgres is refused before anything listens', async () => {
    const port = await freePort();
    const ended = await serveUntilExit(port, ['--watch-table', 'orders=order.changed']);
    expectFatal(ended, '--watch-table', '--postgres');
    expect(await notListening(port)).toBe(true);
  });

  it('PostgreSQL unreachable: the URL without its password, and which flag to fix', async () => {
    const [port, pgPort] = [await freePort(), await freePort()];
    const ended = await serveUntilExit(port, ['--postgres', `postgres://hubbub:pg-secret-pw@127.0.0.1:${pgPort}/hubbub`]);
    expectFatal(ended, 'PostgreSQL', `postgres://hubbub:***@127.0.0.1:${pgPort}/hubbub`, '--postgres', 'DATABASE_URL');
    expect(ended.stderr).not.toContain('pg-secret-pw');
    expect(await notListening(port)).toBe(true);
  });

  it('an invalid value from the environment twin is named with the variable', async () => {
    const port = await freePort();
    const ended = await serveUntilExit(port, [], { HUBBUB_LOG_LEVEL: 'loud' });
    expectFatal(ended, 'HUBBUB_LOG_LEVEL', '"loud"');
  });
});

const db = await TestDatabase.create();

describe.runIf(db)('an error after the port is bound (a watched table that does not exist)', () => {
  afterAll(() => db?.drop());

  it('the CLI exits within 10 s, naming the table, and the port is free again', async () => {
    const port = await freePort();
    const ended = await serveUntilExit(port, ['--postgres', db!.url, '--watch-table', 'no_such_table=orders.changed']);
    expectFatal(ended, 'no_such_table', '--watch-table');
    expect(await notListening(port)).toBe(true);
  });

  it('HubbubServer.start rejects and closes what it opened: the port can be bound again at once', async () => {
    const port = await freePort();
    const dataDir = tempDir();
    await expect(
      HubbubServer.start({ port, host: '127.0.0.1', dataDir, signingKey: SIGNING_KEY, postgres: db!.url, watchTables: [{ table: 'no_such_table', topic: 'orders.changed' }] }),
    ).rejects.toThrow(/no_such_table/);
    const again = createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(port, '127.0.0.1', () => resolve());
    });
    await new Promise((resolve) => again.close(resolve));
  });
});

describe('RedisEngine.start fails in bounded time when Redis is unreachable', () => {
  it('rejects with a 50001 HubbubError naming Redis and the URL without its password', async () => {
    const port = await freePort();
    const engine = new RedisEngine({ url: `redis://user:pw-in-url@127.0.0.1:${port}` });
    const started = Date.now();
    const err = await engine.start({ onMessage: () => {}, onPresence: () => {} } as never).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HubbubError);
    expect((err as HubbubError).code).toBe(50001);
    expect((err as Error).message).toContain(`cannot reach Redis at redis://user:***@127.0.0.1:${port}`);
    expect((err as Error).message).not.toContain('pw-in-url');
    expect(Date.now() - started).toBeLessThan(FATAL_WITHIN_MS);
    await engine.close();
  });
});

describe('one schema for config check and serve', () => {
  const several = {
    port: 70000,
    logLevel: 'loud',
    historyLimit: -5,
    namespaceHistory: ['chat=lots/10m'],
    heartbeat: 'often',
    watchTables: [{ table: 'orders' }],
    webhooks: [{ app: 'foony', url: 'ftp://example.com', secret: 'whsec_c2VjcmV0LXdlYmhvb2s=' }],
    prot: 1,
  };
  const expected = (file: string) => [
    `${file}: "port": 70000 is out of range 0-65535`,
    `${file}: "logLevel": "loud" is not one of fatal, error, warn, info, debug, trace`,
    `${file}: "historyLimit": -5 is less than 0`,
    `${file}: "namespaceHistory": item "chat=lots/10m"`,
    `${file}: "heartbeat" must be a duration`,
    `${file}: "watchTables[0].topic"`,
    `${file}: "webhooks[0].url"`,
    `${file}: unknown key "prot"`,
  ];

  it('config check prints every problem of the file, each with the file name and the key, and exits 1', async () => {
    const file = configFile(several);
    const checked = await runCli(['config', 'check', file]);
    expect(checked.code).toBe(1);
    for (const line of expected(file)) expect(checked.stderr).toContain(line);
    expect(checked.stderr).not.toContain('c2VjcmV0LXdlYmhvb2s');
    expect(checked.stdout).not.toContain('ok');
  });

  it('serve refuses the same file the same way, and nothing listens', async () => {
    const file = configFile(several);
    const port = await freePort();
    const ended = await serveUntilExit(port, ['--config', file]);
    expectFatal(ended, ...expected(file));
    expect(ended.code).toBe(1);
    expect(await notListening(port)).toBe(true);
  });

  it('values that config check accepts, serve accepts too', async () => {
    const file = configFile({ port: 0, logLevel: 'debug', historyLimit: 0, heartbeat: 20, namespaceHistory: 'chat=500/10m, ticker=10', watchApp: 'foony' });
    expect(await runCli(['config', 'check', file])).toMatchObject({ code: 0, stdout: `${file}: ok\n` });
    const server = await startServer(['--config', file]);
    await cleanup(server);
  });

  it('every command option has --help text and an environment twin', async () => {
    for (const command of ['serve', 'devtoken', 'keys']) {
      const { code, stdout } = await runCli([command, '--help']);
      expect(code).toBe(0);
      const rows = stdout.split('\n').filter((l) => /^\s+--/.test(l) && !l.includes('--help'));
      expect(rows.length, command).toBeGreaterThan(2);
      for (const row of rows) expect(row, `${command}: ${row}`).toMatch(/^\s+--[\w-]+(?: [A-Z=]+)?\s{2,}\S.*\(env [A-Z_]+/);
    }
  });
});

describe.runIf(redisAvailable())('--redis-prefix', () => {
  it('puts every key under the prefix (flag or HUBBUB_REDIS_PREFIX), so deployments can share one Redis', async () => {
    const redis = await TestRedis.start();
    const probe = new Redis(redis.url);
    try {
      for (const [args, env, prefix] of [
        [['--redis-prefix', 'tenant-a'], {}, 'tenant-a'],
        [[], { HUBBUB_REDIS_PREFIX: 'tenant-b' }, 'tenant-b'],
      ] as const) {
        const server = await startServer(['--redis', redis.url, ...args], { env });
        try {
          const rt = client(server.url, { token: await devtoken('foony', 'prefixed') });
          await rt.channels.get('room').publish('n', 1);
          const keys = await probe.keys('*');
          expect(keys.filter((k) => k.startsWith(`${prefix}:`)).length, keys.join(' ')).toBeGreaterThan(0);
          expect(keys.filter((k) => k.startsWith('hubbub:'))).toEqual([]);
        } finally {
          closeClients();
          await cleanup(server);
        }
      }
    } finally {
      probe.disconnect();
      await redis.stop();
    }
  });
});

describe('the data dir and its files are private', () => {
  const mode = (path: string) => statSync(path).mode & 0o777;

  it('a fresh data dir is 0700; the dev key, the SQLite store and keys.json are 0600', async () => {
    const dataDir = join(tempDir(), 'fresh');
    const server = await startServer([], { dataDir, env: { JWT_SIGNING_KEY: '' } });
    try {
      expect(await runCli(['keys', 'create', '--app', 'foony', '--data-dir', dataDir])).toMatchObject({ code: 0 });
      expect(mode(dataDir)).toBe(0o700);
      for (const file of ['dev-signing-key', 'hubbub.db', 'keys.json']) expect(mode(join(dataDir, file)), file).toBe(0o600);
    } finally {
      await server.stop();
    }
  });

  it('an existing file others can read is narrowed to 0600 when the server opens it, with a warning', async () => {
    const dataDir = join(tempDir(), 'loose');
    mkdirSync(dataDir);
    for (const file of ['keys.json', 'dev-signing-key']) {
      writeFileSync(join(dataDir, file), file === 'keys.json' ? '{"keys":[]}' : 'an-old-dev-signing-key-0123456789');
      chmodSync(join(dataDir, file), 0o644);
    }
    const server = await startServer([], { dataDir, env: { JWT_SIGNING_KEY: '' } });
    try {
      for (const file of ['keys.json', 'dev-signing-key']) {
        expect(mode(join(dataDir, file)), file).toBe(0o600);
        const warning = server.logs.map((l) => JSON.parse(l.startsWith('{') ? l : '{}')).find((e) => e.level === 40 && String(e.file).endsWith(file));
        expect(warning, `a warning about ${file}`).toBeDefined();
      }
    } finally {
      await server.stop();
    }
  });
});
