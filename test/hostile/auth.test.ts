/**
 * Authentication and authorization under attack: forged, tampered, expired and incomplete tokens,
 * tenancy between apps, capabilities, revoked API keys, and secrets kept out of the logs.
 */
import { createHmac } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, UnsecuredJWT, exportJWK, exportSPKI, generateKeyPair, type JWTPayload } from 'jose';
import type { ServerFrame } from '@hubbub/protocol';
import { SIGNING_KEY, cleanup, devtoken, runCli, startServer, type RunningServer } from '../support/server.js';
import { RawClient, closeClients } from '../support/clients.js';
import { until } from '../support/wait.js';
import { authedRaw, bystander, exchange, sign, type Bystander } from './support.js';

let server: RunningServer;
let watch: Bystander;
const raws: RawClient[] = [];
/** Every credential a test used, to check none of it reaches the logs. */
const tokensSeen: string[] = [];
const keysSeen: string[] = [];

const now = () => Math.floor(Date.now() / 1000);
const secret = new TextEncoder().encode(SIGNING_KEY);
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A JWT put together by hand: any header, any payload, HMAC-SHA* over them with `key`. */
function handmade(header: Record<string, unknown>, payload: Record<string, unknown>, hmac: 'sha256' | 'sha384' | 'sha512' = 'sha256', key: string | Buffer = SIGNING_KEY): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac(hmac, key).update(input).digest('base64url')}`;
}

const claims = (extra: JWTPayload = {}): JWTPayload => ({ app: 'hostile', sub: 'eve', iat: now(), exp: now() + 3600, ...extra });

async function hs256(payload: JWTPayload): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(secret);
}

async function connectRaw(): Promise<RawClient> {
  const r = await RawClient.connect(server.url);
  raws.push(r);
  return r;
}

/**
 * Send an auth frame with `token` and return its reply (`connected` or `err`). A refused auth is
 * followed by a close, so the reply is awaited on its own rather than behind a ping.
 */
async function authWith(r: RawClient, frame: Record<string, unknown>): Promise<ServerFrame> {
  if (typeof frame.token === 'string') tokensSeen.push(frame.token);
  const from = r.frames.length;
  r.send({ t: 'auth', ...frame });
  await r.waitFor((f) => r.frames.indexOf(f) >= from && (f.t === 'connected' || f.t === 'err'));
  const replies = r.frames.slice(from).filter((f) => f.t === 'connected' || f.t === 'err');
  expect(replies, `one reply to auth ${JSON.stringify(frame).slice(0, 80)}`).toHaveLength(1);
  return replies[0];
}

async function rest(method: string, path: string, auth?: string, body?: unknown): Promise<{ status: number; json: { error?: { code: number; statusCode: number } } & Record<string, unknown> }> {
  const res = await fetch(`${server.http}${path}`, {
    method,
    headers: { ...(auth ? { authorization: auth } : {}), 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as never };
}

beforeAll(async () => {
  server = await startServer(['--log-level', 'trace']);
  watch = await bystander(server);
});
afterAll(async () => {
  closeClients();
  await cleanup(server);
});
afterEach(() => {
  for (const r of raws.splice(0)) r.close();
});

describe('forged and broken tokens', () => {
  it('refuses every forged, tampered or incomplete token with 40101 and closes that connection (4101); a new one authenticates', async () => {
    const rsa = await generateKeyPair('RS256');
    const ec = await generateKeyPair('ES256');
    const rsaPublicPem = await exportSPKI(rsa.publicKey);
    const valid = await hs256(claims());
    const [h, p, s] = valid.split('.');
    const flip = (c: string) => (c === 'A' ? 'B' : 'A');
    const cases: Array<[string, string]> = [
      ['alg none', new UnsecuredJWT(claims()).encode()],
      ['alg none, hand-made', `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`],
      ['alg "None"', `${b64({ alg: 'None' })}.${b64(claims())}.`],
      ['alg none with the valid signature kept', `${b64({ alg: 'none' })}.${p}.${s}`],
      ['RS256', await new SignJWT(claims()).setProtectedHeader({ alg: 'RS256' }).sign(rsa.privateKey)],
      ['ES256', await new SignJWT(claims()).setProtectedHeader({ alg: 'ES256' }).sign(ec.privateKey)],
      [
        'RS256 with its own public key embedded (jwk header)',
        await new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', jwk: await exportJWK(rsa.publicKey) }).sign(rsa.privateKey),
      ],
      ['HS256 with the RSA public key as the HMAC secret', await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(rsaPublicPem))],
      ['header says RS256, HMAC-SHA256 with the real key', handmade({ alg: 'RS256', typ: 'JWT' }, claims())],
      ['HS384 with the real key (not on the allow-list)', handmade({ alg: 'HS384', typ: 'JWT' }, claims(), 'sha384')],
      ['HS512 with the real key (not on the allow-list)', handmade({ alg: 'HS512', typ: 'JWT' }, claims(), 'sha512')],
      ['alg "hs256" lower case', handmade({ alg: 'hs256', typ: 'JWT' }, claims())],
      ['bad signature (one character changed)', `${h}.${p}.${s.slice(0, 10)}${flip(s[10])}${s.slice(11)}`],
      ['signature of another key', await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('another-key-0123456789abcdef'))],
      ['empty signature', `${h}.${p}.`],
      ['no signature part', `${h}.${p}`],
      ['payload tampered (app changed), signature kept', `${h}.${b64({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), app: 'admin-app' })}.${s}`],
      ['unknown crit header', handmade({ alg: 'HS256', crit: ['x-hubbub'], 'x-hubbub': 1 }, claims())],
      ['not yet valid (nbf in 1 h)', await hs256(claims({ nbf: now() + 3600 }))],
      ['missing app', await hs256(claims({ app: undefined }))],
      ['app of the wrong shape', await hs256(claims({ app: '../other' }))],
      ['app not a string', await hs256(claims({ app: ['hostile'] }))],
      ['missing sub', await hs256(claims({ sub: undefined }))],
      ['sub of the wrong shape', await hs256(claims({ sub: 'eve bob' }))],
      ['missing exp', await hs256(claims({ exp: undefined }))],
      ['exp not a number', handmade({ alg: 'HS256' }, claims({ exp: String(now() + 3600) as never }))],
      ['malformed capability', await hs256(claims({ capability: { '*': ['launch'] } }))],
      ['capability not an object', await hs256(claims({ capability: 'everything' }))],
      ['garbage', 'not.a.jwt'],
      ['one segment', 'eyJhbGciOiJIUzI1NiJ9'],
      ['a 50 KB token', `${h}.${'A'.repeat(50_000)}.${s}`],
      ['payload not JSON', `${h}.${Buffer.from('not json').toString('base64url')}.${createHmac('sha256', SIGNING_KEY).update(`${h}.${Buffer.from('not json').toString('base64url')}`).digest('base64url')}`],
    ];
    // A refused first auth says why and ends the connection: the client's next step is a new token.
    for (const [what, token] of cases) {
      const r = await connectRaw();
      const reply = await authWith(r, { token });
      expect(reply, what).toMatchObject({ t: 'err', code: 40101 });
      expect(await r.waitClosed(), what).toMatchObject({ code: 4101 });
    }
    for (const frame of [{}, { token: '' }, { key: '' }, { token: null }]) {
      const r = await connectRaw();
      const malformed = frame.token === null;
      expect(await authWith(r, frame), JSON.stringify(frame)).toMatchObject({ t: 'err', code: malformed ? 40001 : 40101 });
      expect(await r.waitClosed(), JSON.stringify(frame)).toMatchObject({ code: malformed ? 4002 : 4101 });
    }
    // A connection that never authenticated gets nothing done: its first non-auth frame closes it.
    const unauthenticated = await connectRaw();
    unauthenticated.send({ t: 'sub', id: 1, channel: 'x' });
    expect(await unauthenticated.waitFor((f) => f.t === 'err')).toMatchObject({ t: 'err', code: 40101 });
    expect(await unauthenticated.waitClosed()).toMatchObject({ code: 4002 });
    // …and a new connection authenticates with a good token.
    const r = await connectRaw();
    expect(await authWith(r, { token: valid })).toMatchObject({ t: 'connected', clientId: 'eve' });
    expect(await exchange(r, { t: 'sub', id: 2, channel: 'x' })).toEqual([expect.objectContaining({ t: 'ack', id: 2 })]);

    // Over HTTP the same tokens are refused with 401 and code 40101.
    for (const [what, token] of cases.slice(0, 12)) {
      const res = await rest('GET', '/channels/x/messages', `Bearer ${token}`);
      expect(res.status, what).toBe(401);
      expect(res.json.error?.code, what).toBe(40101);
    }
    await watch.check('forged tokens');
  });

  it('an expired token gets 40102 on the socket and over HTTP; an expired-but-renewing client still can connect', async () => {
    const expired = await hs256(claims({ iat: now() - 7200, exp: now() - 60 }));
    const r = await connectRaw();
    expect(await authWith(r, { token: expired })).toMatchObject({ t: 'err', code: 40102 });
    // 4102: the close class that tells a client to renew its token and reconnect.
    expect(await r.waitClosed()).toMatchObject({ code: 4102 });
    const res = await rest('GET', '/channels/x/messages', `Bearer ${expired}`);
    expect(res.status).toBe(401);
    expect(res.json.error?.code).toBe(40102);
    const renewed = await connectRaw();
    expect(await authWith(renewed, { token: await hs256(claims()) })).toMatchObject({ t: 'connected' });
    await watch.check('expired token');
  });

  it('a live connection cannot switch app or client by renewing with another token', async () => {
    const r = await authedRaw(server, 'hostile', 'eve');
    raws.push(r);
    for (const [what, token] of [
      ['another app', await sign('other-app', 'eve')],
      ['another client', await sign('hostile', 'admin')],
    ] as const) {
      tokensSeen.push(token);
      expect(await authWith(r, { token }), what).toMatchObject({ t: 'err', code: 40101 });
    }
    const watcher = await authedRaw(server, 'other-app', 'w');
    raws.push(watcher);
    expect(await exchange(watcher, { t: 'sub', id: 1, channel: 'renew' })).toEqual([expect.objectContaining({ t: 'ack' })]);
    const pub = await exchange(r, { t: 'pub', id: 1, channel: 'renew', name: 'n', data: 'still eve of hostile', messageId: 'renew-1' });
    expect(pub.find((f) => f.t === 'ack')).toBeDefined();
    await exchange(watcher, { t: 'ping', id: 2 });
    expect(watcher.frames.filter((f) => f.t === 'msg')).toEqual([]);
  });
});

describe('tenancy', () => {
  it("another app's channels, presence, history, direct messages and dedup records are invisible", async () => {
    const [a1, a2, b1] = await Promise.all([
      authedRaw(server, 'tenant-a', 'dup'),
      authedRaw(server, 'tenant-a', 'alice'),
      authedRaw(server, 'tenant-b', 'dup'),
    ]);
    raws.push(a1, a2, b1);
    for (const r of [a1, b1]) expect(await exchange(r, { t: 'sub', id: 1, channel: 'shared' })).toEqual([expect.objectContaining({ t: 'ack' })]);
    expect(await exchange(b1, { t: 'presSub', id: 2, channel: 'shared' })).toEqual([expect.objectContaining({ t: 'ack', members: [] })]);

    // App A: a message, a presence member, a direct message to client id "dup".
    expect((await exchange(a2, { t: 'pub', id: 1, channel: 'shared', name: 'secret', data: 'for A only', messageId: 'same-id' })).find((f) => f.t === 'ack')).toMatchObject({ seq: 1 });
    expect(await exchange(a2, { t: 'pres', id: 2, channel: 'shared', action: 'enter', data: 'A member' })).toEqual([expect.objectContaining({ t: 'ack' })]);
    expect(await exchange(a2, { t: 'dm', id: 3, to: 'dup', name: 'psst', data: 'A dm' })).toEqual([expect.objectContaining({ t: 'ack' })]);
    await a1.waitFor((f) => f.t === 'msg' && f.name === 'secret');
    await a1.waitFor((f) => f.t === 'evt');

    // App B publishes with the same messageId: its own message, not a duplicate of A's.
    const bPub = await exchange(b1, { t: 'pub', id: 3, channel: 'shared', name: 'marker', data: 'B', messageId: 'same-id' });
    expect(bPub.find((f) => f.t === 'ack'), 'dedup is per app').toEqual({ t: 'ack', id: 3, seq: 1 });
    await b1.waitFor((f) => f.t === 'msg' && f.name === 'marker');
    await exchange(b1, { t: 'ping', id: 4 });
    expect(b1.frames.filter((f) => f.t === 'msg').map((f) => (f as { name: string }).name)).toEqual(['marker']);
    expect(b1.frames.filter((f) => f.t === 'presEvt' || f.t === 'evt')).toEqual([]);

    const hist = await exchange(b1, { t: 'hist', id: 5, channel: 'shared' });
    expect((hist.find((f) => f.t === 'histRes') as { messages: Array<{ name: string }> }).messages.map((m) => m.name)).toEqual(['marker']);
    const members = await exchange(b1, { t: 'presSub', id: 6, channel: 'shared' });
    expect(members.find((f) => f.t === 'ack')).toMatchObject({ members: [] });
    const restHist = await rest('GET', '/channels/shared/messages', `Bearer ${await sign('tenant-b', 'reader')}`);
    expect((restHist.json as unknown as Array<{ name: string }>).map((m) => m.name)).toEqual(['marker']);
    const restPres = await rest('GET', '/channels/shared/presence', `Bearer ${await sign('tenant-b', 'reader')}`);
    expect(restPres.json).toEqual([]);
    await watch.check('tenancy');
  });
});

describe('capabilities', () => {
  it('a {"chat:*":[subscribe,publish,presence]} token gets 40301 on admin for every operation, and works on chat:*', async () => {
    const token = await devtoken('hostile', 'limited', ['--capability', '{"chat:*":["subscribe","publish","presence"]}', '--data-dir', server.dataDir]);
    tokensSeen.push(token);
    const r = await connectRaw();
    expect(await authWith(r, { token })).toMatchObject({ t: 'connected' });
    let id = 1;
    for (const channel of ['admin', 'chat', 'chatroom', 'admin:chat:x', 'x.chat:y']) {
      for (const frame of [
        { t: 'sub', channel },
        { t: 'pub', channel, name: 'n', data: 1, messageId: `cap-${id}` },
        { t: 'pres', channel, action: 'enter' },
        { t: 'pres', channel, action: 'update', data: 1 },
        { t: 'presSub', channel },
        { t: 'hist', channel },
        { t: 'fetch', channel, fromSerial: 0 },
        { t: 'tsub', sid: 's1', topic: channel },
      ]) {
        const n = id++;
        expect(await exchange(r, { ...frame, id: n }), `${frame.t} on ${channel}`).toEqual([{ t: 'err', id: n, code: 40301, message: expect.any(String) }]);
      }
    }
    expect(await exchange(r, { t: 'sub', id: id++, channel: 'chat:room-1' })).toEqual([expect.objectContaining({ t: 'ack' })]);
    expect((await exchange(r, { t: 'pub', id: id++, channel: 'chat:room-1', name: 'n', data: 1, messageId: 'ok-1' })).find((f) => f.t === 'ack')).toBeDefined();
    expect(await exchange(r, { t: 'pres', id: id++, channel: 'chat:room-1', action: 'enter' })).toEqual([expect.objectContaining({ t: 'ack' })]);
    const restPub = await rest('POST', '/channels/admin/messages', `Bearer ${token}`, { name: 'n', data: 1 });
    expect(restPub.status).toBe(403);
    expect(restPub.json.error?.code).toBe(40301);
    const restRead = await rest('GET', '/channels/admin/messages', `Bearer ${token}`);
    expect(restRead.json.error?.code).toBe(40301);
    await watch.check('capabilities');
  });
});

describe('API keys', () => {
  it('a revoked key is refused on socket auth and on POST /auth/token', async () => {
    const created = await runCli(['keys', 'create', '--app', 'hostile', '--data-dir', server.dataDir]);
    expect(created.code).toBe(0);
    const key = created.stdout.trim();
    keysSeen.push(key);
    const name = key.split(':')[0];

    const before = await connectRaw();
    expect(await authWith(before, { key, clientId: 'backend' })).toMatchObject({ t: 'connected', clientId: 'backend' });
    const minted = await rest('POST', '/auth/token', `Bearer ${key}`, { clientId: 'kim' });
    expect(minted.status).toBe(200);
    tokensSeen.push(minted.json.token as string);

    expect((await runCli(['keys', 'revoke', name, '--data-dir', server.dataDir])).code).toBe(0);
    const after = await connectRaw();
    expect(await authWith(after, { key, clientId: 'backend' })).toMatchObject({ t: 'err', code: 40101 });
    expect(await after.waitClosed()).toMatchObject({ code: 4101 });
    for (const auth of [`Bearer ${key}`, `Basic ${Buffer.from(key).toString('base64')}`]) {
      const res = await rest('POST', '/auth/token', auth, { clientId: 'kim' });
      expect(res.status, auth.split(' ')[0]).toBe(401);
      expect(res.json.error?.code, auth.split(' ')[0]).toBe(40101);
    }
    // Guessing: the right key id with a wrong secret, and a forged key name.
    for (const guess of [`${name}:wrong-secret`, `${name}:`, `hostile.nokey:${key.split(':')[1]}`, `${name.replace('hostile', 'other')}:${key.split(':')[1]}`]) {
      keysSeen.push(guess);
      const r = await connectRaw();
      expect(await authWith(r, { key: guess }), guess.slice(0, 30)).toMatchObject({ t: 'err', code: 40101 });
    }
    await watch.check('revoked key');
  });
});

describe('secrets in logs', () => {
  it('the captured server logs contain no token signature, no API key secret and not the signing key', async () => {
    // Let the server flush whatever it logged about the tests above.
    const r = await authedRaw(server, 'hostile', 'last');
    raws.push(r);
    await exchange(r, { t: 'ping', id: 1 });
    await until(() => server.logs.length > 0, 'some log output');
    const logs = server.logs.join('\n');
    expect(tokensSeen.length).toBeGreaterThan(20);
    expect(logs).not.toContain(SIGNING_KEY);
    for (const token of tokensSeen) {
      const signature = token.split('.')[2];
      if (signature && signature.length >= 16) expect(logs, `signature of ${token.slice(0, 24)}…`).not.toContain(signature);
    }
    for (const key of keysSeen) {
      const keySecret = key.split(':')[1];
      if (keySecret && keySecret.length >= 8) expect(logs).not.toContain(keySecret);
    }
  });
});
