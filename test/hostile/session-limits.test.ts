/**
 * What one authenticated connection may make the server hold or do, and properties the docs claim:
 * presence bounds, one subscription budget, direct-message capability, narrowing renewals, key
 * revocation, the expiry grace, resumable connection ids, one JSON validation for both codecs,
 * replays that respect the unsent-bytes limit.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { decodeServerRecords, encodeClientFrame, type ClientFrame, type ServerFrame } from '@hubbub/protocol';
import { cleanup, runCli, startServer, type RunningServer } from '../support/server.js';
import { RawClient, client, closeClients } from '../support/clients.js';
import { until } from '../support/wait.js';
import { bystander, sign, type Bystander } from './support.js';

let server: RunningServer;
let watch: Bystander;
const raws: RawClient[] = [];

beforeAll(async () => {
  server = await startServer([
    '--max-subscriptions', '6',
    '--max-presence', '3',
    '--presence-rate', '5',
    '--max-presence-data', '200',
    '--history-limit', '400',
    '--max-buffered', '262144',
    '--auth-grace', '5s',
    '--publish-rate', '10000',
  ]);
  watch = await bystander(server);
});
afterAll(async () => {
  closeClients();
  await cleanup(server);
});
afterEach(() => {
  for (const r of raws.splice(0)) r.close();
});

async function raw(app = 'limits', clientId = 'eve', extra: Record<string, unknown> = {}, ttl = 3600): Promise<RawClient> {
  const r = await RawClient.connect(server.url);
  raws.push(r);
  expect(await r.auth(await sign(app, clientId, extra, ttl))).toMatchObject({ t: 'connected' });
  return r;
}

let nextId = 1;
async function request(r: RawClient, frame: Record<string, unknown>): Promise<ServerFrame> {
  const id = nextId++;
  r.send({ ...frame, id });
  return r.reply(id);
}

describe('presence bounds per connection', () => {
  it('present on at most --max-presence channels; the next enter is 42900, a leave makes room', async () => {
    const r = await raw();
    for (const ch of ['p:a', 'p:b', 'p:c']) expect(await request(r, { t: 'pres', channel: ch, action: 'enter' })).toMatchObject({ t: 'ack' });
    expect(await request(r, { t: 'pres', channel: 'p:d', action: 'enter' })).toMatchObject({ t: 'err', code: 42900 });
    expect(await request(r, { t: 'pres', channel: 'p:a', action: 'leave' })).toMatchObject({ t: 'ack' });
    expect(await request(r, { t: 'pres', channel: 'p:d', action: 'enter' })).toMatchObject({ t: 'ack' });
    await watch.check('presence channels');
  });

  it('enters and updates are rate limited (42900) and a refused update changes nothing', async () => {
    const r = await raw('limits', 'fast');
    const replies: ServerFrame[] = [];
    for (let i = 0; i < 30; i++) replies.push(await request(r, { t: 'pres', channel: 'p:rate', action: 'update', data: i }));
    const refused = replies.filter((f) => f.t === 'err');
    expect(refused.length).toBeGreaterThan(10);
    expect(refused.every((f) => (f as { code: number }).code === 42900)).toBe(true);
    const res = await fetch(`${server.http}/channels/p:rate/presence`, { headers: { authorization: `Bearer ${await sign('limits', 'reader')}` } });
    const [member] = (await res.json()) as Array<{ data: number }>;
    const lastAccepted = replies.map((f, i) => (f.t === 'ack' ? i : -1)).filter((i) => i >= 0).at(-1);
    expect(member.data).toBe(lastAccepted);
  });

  it('the encoding label counts toward the presence data limit (41300)', async () => {
    const r = await raw('limits', 'enc');
    expect(await request(r, { t: 'pres', channel: 'p:enc', action: 'enter', data: 'x'.repeat(100), encoding: 'y'.repeat(50) })).toMatchObject({ t: 'ack' });
    expect(await request(r, { t: 'pres', channel: 'p:enc2', action: 'enter', data: 'x'.repeat(10), encoding: 'y'.repeat(400) })).toMatchObject({
      t: 'err',
      code: 41300,
    });
  });
});

describe('one subscription budget per connection', () => {
  it('channels, presence watches and topics count together against --max-subscriptions', async () => {
    const r = await raw('limits', 'subs');
    for (const ch of ['s:1', 's:2']) expect(await request(r, { t: 'sub', channel: ch })).toMatchObject({ t: 'ack' });
    for (const ch of ['s:1', 's:2']) expect(await request(r, { t: 'presSub', channel: ch })).toMatchObject({ t: 'ack' });
    for (const [sid, topic] of [['t1', 'orders'], ['t2', 'users']]) expect(await request(r, { t: 'tsub', sid, topic })).toMatchObject({ t: 'ack' });
    // Six held: every kind is now refused.
    expect(await request(r, { t: 'sub', channel: 's:3' })).toMatchObject({ t: 'err', code: 42900 });
    expect(await request(r, { t: 'presSub', channel: 's:3' })).toMatchObject({ t: 'err', code: 42900 });
    expect(await request(r, { t: 'tsub', sid: 't3', topic: 'more' })).toMatchObject({ t: 'err', code: 42900 });
    // Asking again for one held is not a new subscription.
    expect(await request(r, { t: 'sub', channel: 's:1' })).toMatchObject({ t: 'ack' });
    expect(await request(r, { t: 'unsub', channel: 's:1' })).toMatchObject({ t: 'ack' });
    expect(await request(r, { t: 'sub', channel: 's:3' })).toMatchObject({ t: 'ack' });
  });
});

describe('direct messages need a capability', () => {
  it('a token with capability {} cannot message anyone (40301); publish on direct.<id> allows it', async () => {
    const bob = await raw('limits', 'bob');
    const nobody = await raw('limits', 'mallory', { capability: {} });
    expect(await request(nobody, { t: 'dm', to: 'bob', name: 'hi', data: 1 })).toMatchObject({ t: 'err', code: 40301 });
    const chatOnly = await raw('limits', 'mallory2', { capability: { 'chat:*': ['*'] } });
    expect(await request(chatOnly, { t: 'dm', to: 'bob', name: 'hi', data: 2 })).toMatchObject({ t: 'err', code: 40301 });
    const allowed = await raw('limits', 'alice', { capability: { 'direct.*': ['publish'] } });
    expect(await request(allowed, { t: 'dm', to: 'bob', name: 'hi', data: 3 })).toMatchObject({ t: 'ack' });
    const got = await bob.waitFor((f) => f.t === 'evt');
    expect(got).toMatchObject({ t: 'evt', event: { payload: 3 } });
    expect(bob.frames.filter((f) => f.t === 'evt')).toHaveLength(1);
  });
});

describe('renewal with a narrower capability', () => {
  it('ends what the new token no longer allows, with an err frame naming each channel', async () => {
    const wide = { 'a:*': ['subscribe', 'presence'], 'b:*': ['subscribe', 'presence'] };
    const r = await raw('limits', 'narrow', { capability: wide });
    for (const ch of ['a:1', 'b:1']) {
      expect(await request(r, { t: 'sub', channel: ch })).toMatchObject({ t: 'ack' });
      expect(await request(r, { t: 'pres', channel: ch, action: 'enter' })).toMatchObject({ t: 'ack' });
    }
    const from = r.frames.length;
    r.send({ t: 'auth', token: await sign('limits', 'narrow', { capability: { 'a:*': ['subscribe', 'presence'] } }) });
    await r.waitFor((f) => r.frames.indexOf(f) >= from && f.t === 'connected');
    const errs = r.frames.slice(from).filter((f) => f.t === 'err') as Array<{ code: number; channel?: string }>;
    expect(errs.map((e) => [e.code, e.channel])).toEqual([
      [40301, 'b:1'],
      [40301, 'b:1'],
    ]);
    // b:1 no longer delivers, and its presence is gone; a:1 is untouched.
    const presence = async (ch: string) =>
      ((await (await fetch(`${server.http}/channels/${ch}/presence`, { headers: { authorization: `Bearer ${await sign('limits', 'reader')}` } })).json()) as unknown[]).length;
    expect(await presence('b:1')).toBe(0);
    expect(await presence('a:1')).toBe(1);
    const publisher = await raw('limits', 'pub');
    expect(await request(publisher, { t: 'pub', channel: 'b:1', name: 'n', data: 'gone', messageId: 'gone-1' })).toMatchObject({ t: 'ack' });
    expect(await request(publisher, { t: 'pub', channel: 'a:1', name: 'n', data: 'kept', messageId: 'kept-1' })).toMatchObject({ t: 'ack' });
    await r.waitFor((f) => f.t === 'msg' && f.data === 'kept');
    expect(r.frames.some((f) => f.t === 'msg' && f.data === 'gone')).toBe(false);
  });

  it('the SDK marks such a channel failed with the reason', async () => {
    let narrowed = false;
    const token = async () => sign('limits', 'sdk-narrow', { capability: narrowed ? { 'a:*': ['subscribe'] } : { '*': ['subscribe'] } }, 3600);
    const rt = client(server.url, { authCallback: token });
    const kept = rt.channels.get('a:sdk');
    const lost = rt.channels.get('b:sdk');
    await Promise.all([kept.attach(), lost.attach()]);
    narrowed = true;
    // Force an in-band renewal as the server would ask for one.
    (rt as unknown as { conn: { renewInBand(): Promise<void> } }).conn.renewInBand();
    await until(() => lost.state === 'failed', 'the narrowed channel to fail');
    expect(lost.errorReason?.code).toBe(40301);
    expect(kept.state).toBe('attached');
  });
});

describe('revoking an API key ends its sessions', () => {
  it('a key session, a token the key signed and a token /auth/token minted with it are all closed (4103)', async () => {
    const created = await runCli(['keys', 'create', '--app', 'limits', '--data-dir', server.dataDir]);
    const key = created.stdout.trim();
    const name = key.split(':')[0];
    const viaKey = await RawClient.connect(server.url);
    raws.push(viaKey);
    viaKey.send({ t: 'auth', key, clientId: 'backend' });
    await viaKey.waitFor((f) => f.t === 'connected');
    const signed = (await (
      await fetch(`${server.http}/keys/${name}/requestToken`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(key).toString('base64')}`, 'content-type': 'application/json' },
        body: JSON.stringify({ clientId: 'kid-user' }),
      })
    ).json()) as { token: string };
    const minted = (await (
      await fetch(`${server.http}/auth/token`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ clientId: 'minted-user' }),
      })
    ).json()) as { token: string };
    const sessions = [viaKey];
    for (const token of [signed.token, minted.token]) {
      const r = await RawClient.connect(server.url);
      raws.push(r);
      expect(await r.auth(token)).toMatchObject({ t: 'connected' });
      sessions.push(r);
    }
    const sdk = client(server.url, { key, clientId: 'sdk-backend' });
    await sdk.connection.once('connected');

    expect((await runCli(['keys', 'revoke', name, '--data-dir', server.dataDir])).code).toBe(0);
    for (const r of sessions) expect(await r.waitClosed(8000)).toMatchObject({ code: 4103 });
    await until(() => sdk.connection.state === 'failed', 'the SDK to stop on its revoked key');
    expect(sdk.connection.errorReason?.code).toBe(40101);
    // And the minted token no longer opens anything.
    const again = await RawClient.connect(server.url);
    raws.push(again);
    expect(await again.auth(minted.token)).toMatchObject({ t: 'err', code: 40101 });
    await watch.check('revocation');
  }, 30_000);
});

describe('after the token expires, the grace is for renewing only', () => {
  it('publish and subscribe are refused with 40102 until a fresh token arrives; then they work again', async () => {
    const r = await raw('limits', 'late', {}, 2);
    await r.waitFor((f) => f.t === 'err' && f.code === 40102 && f.id === undefined, 5000);
    expect(await request(r, { t: 'pub', channel: 'g:1', name: 'n', data: 1, messageId: 'grace-1' })).toMatchObject({ t: 'err', code: 40102 });
    expect(await request(r, { t: 'sub', channel: 'g:1' })).toMatchObject({ t: 'err', code: 40102 });
    const from = r.frames.length;
    r.send({ t: 'auth', token: await sign('limits', 'late') });
    await r.waitFor((f) => r.frames.indexOf(f) >= from && f.t === 'connected');
    expect(await request(r, { t: 'pub', channel: 'g:1', name: 'n', data: 2, messageId: 'grace-2' })).toMatchObject({ t: 'ack' });
  });
});

describe('resumable connection ids', () => {
  it('only an id the server issued to the same app and client is resumed', async () => {
    const first = await RawClient.connect(server.url);
    raws.push(first);
    const connected = (await first.auth(await sign('limits', 'owner'))) as { connectionId: string };
    first.close();
    await until(async () => true, 'noop');
    const resume = async (clientId: string, id: string, app = 'limits') => {
      const r = await RawClient.connect(server.url);
      raws.push(r);
      r.send({ t: 'auth', token: await sign(app, clientId), resumeConnectionId: id });
      return ((await r.waitFor((f) => f.t === 'connected')) as { connectionId: string }).connectionId;
    };
    expect(await resume('thief', connected.connectionId)).not.toBe(connected.connectionId);
    expect(await resume('owner', connected.connectionId, 'other-app')).not.toBe(connected.connectionId);
    expect(await resume('owner', 'madeUpConnectionId123456')).not.toBe('madeUpConnectionId123456');
    expect(await resume('owner', connected.connectionId)).toBe(connected.connectionId);
  });
});

describe('one validation for both codecs', () => {
  it('deep data in a binary publish is 40001 and consumes no serial', async () => {
    const ws = new WebSocket(server.url);
    await new Promise((resolve) => ws.once('open', resolve));
    // Replies are binary records; several may share one WebSocket message.
    const replies: ServerFrame[] = [];
    ws.on('message', (d) => replies.push(...decodeServerRecords(d as Buffer)));
    ws.send(encodeClientFrame({ t: 'auth', token: await sign('limits', 'binary') }), { binary: true });
    await until(() => replies.length > 0, 'connected');
    const deep = JSON.parse(`${'['.repeat(100)}${']'.repeat(100)}`);
    ws.send(encodeClientFrame({ t: 'pub', id: 2, channel: 'deep:1', name: 'n', data: deep, messageId: 'deep-1' } as ClientFrame), { binary: true });
    ws.send(encodeClientFrame({ t: 'pub', id: 3, channel: 'deep:1', name: 'n', data: 'ok', messageId: 'deep-2' } as ClientFrame), { binary: true });
    await until(() => replies.length >= 3, 'two replies');
    expect(replies.slice(1).map((f) => (f.t === 'err' ? f.code : f.t))).toEqual([40001, 'ack']);
    ws.close();
    const history = (await (
      await fetch(`${server.http}/channels/deep:1/messages?direction=forwards`, { headers: { authorization: `Bearer ${await sign('limits', 'reader')}` } })
    ).json()) as Array<{ serial: number; data: unknown }>;
    expect(history.map((m) => [m.serial, m.data])).toEqual([[1, 'ok']]);
  });
});

describe('replays respect the unsent-bytes limit', () => {
  it('a catch-up bigger than --max-buffered arrives whole, in pieces, without cutting the reader', async () => {
    const publisher = await raw('limits', 'big-pub');
    const payload = 'z'.repeat(4000);
    const pubs: Array<Promise<ServerFrame>> = [];
    for (let i = 0; i < 300; i++) {
      pubs.push(request(publisher, { t: 'pub', channel: 'replay:1', name: 'n', data: `${i}:${payload}`, messageId: `big-${i}` }));
      if (i % 40 === 39) for (const reply of await Promise.all(pubs.splice(0))) expect(reply.t).toBe('ack');
    }
    for (const reply of await Promise.all(pubs)) expect(reply.t).toBe('ack');
    // 300 × 4 KB ≈ 1.2 MB of catch-up against a 256 KiB unsent-bytes limit.
    const reader = await raw('limits', 'big-reader');
    const ack = await request(reader, { t: 'sub', channel: 'replay:1', lastSerial: 0 });
    expect(ack).toMatchObject({ t: 'ack', resumed: true });
    const got = reader.frames.filter((f) => f.t === 'msg');
    expect(got).toHaveLength(300);
    expect(reader.closed).toBeUndefined();
    await watch.check('replay');
  });

  it('a history page is cut to what fits in one reply and says more', async () => {
    const reader = await raw('limits', 'hist-reader');
    const page = (await request(reader, { t: 'hist', channel: 'replay:1', limit: 1000 })) as { messages: Array<{ seq: number }>; more?: boolean };
    expect(page.messages.length).toBeGreaterThan(10);
    expect(page.messages.length).toBeLessThan(300);
    expect(page.more).toBe(true);
    expect(page.messages.at(-1)?.seq).toBe(300);
  });
});

