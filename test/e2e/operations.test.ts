import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanup, devtoken, runCli, startServer, type RunningServer } from '../support/server.js';
import { RawClient, client, closeClients } from '../support/clients.js';
import { TestRedis, redisAvailable } from '../support/redis.js';
import { until } from '../support/wait.js';

function configFile(content: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'hubbub-cfg-')), 'hubbub.config.json');
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

describe('metrics, health and logs', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    closeClients();
    await cleanup(server);
  });

  it('exposes Prometheus metrics that move with traffic', async () => {
    const token = await devtoken('foony', 'metrics-user');
    const a = client(server.url, { token });
    a.channels.get('m').on(() => {});
    await a.channels.get('m').publish('x', 1);
    const raw = await RawClient.connect(server.url);
    await raw.auth(token);
    raw.send('{bad');
    await raw.waitFor((f) => f.t === 'err');
    const res = await fetch(`${server.http}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('hubbub_connections')).toBe(2);
    expect(value('hubbub_channels')).toBe(1);
    expect(value('hubbub_messages_published_total')).toBeGreaterThanOrEqual(1);
    expect(value('hubbub_deliveries_total')).toBeGreaterThanOrEqual(3);
    expect(value('hubbub_bytes_sent_total')).toBeGreaterThan(0);
    expect(value('hubbub_webhook_queue_depth')).toBe(0);
    expect(text).toMatch(/^hubbub_errors_total\{code="40001"\} 1$/m);
    expect(text).toMatch(/^hubbub_engine_publish_seconds_count \d+$/m);
    expect(text).toContain('hubbub_process_resident_memory_bytes');
    raw.close();
  });

  it('answers /healthz and /readyz', async () => {
    expect(await (await fetch(`${server.http}/healthz`)).json()).toMatchObject({ ok: true });
    const ready = await fetch(`${server.http}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, engine: 'ok', store: 'ok' });
  });

  it('never logs tokens or keys', async () => {
    const token = await devtoken('foony', 'secretive');
    const raw = await RawClient.connect(server.url);
    await raw.auth(token);
    raw.send({ t: 'auth', token: `${token}tampered` });
    await raw.waitFor((f) => f.t === 'err');
    raw.close();
    const logs = server.logs.join('\n');
    expect(logs).not.toContain(token.split('.')[2]);
    expect(logs).not.toContain('test-signing-key');
  });
});

describe.runIf(redisAvailable())('readiness follows the engine', () => {
  it('/readyz says 503 while Redis is down and 200 when it is back', async () => {
    const redis = await TestRedis.start();
    const server = await startServer(['--redis', redis.url]);
    try {
      expect((await fetch(`${server.http}/readyz`)).status).toBe(200);
      await redis.kill();
      await until(async () => (await fetch(`${server.http}/readyz`)).status === 503, '503 while Redis is down');
      const body = await (await fetch(`${server.http}/readyz`)).json();
      expect(body.error.code).toBe(50001);
      await redis.restart();
      await until(async () => (await fetch(`${server.http}/readyz`)).status === 200, '200 again', 15_000);
    } finally {
      await cleanup(server);
      await redis.stop();
    }
  });
});

describe('configuration', () => {
  it('serve --help documents every option with its env twin and default', async () => {
    const { stdout } = await runCli(['serve', '--help']);
    const options = stdout.split('\n').filter((l) => l.trim().startsWith('--') && !l.includes('--help'));
    expect(options.length).toBeGreaterThan(20);
    for (const line of options) expect(line, line).toMatch(/\(env [A-Z_]+/);
    expect(stdout).toMatch(/--port .*\(env PORT, default 3000\)/);
  });

  it('reads options from hubbub.config.json, with flags and env taking precedence', async () => {
    const file = configFile({ historyLimit: 2, publishRate: 1000 });
    const s = await startServer(['--config', file]);
    try {
      const a = client(s.url, { token: await devtoken('foony', 'cfg') });
      for (let i = 1; i <= 4; i++) await a.channels.get('c').publish('n', i);
      expect((await a.channels.get('c').history()).map((m) => m.data)).toEqual([3, 4]);
    } finally {
      closeClients();
      await cleanup(s);
    }
  });

  it('names the bad key and the expected form', async () => {
    const unknown = await runCli(['config', 'check', configFile({ prot: 3000 })]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown key "prot"');
    expect(unknown.stderr).toContain('port');
    const wrongType = await runCli(['config', 'check', configFile({ port: 'three thousand' })]);
    expect(wrongType.stderr).toContain('"port" must be a number');
    const badHook = await runCli(['config', 'check', configFile({ webhooks: [{ app: 'a', url: 'ftp://x', secret: 'whsec_x' }] })]);
    expect(badHook.stderr).toContain('webhooks[0]');
    const badDuration = await runCli(['config', 'check', configFile({ historyTtl: 'forever' })]);
    expect(badDuration.code).toBe(1);
    expect(badDuration.stderr).toContain('historyTtl');
    const notJson = await runCli(['config', 'check', configFile('{oops')]);
    expect(notJson.code).toBe(1);
    const good = await runCli(['config', 'check', configFile({ port: 4000, redis: 'redis://x:6379', namespaceHistory: ['chat=10/1m'] })]);
    expect(good).toMatchObject({ code: 0 });
    expect(good.stdout).toContain(': ok');
    const serveBad = await runCli(['serve', '--config', configFile({ port: 'x' })]);
    expect(serveBad.code).toBe(1);
    expect(serveBad.stderr).toContain('"port" must be a number');
  });
});
