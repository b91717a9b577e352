import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '@hubbub/client';
import { cleanup, devtoken, runCli, startServer, type RunningServer } from '../support/server.js';
import { client, closeClients } from '../support/clients.js';
import { until } from '../support/wait.js';

let server: RunningServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => cleanup(server));
afterEach(() => closeClients());

const keysCli = (...args: string[]) => runCli(['keys', ...args, '--data-dir', server.dataDir]);

async function post(path: string, body: unknown, auth?: string): Promise<{ status: number; json: any }> {
  const res = await fetch(`${server.http}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

async function get(path: string, auth: string): Promise<{ status: number; json: any }> {
  const res = await fetch(`${server.http}${path}`, { headers: { authorization: auth } });
  return { status: res.status, json: await res.json() };
}

describe('hubbub CLI', () => {
  it('documents every serve option with its environment twin', async () => {
    const { code, stdout } = await runCli(['serve', '--help']);
    expect(code).toBe(0);
    for (const [flag, env] of [
      ['--port', 'PORT'],
      ['--data-dir', 'HUBBUB_DATA_DIR'],
      ['--heartbeat', 'HUBBUB_HEARTBEAT'],
      ['--publish-rate', 'HUBBUB_PUBLISH_RATE'],
      ['--log-level', 'HUBBUB_LOG_LEVEL'],
    ]) {
      expect(stdout).toMatch(new RegExp(`${flag} .*env ${env}`));
    }
    const main = await runCli(['--help']);
    expect(main.stdout).toContain('JWT_SIGNING_KEY');
  });

  it('refuses unknown commands and options with exit code 2', async () => {
    expect((await runCli(['launch'])).code).toBe(2);
    const bad = await runCli(['devtoken', '--app', 'foony', '--client', 'a', '--colour', 'red']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown option --colour');
  });

  it('refuses a duration a timer cannot wait (past ~24.8 days fires at once) for every flag that becomes one', async () => {
    const timed = ['--heartbeat', '--auth-grace', '--presence-resume', '--webhook-retry', '--webhook-max-delay', '--node-ttl', '--redis-command-timeout'];
    const args = timed.flatMap((flag) => [flag, '25d']);
    const refused = await runCli(['serve', ...args, '--port', '0', '--data-dir', server.dataDir]);
    expect(refused.code).toBe(2);
    const said = (flag: string) => refused.stderr.split('\n').find((line) => line.includes(`${flag}: "25d"`));
    for (const flag of timed) expect(said(flag), flag).toMatch(/24d$/);
    const env = await runCli(['serve', '--port', '0', '--data-dir', server.dataDir], { HUBBUB_HEARTBEAT: '30d' });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain('HUBBUB_HEARTBEAT');
  });

  it('mints a dev token with the single-dash spelling too', async () => {
    const single = await runCli(['devtoken', '-app', 'foony', '-client', 'alice']);
    expect(single.code).toBe(0);
    const token = single.stdout.trim();
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
    expect(claims).toMatchObject({ app: 'foony', sub: 'alice' });
    expect(claims.exp - claims.iat).toBe(3600);
    const header = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString());
    expect(header.alg).toBe('HS256');
  });
});

describe('API keys and POST /auth/token', () => {
  it('creates a key that mints tokens; the token connects', async () => {
    const created = await keysCli('create', '--app', 'foony');
    expect(created.code).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(/^foony\.[A-Za-z0-9]+:[A-Za-z0-9_-]+$/);

    const basic = await post('/auth/token', { clientId: 'kim', ttl: '10m' }, `Basic ${Buffer.from(key).toString('base64')}`);
    expect(basic.status).toBe(200);
    expect(basic.json.expiresAt - Date.now()).toBeLessThanOrEqual(600_000);
    const bearer = await post('/auth/token', { clientId: 'kim' }, `Bearer ${key}`);
    expect(bearer.status).toBe(200);

    const k = client(server.url, { token: basic.json.token });
    await k.connection.once('connected');
    expect(k.connection.clientId).toBe('kim');
    expect(JSON.stringify(basic.json)).not.toContain(key.split(':')[1]);
  });

  it('refuses bad keys, revoked keys, tokens as keys, and capability wider than the key', async () => {
    const key = (await keysCli('create', '--app', 'foony', '--capability', '{"chat:*":["subscribe"]}')).stdout.trim();
    const auth = `Bearer ${key}`;
    expect((await post('/auth/token', { clientId: 'x' }, 'Bearer foony.nope:wrong')).json.error).toMatchObject({ code: 40101, statusCode: 401 });
    expect((await post('/auth/token', { clientId: 'x' })).status).toBe(401);
    const wider = await post('/auth/token', { clientId: 'x', capability: { '*': ['publish'] } }, auth);
    expect(wider.json.error.code).toBe(40301);
    const narrower = await post('/auth/token', { clientId: 'x', capability: { 'chat:lobby': ['subscribe'] } }, auth);
    expect(narrower.status).toBe(200);
    expect((await post('/auth/token', '{oops', auth)).json.error.code).toBe(40001);
    expect((await post('/auth/token', { clientId: 'x' }, `Bearer ${await devtoken('foony', 'a')}`)).json.error.code).toBe(40101);

    const name = key.split(':')[0];
    expect((await keysCli('revoke', name)).code).toBe(0);
    expect((await post('/auth/token', { clientId: 'x' }, auth)).json.error.code).toBe(40101);
    expect((await keysCli('list')).stdout).toContain(`${name}\trevoked`);
  });

  it('lets a trusted server connect with the key itself', async () => {
    const key = (await keysCli('create', '--app', 'foony')).stdout.trim();
    const backend = client(server.url, { key, clientId: 'backend-1' });
    await backend.connection.once('connected');
    expect(backend.connection.clientId).toBe('backend-1');
  });
});

describe('REST publish, history and presence', () => {
  it('publishes over HTTP to socket subscribers, and reads history and presence', async () => {
    const token = await devtoken('foony', 'rest-user');
    const sub = client(server.url, { token: await devtoken('foony', 'listener') });
    const got: Message[] = [];
    sub.channels.get('rest:feed').on((m) => got.push(m));
    await sub.channels.get('rest:feed').presence.enter({ role: 'reader' });

    const first = await post('/channels/rest:feed/messages', { name: 'news', data: { n: 1 }, messageId: 'r-1' }, `Bearer ${token}`);
    expect(first.json).toMatchObject({ messageId: 'r-1', seq: 1, duplicate: false });
    const again = await post('/channels/rest:feed/messages', { name: 'news', data: { n: 1 }, messageId: 'r-1' }, `Bearer ${token}`);
    expect(again.json).toMatchObject({ seq: 1, duplicate: true });
    await until(() => got.length === 1, 'the REST message');
    expect(got[0]).toMatchObject({ name: 'news', data: { n: 1 }, clientId: 'rest-user' });

    // History and presence are bare arrays (the shapes Foony's Rest client reads; see foony-rest.test.ts).
    const history = await get('/channels/rest:feed/messages?limit=10', `Bearer ${token}`);
    expect(history.json.map((m: { name: string }) => m.name)).toEqual(['news']);
    expect(history.json[0]).toMatchObject({ id: 'r-1', serial: 1, clientId: 'rest-user', data: { n: 1 } });
    const presence = await get('/channels/rest:feed/presence', `Bearer ${token}`);
    expect(presence.json).toEqual([expect.objectContaining({ clientId: 'listener', action: 'present', data: { role: 'reader' } })]);

    expect((await post('/channels/.bad/messages', { name: 'x' }, `Bearer ${token}`)).json.error.code).toBe(40001);
    expect((await get('/nowhere', `Bearer ${token}`)).status).toBe(404);
  });
});
