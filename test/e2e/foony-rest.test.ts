/**
 * The HTTP routes and credentials Foony's `Rest` client (`@foony/realtime` 0.14–0.16) uses, against
 * the real `hubbub serve`: requests are made exactly as that client makes them (Basic auth with the
 * whole key, `encodeURIComponent` channel names, JSON bodies), tokens exactly as `createJwt` signs them.
 */
import { createHmac } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, runCli, startServer, type RunningServer } from '../support/server.js';
import { RawClient, client, closeClients } from '../support/clients.js';
import { until } from '../support/wait.js';

let server: RunningServer;
let key: string;
let narrowKey: string;
const raws: RawClient[] = [];

beforeAll(async () => {
  server = await startServer();
  key = await createKey('foony');
  narrowKey = await createKey('foony', '{"chat:*":["subscribe","publish","presence"]}');
});
afterAll(() => cleanup(server));
afterEach(() => {
  closeClients();
  for (const r of raws.splice(0)) r.close();
});

async function createKey(app: string, capability?: string): Promise<string> {
  const created = await runCli(['keys', 'create', '--app', app, '--data-dir', server.dataDir, ...(capability ? ['--capability', capability] : [])]);
  expect(created.code, created.stderr).toBe(0);
  return created.stdout.trim();
}

const basic = (k: string) => `Basic ${Buffer.from(k).toString('base64')}`;
const ch = (name: string) => `/channels/${encodeURIComponent(name)}`;

interface Res {
  status: number;
  json: any;
  headers: Headers;
}

async function call(method: string, path: string, auth?: string, body?: unknown, headers: Record<string, string> = {}): Promise<Res> {
  const res = await fetch(`${server.http}${path}`, {
    method,
    headers: { ...(auth ? { authorization: auth } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/** Foony's `createJwt`, byte for byte: HS256, kid = key name, signed with the key's secret. */
function createJwt(k: string, clientId: string, capability: unknown, ttlMs = 3_600_000): string {
  const colon = k.indexOf(':');
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const iat = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: k.slice(0, colon) })}.${b64({ sub: clientId, cap: JSON.stringify(capability), iat, exp: iat + Math.ceil(ttlMs / 1000) })}`;
  return `${input}.${createHmac('sha256', k.slice(colon + 1)).update(input).digest('base64url')}`;
}

async function socketAuth(frame: Record<string, unknown>): Promise<Record<string, unknown>> {
  const r = await RawClient.connect(server.url);
  raws.push(r);
  r.send({ t: 'auth', ...frame });
  return (await r.waitFor((f) => f.t === 'connected' || f.t === 'err')) as never;
}

describe('API keys in the Foony format', () => {
  it('`hubbub keys create` prints appSlug.publicKeyId:privateKey', () => {
    expect(key).toMatch(/^foony\.[A-Za-z0-9]+:[A-Za-z0-9_-]+$/);
  });

  it('socket auth with the key: the clientId asked for, or one assigned; a bad clientId or key is 40101', async () => {
    expect(await socketAuth({ key, clientId: 'svc-1' })).toMatchObject({ t: 'connected', clientId: 'svc-1' });
    const assigned = await socketAuth({ key });
    expect(assigned).toMatchObject({ t: 'connected' });
    expect(String(assigned.clientId).length).toBeGreaterThan(0);
    expect(await socketAuth({ key, clientId: 'has space' })).toMatchObject({ t: 'err', code: 40101 });
    expect(await socketAuth({ key: `${key}x`, clientId: 'svc-1' })).toMatchObject({ t: 'err', code: 40101 });
  });
});

describe('tokens signed with a key (createJwt)', () => {
  it('connect as the token client, in the key app; REST takes them as Bearer', async () => {
    const token = createJwt(key, 'alice', { 'chat:*': ['subscribe', 'publish', 'history'] });
    expect(await socketAuth({ token })).toMatchObject({ t: 'connected', clientId: 'alice' });
    const pub = await call('POST', `${ch('chat:jwt')}/messages`, `Bearer ${token}`, { name: 'hi', data: 1 });
    expect(pub.status).toBe(200);
    const hist = await call('GET', `${ch('chat:jwt')}/messages`, `Bearer ${token}`);
    expect(hist.json).toEqual([expect.objectContaining({ name: 'hi', clientId: 'alice' })]);
    const denied = await call('POST', `${ch('admin')}/messages`, `Bearer ${token}`, { name: 'x', data: 1 });
    expect([denied.status, denied.json.error.code]).toEqual([403, 40301]);
  });

  it('a capability wider than the key, or an expired token, ends the handshake with 401xx', async () => {
    expect(await socketAuth({ token: createJwt(narrowKey, 'alice', { '*': ['subscribe'] }) })).toMatchObject({ t: 'err', code: 40101 });
    expect(await socketAuth({ token: createJwt(narrowKey, 'alice', { 'chat:*': ['subscribe'] }) })).toMatchObject({ t: 'connected' });
    expect(await socketAuth({ token: createJwt(key, 'alice', {}, -60_000) })).toMatchObject({ t: 'err', code: 40102 });
    const rest = await call('GET', `${ch('chat:x')}/messages`, `Bearer ${createJwt(narrowKey, 'alice', { '*': ['*'] })}`);
    expect([rest.status, rest.json.error.code]).toEqual([401, 40101]);
  });

  it('tokens of a revoked key stop working', async () => {
    const doomed = await createKey('foony');
    const token = createJwt(doomed, 'alice', { '*': ['*'] });
    expect(await socketAuth({ token })).toMatchObject({ t: 'connected' });
    expect((await runCli(['keys', 'revoke', doomed.split(':')[0], '--data-dir', server.dataDir])).code).toBe(0);
    expect(await socketAuth({ token })).toMatchObject({ t: 'err', code: 40101 });
  });
});

describe('POST /channels/{ch}/messages', () => {
  it('a message with Basic key auth → { messageId, serial }; a resend with the same id is the same message', async () => {
    const first = await call('POST', `${ch('chat:pub')}/messages`, basic(key), { name: 'greeting', data: { hi: true }, id: 'm-1' });
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ messageId: 'm-1', serial: 1 });
    const again = await call('POST', `${ch('chat:pub')}/messages`, basic(key), { name: 'greeting', data: { hi: true }, id: 'm-1' });
    expect(again.json).toMatchObject({ messageId: 'm-1', serial: 1, duplicate: true });
    const noId = await call('POST', `${ch('chat:pub')}/messages`, basic(key), { name: 'n' });
    expect(noId.json.messageId).toEqual(expect.any(String));
    expect(noId.json.serial).toBe(2);
  });

  it('an array is one batch: one id, one serial, delivered together, history one item per member', async () => {
    const sub = client(server.url, { key, clientId: 'listener' });
    const got: Array<{ name: string; data: unknown }> = [];
    sub.channels.get('chat:batch').on((m) => got.push(m));
    await sub.channels.get('chat:batch').attach();
    const res = await call('POST', `${ch('chat:batch')}/messages`, basic(key), [
      { name: 'a', data: 1, clientId: 'svc', id: 'b-1' },
      { name: 'b', data: 2, clientId: 'svc' },
    ]);
    expect(res.json).toMatchObject({ messageId: 'b-1', serial: 1 });
    await until(() => got.length === 2, 'both members delivered');
    expect(got.map((m) => [m.name, m.data])).toEqual([['a', 1], ['b', 2]]);
    const hist = await call('GET', `${ch('chat:batch')}/messages`, basic(key));
    expect(hist.json).toEqual([
      { id: 'b-1', name: 'a', data: 1, timestamp: expect.any(Number), clientId: 'svc', serial: 1 },
      { id: 'b-1', name: 'b', data: 2, timestamp: expect.any(Number), clientId: 'svc', serial: 1 },
    ]);
    const mixed = await call('POST', `${ch('chat:batch')}/messages`, basic(key), [{ name: 'a', clientId: 'x' }, { name: 'b', clientId: 'y' }]);
    expect([mixed.status, mixed.json.error.code]).toEqual([400, 40001]);
    expect((await call('POST', `${ch('chat:batch')}/messages`, basic(key), [])).status).toBe(400);
  });

  it('ephemeral: delivered, no serial, not in history', async () => {
    const res = await call('POST', `${ch('chat:eph')}/messages`, basic(key), { name: 'typing', data: null, ephemeral: true });
    expect(res.json.messageId).toEqual(expect.any(String));
    expect(res.json).not.toHaveProperty('serial');
    expect((await call('GET', `${ch('chat:eph')}/messages`, basic(key))).json).toEqual([]);
  });

  it('clientId: any with a key (none when absent); with a token only its own (else 403 40300)', async () => {
    await call('POST', `${ch('chat:who')}/messages`, basic(key), { name: 'as-bob', data: 1, clientId: 'bob' });
    await call('POST', `${ch('chat:who')}/messages`, basic(key), { name: 'anonymous', data: 2 });
    const items = (await call('GET', `${ch('chat:who')}/messages?direction=forwards`, basic(key))).json;
    expect(items[0]).toMatchObject({ name: 'as-bob', clientId: 'bob' });
    expect(items[1]).not.toHaveProperty('clientId');
    const token = createJwt(key, 'carol', { '*': ['*'] });
    expect((await call('POST', `${ch('chat:who')}/messages`, `Bearer ${token}`, { name: 'own', clientId: 'carol' })).status).toBe(200);
    const forged = await call('POST', `${ch('chat:who')}/messages`, `Bearer ${token}`, { name: 'forged', clientId: 'bob' });
    expect([forged.status, forged.json.error]).toEqual([403, expect.objectContaining({ code: 40300, statusCode: 403 })]);
  });

  it('refuses bad credentials with 401 and bad channel names with 400', async () => {
    for (const auth of [undefined, basic('foony.nope:secret'), 'Bearer not-a-token']) {
      const res = await call('POST', `${ch('chat:x')}/messages`, auth, { name: 'n' });
      expect([res.status, res.json.error.code], String(auth)).toEqual([401, 40101]);
    }
    for (const name of ['.bad', 'bad name/with slash']) {
      const bad = await call('POST', `${ch(name)}/messages`, basic(key), { name: 'n' });
      expect([bad.status, bad.json.error.code], name).toEqual([400, 40001]);
    }
  });
});

describe('GET /channels/{ch}/messages', () => {
  it('newest first, paged by Link rel="next" until the last page; forwards pages oldest first', async () => {
    for (let i = 1; i <= 5; i++) await call('POST', `${ch('chat:page')}/messages`, basic(key), { name: `m${i}`, data: i });
    const seen: string[] = [];
    let path: string | null = `${ch('chat:page')}/messages?limit=2`;
    const links: string[] = [];
    while (path) {
      const page = await call('GET', path, basic(key));
      expect(page.status).toBe(200);
      seen.push(...page.json.map((m: { name: string }) => m.name));
      const link = page.headers.get('link');
      path = link ? /<([^>]+)>;\s*rel="next"/.exec(link)![1] : null;
      if (path) links.push(path);
    }
    expect(seen).toEqual(['m5', 'm4', 'm3', 'm2', 'm1']);
    expect(links[0]).toBe('/channels/chat%3Apage/messages?limit=2&before=4');

    const forwards: string[] = [];
    path = `${ch('chat:page')}/messages?limit=2&direction=forwards`;
    while (path) {
      const page = await call('GET', path, basic(key));
      forwards.push(...page.json.map((m: { name: string }) => m.name));
      const link = page.headers.get('link');
      path = link ? /<([^>]+)>;\s*rel="next"/.exec(link)![1] : null;
    }
    expect(forwards).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);

    const before = await call('GET', `${ch('chat:page')}/messages?before=3`, basic(key));
    expect(before.json.map((m: { serial: number }) => m.serial)).toEqual([2, 1]);
    expect(before.headers.get('link')).toBeNull();
  });

  it('an empty channel is 200 []; history needs subscribe or history (40301 otherwise)', async () => {
    expect((await call('GET', `${ch('chat:nothing')}/messages`, basic(key))).json).toEqual([]);
    const historyOnly = createJwt(key, 'h', { 'chat:*': ['history'] });
    expect((await call('GET', `${ch('chat:page')}/messages?limit=1`, `Bearer ${historyOnly}`)).status).toBe(200);
    const publishOnly = createJwt(key, 'p', { 'chat:*': ['publish'] });
    const denied = await call('GET', `${ch('chat:page')}/messages`, `Bearer ${publishOnly}`);
    expect([denied.status, denied.json.error.code]).toEqual([403, 40301]);
  });
});

describe('GET /channels/{ch}/presence', () => {
  it('a bare array of present members, filtered by clientId / connectionId / limit', async () => {
    const a = client(server.url, { key, clientId: 'ann' });
    const b = client(server.url, { key, clientId: 'ben' });
    const before = Date.now();
    await a.channels.get('chat:room').presence.enter({ mood: 'ok' });
    await b.channels.get('chat:room').presence.enter();
    const all = await call('GET', `${ch('chat:room')}/presence`, basic(key));
    expect(all.json).toHaveLength(2);
    const ann = all.json.find((m: { clientId: string }) => m.clientId === 'ann');
    expect(ann).toEqual({ clientId: 'ann', connectionId: expect.any(String), action: 'present', data: { mood: 'ok' }, timestamp: expect.any(Number) });
    expect(ann.timestamp).toBeGreaterThanOrEqual(before);
    expect(ann.timestamp).toBeLessThanOrEqual(Date.now());
    expect((await call('GET', `${ch('chat:room')}/presence?clientId=ben`, basic(key))).json.map((m: { clientId: string }) => m.clientId)).toEqual(['ben']);
    expect((await call('GET', `${ch('chat:room')}/presence?connectionId=${ann.connectionId}`, basic(key))).json).toEqual([ann]);
    expect((await call('GET', `${ch('chat:room')}/presence?limit=1`, basic(key))).json).toHaveLength(1);
    expect((await call('GET', `${ch('chat:empty')}/presence`, basic(key))).json).toEqual([]);
  });
});

describe('POST /keys/{keyName}/requestToken', () => {
  const path = (k: string) => `/keys/${encodeURIComponent(k.split(':')[0])}/requestToken`;

  it('answers TokenDetails; the token connects as that client and works over REST', async () => {
    const before = Date.now();
    const res = await call('POST', path(narrowKey), basic(narrowKey), { clientId: 'kim', ttl: 600_000, capability: { 'chat:lobby': ['subscribe', 'presence'] } });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      token: expect.any(String),
      keyName: narrowKey.split(':')[0],
      issued: expect.any(Number),
      expires: expect.any(Number),
      clientId: 'kim',
      capability: '{"chat:lobby":["subscribe","presence"]}',
    });
    expect(res.json.issued).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(res.json.expires - res.json.issued).toBe(600_000);
    expect(JSON.stringify(res.json)).not.toContain(narrowKey.split(':')[1]);
    const header = JSON.parse(Buffer.from(res.json.token.split('.')[0], 'base64url').toString());
    expect(header).toEqual({ alg: 'HS256', typ: 'JWT', kid: narrowKey.split(':')[0] });

    const kim = client(server.url, { token: res.json.token });
    await kim.connection.once('connected');
    expect(kim.connection.clientId).toBe('kim');
    expect((await call('GET', `${ch('chat:lobby')}/presence`, `Bearer ${res.json.token}`)).status).toBe(200);
  });

  it("defaults: 1 h and the key's capability (as JSON text); ttl is capped at 24 h", async () => {
    const plain = await call('POST', path(narrowKey), basic(narrowKey), { clientId: 'kim' });
    expect(plain.json.expires - plain.json.issued).toBe(3_600_000);
    expect(JSON.parse(plain.json.capability)).toEqual({ 'chat:*': ['subscribe', 'publish', 'presence'] });
    const long = await call('POST', path(key), basic(key), { clientId: 'kim', ttl: 48 * 3_600_000, capability: '{"*":["subscribe"]}' });
    expect(long.json.expires - long.json.issued).toBe(24 * 3_600_000);
    expect(long.json.capability).toBe('{"*":["subscribe"]}');
  });

  it('refuses: a capability wider than the key (403 40301), another key in the path (403), a token (401), a bad body (400)', async () => {
    const wider = await call('POST', path(narrowKey), basic(narrowKey), { clientId: 'kim', capability: { '*': ['publish'] } });
    expect([wider.status, wider.json.error.code]).toEqual([403, 40301]);
    const other = await call('POST', path(key), basic(narrowKey), { clientId: 'kim' });
    expect([other.status, other.json.error.code]).toEqual([403, 40300]);
    const viaToken = await call('POST', path(key), `Bearer ${createJwt(key, 'kim', { '*': ['*'] })}`, { clientId: 'kim' });
    expect([viaToken.status, viaToken.json.error.code]).toEqual([401, 40101]);
    expect((await call('POST', path(key), undefined, { clientId: 'kim' })).status).toBe(401);
    for (const body of [{}, { clientId: 'kim', ttl: '1h' }, { clientId: 'kim', ttl: -1 }, { clientId: 'kim', capability: 'nope' }]) {
      const res = await call('POST', path(key), basic(key), body);
      expect([res.status, res.json.error.code], JSON.stringify(body)).toEqual([400, 40001]);
    }
  });
});

describe('GET /time and CORS', () => {
  it('GET /time needs no credentials and answers [ms]', async () => {
    const res = await call('GET', '/time');
    expect(res.status).toBe(200);
    expect(res.json).toEqual([expect.any(Number)]);
    expect(Math.abs(res.json[0] - Date.now())).toBeLessThan(5000);
  });

  it('answers preflights on REST and /lp/* paths, and lets scripts read Link and the long-poll session header', async () => {
    for (const p of [`${ch('chat:x')}/messages`, '/keys/foony.k/requestToken', '/lp/connect', '/lp/poll']) {
      const res = await fetch(`${server.http}${p}`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      });
      expect(res.status, p).toBe(204);
      expect(res.headers.get('access-control-allow-origin'), p).toBe('*');
      expect(res.headers.get('access-control-allow-methods'), p).toContain('POST');
      expect(res.headers.get('access-control-allow-headers'), p).toBe('authorization, content-type, last-event-id, foony-lp-session');
    }
    const get = await fetch(`${server.http}${ch('chat:page')}/messages?limit=1`, { headers: { origin: 'https://app.example', authorization: basic(key) } });
    expect(get.headers.get('access-control-allow-origin')).toBe('*');
    expect(get.headers.get('access-control-expose-headers')).toBe('foony-lp-session, link, retry-after');
  });

  it('with --allowed-origins, only those origins are answered', async () => {
    const strict = await startServer(['--allowed-origins', 'https://good.example']);
    try {
      const preflight = (origin: string) => fetch(`${strict.http}/channels/x/messages`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
      const good = await preflight('https://good.example');
      expect(good.headers.get('access-control-allow-origin')).toBe('https://good.example');
      expect(good.headers.get('vary')).toBe('Origin');
      const evil = await preflight('https://evil.example');
      expect(evil.headers.get('access-control-allow-origin')).toBeNull();
      expect(evil.headers.get('access-control-allow-methods')).toBeNull();
      const time = await fetch(`${strict.http}/time`, { headers: { origin: 'https://evil.example' } });
      expect(time.status).toBe(200);
      expect(time.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await cleanup(strict);
    }
  });
});
