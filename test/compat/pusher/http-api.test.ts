/**
 * Pusher's HTTP API on `hubbub serve`, driven by the `pusher` server SDK (v5) exactly as a backend
 * configures it for a self-hosted server, and by raw requests signed with the SDK's own signer where a
 * test must send what the SDK never would. Every event lands in the one channel space: Hubbub's SDK
 * receives it, presence comes from Hubbub's SDK members.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '@hubbub/client';
import { devtoken, type RunningServer } from '../../support/server.js';
import { cleanup } from '../../support/server.js';
import { client, closeClients } from '../../support/clients.js';
import { until } from '../../support/wait.js';
import { backend, createPusherApp, jsonOf, revokeKey, signedRequest, startPusherServer, type PusherApp } from '../../support/pusher.js';

const APP = 'pusherapp';
let server: RunningServer;
let creds: PusherApp;
let alice: string;
let bob: string;

beforeAll(async () => {
  ({ server, app: creds } = await startPusherServer([], { appId: APP }));
  [alice, bob] = await Promise.all([devtoken(APP, 'alice'), devtoken(APP, 'bob')]);
});
afterAll(() => cleanup(server));
afterEach(() => closeClients());

/** A Hubbub SDK client attached to `channel`, collecting what arrives. */
async function subscriber(channel: string, options: { token?: string; echoMessages?: boolean } = {}) {
  const rt = client(server.url, { token: options.token ?? alice, ...(options.echoMessages === false ? { echoMessages: false } : {}) });
  const got: Message[] = [];
  rt.channels.get(channel).on((m) => got.push(m));
  await rt.channels.get(channel).attach();
  return { rt, got };
}

/** The status of an SDK call that should fail. */
async function statusOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
  } catch (err) {
    return (err as { status: number }).status;
  }
  throw new Error('the call succeeded');
}

describe('trigger through the pusher SDK reaches Hubbub subscribers', () => {
  it('with the event name as the message name and JSON data parsed; text data stays text', async () => {
    const { got } = await subscriber('orders');
    const pusher = backend(creds, server.port);
    const res = await pusher.trigger('orders', 'order-placed', { id: 7, items: ['tea'] });
    expect(res.status).toBe(200);
    expect(await jsonOf(res)).toEqual({});
    await pusher.trigger('orders', 'note', 'plain text, not JSON');
    await until(() => got.length === 2, 'both events at the Hubbub subscriber');
    expect(got.map((m) => [m.name, m.data])).toEqual([
      ['order-placed', { id: 7, items: ['tea'] }],
      ['note', 'plain text, not JSON'],
    ]);
    // An ordinary publish: serials and history like any REST publish.
    expect(got[1].serial).toBe(got[0].serial! + 1);
    const history = await fetch(`${server.http}/channels/orders/messages`, { headers: { authorization: `Bearer ${alice}` } });
    expect(((await history.json()) as Array<{ name: string }>).map((m) => m.name)).toEqual(['note', 'order-placed']);
  });

  it('to several channels at once, answering info per channel', async () => {
    const a = await subscriber('multi-a');
    const b = await subscriber('multi-b', { token: bob });
    const pusher = backend(creds, server.port);
    const res = await pusher.trigger(['multi-a', 'multi-b', 'multi-empty'], 'tick', { n: 1 }, { info: 'subscription_count' });
    expect(await jsonOf(res)).toEqual({
      channels: { 'multi-a': { subscription_count: 1 }, 'multi-b': { subscription_count: 1 }, 'multi-empty': { subscription_count: 0 } },
    });
    await until(() => a.got.length === 1 && b.got.length === 1, 'the event on both channels');
  });

  it('on a channel name Pusher allows and Hubbub names do not (=@,;)', async () => {
    const pusher = backend(creds, server.port);
    const res = await pusher.trigger('odd=name@x,y;z', 'e', { ok: true });
    expect(res.status).toBe(200);
    const info = await pusher.get({ path: '/channels/odd=name@x,y;z', params: { info: 'subscription_count' } });
    expect(await jsonOf(info)).toEqual({ occupied: false, subscription_count: 0 });
  });

  it('triggerBatch publishes each event, and answers info per event', async () => {
    const { got } = await subscriber('batch-a');
    const pusher = backend(creds, server.port);
    const plain = await pusher.triggerBatch([
      { channel: 'batch-a', name: 'one', data: { n: 1 } },
      { channel: 'batch-a', name: 'two', data: 'two' },
    ]);
    expect(await jsonOf(plain)).toEqual({});
    const withInfo = await pusher.triggerBatch([
      { channel: 'batch-a', name: 'three', data: { n: 3 }, info: 'subscription_count' },
      { channel: 'batch-nobody', name: 'four', data: {} },
    ]);
    expect(await jsonOf(withInfo)).toEqual({ batch: [{ subscription_count: 1 }, {}] });
    await until(() => got.length === 3, 'three events');
    expect(got.map((m) => [m.name, m.data])).toEqual([
      ['one', { n: 1 }],
      ['two', 'two'],
      ['three', { n: 3 }],
    ]);
  });

  it('socket_id leaves out the connection with that id (echo off), and only it', async () => {
    const excluded = await subscriber('exclusion', { echoMessages: false });
    const other = await subscriber('exclusion', { token: bob });
    const socketId = excluded.rt.connection.id!;
    const first = await signedRequest(server, creds, { method: 'POST', path: '/events', body: { name: 'skip-me', data: '{}', channel: 'exclusion', socket_id: socketId } });
    expect(first.status).toBe(200);
    await backend(creds, server.port).trigger('exclusion', 'for-all', {});
    await until(() => other.got.length === 2 && excluded.got.length === 1, 'both events at the other client, the second at the excluded one');
    expect(other.got.map((m) => m.name)).toEqual(['skip-me', 'for-all']);
    expect(excluded.got.map((m) => m.name)).toEqual(['for-all']);
  });

  it('a socket_id that is neither a Pusher socket id nor a Hubbub connection id: 400', async () => {
    for (const socketId of ['abc', '123', '1.2.3', '12.ab', 'x'.repeat(26), 'x'.repeat(28), '']) {
      const res = await signedRequest(server, creds, { method: 'POST', path: '/events', body: { name: 'e', data: '{}', channel: 'exclusion', socket_id: socketId } });
      expect(res.status, JSON.stringify(socketId)).toBe(400);
      expect(res.text).toContain('socket_id');
    }
    // One no connection has, in Pusher's form, is fine: it leaves out nobody.
    expect((await signedRequest(server, creds, { method: 'POST', path: '/events', body: { name: 'e', data: '{}', channel: 'exclusion', socket_id: '123.456' } })).status).toBe(200);
  });
});

describe('channel reads', () => {
  it('GET /channels lists occupied channels, by prefix, with user_count for presence- channels', async () => {
    await subscriber('list-one');
    const member = client(server.url, { token: alice });
    const room = member.channels.get('presence-list-room');
    await room.attach();
    await room.presence.enter({ name: 'Alice' });
    const pusher = backend(creds, server.port);
    const all = (await jsonOf(await pusher.get({ path: '/channels' }))) as { channels: Record<string, unknown> };
    expect(all.channels['list-one']).toEqual({});
    expect(all.channels['presence-list-room']).toEqual({});
    const presence = await jsonOf(await pusher.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } }));
    expect(presence).toEqual({ channels: { 'presence-list-room': { user_count: 1 } } });
    expect(await statusOf(pusher.get({ path: '/channels', params: { info: 'user_count' } }))).toBe(400);
  });

  it('GET /channels/{c}: occupied, subscription_count, user_count', async () => {
    const pusher = backend(creds, server.port);
    expect(await jsonOf(await pusher.get({ path: '/channels/info-empty' }))).toEqual({ occupied: false });
    await subscriber('info-busy');
    await subscriber('info-busy', { token: bob });
    expect(await jsonOf(await pusher.get({ path: '/channels/info-busy', params: { info: 'subscription_count' } }))).toEqual({ occupied: true, subscription_count: 2 });
    expect(await statusOf(pusher.get({ path: '/channels/info-busy', params: { info: 'user_count' } }))).toBe(400);
  });

  it('GET /channels/{presence-c}/users and user_count come from Hubbub SDK presence members, one per user id', async () => {
    const a1 = client(server.url, { token: alice });
    const a2 = client(server.url, { token: alice });
    const b = client(server.url, { token: bob });
    for (const rt of [a1, a2, b]) await rt.channels.get('presence-users').presence.enter({ since: 'now' });
    const pusher = backend(creds, server.port);
    const users = (await jsonOf(await pusher.get({ path: '/channels/presence-users/users' }))) as { users: Array<{ id: string }> };
    expect(users.users.map((u) => u.id).sort()).toEqual(['alice', 'bob']);
    const info = await jsonOf(await pusher.get({ path: '/channels/presence-users', params: { info: 'user_count' } }));
    expect(info).toEqual({ occupied: true, user_count: 2 });
    const triggered = await pusher.trigger('presence-users', 'hello', {}, { info: 'user_count,subscription_count' });
    expect(await jsonOf(triggered)).toEqual({ channels: { 'presence-users': { user_count: 2, subscription_count: 0 } } });
    await b.channels.get('presence-users').presence.leave();
    await until(async () => ((await jsonOf(await pusher.get({ path: '/channels/presence-users/users' }))) as { users: unknown[] }).users.length === 1, 'bob gone from /users');
    expect(await statusOf(pusher.get({ path: '/channels/not-presence/users' }))).toBe(400);
  });
});

describe('terminate_connections', () => {
  it('closes every connection of that user id in the app, and no one else', async () => {
    const mallory = await devtoken(APP, 'mallory');
    const m1 = client(server.url, { token: mallory });
    const m2 = client(server.url, { token: mallory });
    const a = client(server.url, { token: alice });
    await Promise.all([m1, m2, a].map((rt) => rt.connection.once('connected')));
    const res = await backend(creds, server.port).terminateUserConnections('mallory');
    expect(res.status).toBe(200);
    await until(() => m1.connection.state !== 'connected' && m2.connection.state !== 'connected', "mallory's connections closed");
    expect(a.connection.state).toBe('connected');
  });
});

describe('signing and limits, as Pusher answers them', () => {
  const event = { name: 'e', data: '{}', channel: 'signed' };

  it('a request signed as the SDK signs it is accepted', async () => {
    expect((await signedRequest(server, creds, { method: 'POST', path: '/events', body: event })).status).toBe(200);
  });

  it('a bad signature: 401', async () => {
    const res = await signedRequest(server, creds, { method: 'POST', path: '/events', body: event, query: (q) => q.replace(/auth_signature=([0-9a-f])/, (_, c: string) => `auth_signature=${c === '0' ? '1' : '0'}`) });
    expect(res.status).toBe(401);
    expect(res.text).toMatch(/invalid signature/);
  });

  it('a signed parameter changed after signing: 401', async () => {
    const res = await signedRequest(server, creds, { method: 'GET', path: '/channels', params: { filter_by_prefix: 'a' }, query: (q) => q.replace('filter_by_prefix=a', 'filter_by_prefix=b') });
    expect(res.status).toBe(401);
  });

  it('the wrong secret: 401 through the SDK', async () => {
    expect(await statusOf(backend(creds, server.port, { secret: 'not-the-secret' }).trigger('signed', 'e', {}))).toBe(401);
  });

  it('an unknown key: 401', async () => {
    expect(await statusOf(backend(creds, server.port, { key: 'nosuchkey' }).trigger('signed', 'e', {}))).toBe(401);
  });

  it('an auth_timestamp older than 600 s: 401; within it: accepted', async () => {
    const old = await signedRequest(server, creds, { method: 'POST', path: '/events', body: event, agoS: 700 });
    expect(old.status).toBe(401);
    expect(old.text).toMatch(/auth_timestamp/);
    expect((await signedRequest(server, creds, { method: 'POST', path: '/events', body: event, agoS: 300 })).status).toBe(200);
  });

  it('a body changed after signing (body_md5): 401', async () => {
    const res = await signedRequest(server, creds, { method: 'POST', path: '/events', body: event, sentBody: JSON.stringify({ ...event, data: '{"evil":1}' }) });
    expect(res.status).toBe(401);
    expect(res.text).toMatch(/body_md5/);
  });

  it('a revoked key: 401', async () => {
    const doomed = await createPusherApp(server.dataDir, APP);
    expect((await backend(doomed, server.port).trigger('signed', 'e', {})).status).toBe(200);
    await revokeKey(server.dataDir, doomed.keyName);
    expect(await statusOf(backend(doomed, server.port).trigger('signed', 'e', {}))).toBe(401);
  });

  it('a key of another app is unknown under this app id: 401', async () => {
    const other = await createPusherApp(server.dataDir, 'otherapp');
    expect(await statusOf(backend(other, server.port, { appId: APP }).trigger('signed', 'e', {}))).toBe(401);
  });

  it('data over 10 KB: 413; exactly 10 KB: accepted', async () => {
    const pusher = backend(creds, server.port);
    expect((await pusher.trigger('signed', 'e', 'x'.repeat(10 * 1024))).status).toBe(200);
    expect(await statusOf(pusher.trigger('signed', 'e', 'x'.repeat(10 * 1024 + 1)))).toBe(413);
  });

  it('a batch of more than 10 events: 413', async () => {
    const batch = Array.from({ length: 11 }, (_, i) => ({ channel: 'signed', name: `e${i}`, data: {} }));
    expect(await statusOf(backend(creds, server.port).triggerBatch(batch))).toBe(413);
  });

  it('more than 100 channels in one event: 400 (the SDK refuses to send it; a raw request does)', async () => {
    const channels = Array.from({ length: 101 }, (_, i) => `c${i}`);
    const res = await signedRequest(server, creds, { method: 'POST', path: '/events', body: { name: 'e', data: '{}', channels } });
    expect(res.status).toBe(400);
  });

  it('bad input: 400 (a channel outside Pusher names, data not a string, a protocol event name)', async () => {
    for (const body of [
      { name: 'e', data: '{}', channel: 'has space' },
      { name: 'e', data: { not: 'text' }, channel: 'ok' },
      { name: 'pusher_internal:member_added', data: '{}', channel: 'ok' },
    ]) {
      expect((await signedRequest(server, creds, { method: 'POST', path: '/events', body })).status, JSON.stringify(body)).toBe(400);
    }
  });
});

describe('capabilities: a Pusher secret is an API key, its scope the key capability', () => {
  it('a key without publish on the channel: 403; reads it may do still answer', async () => {
    const reader = await createPusherApp(server.dataDir, APP, { 'news-*': ['subscribe'], 'presence-*': ['presence'] });
    const pusher = backend(reader, server.port);
    expect(await statusOf(pusher.trigger('news-today', 'e', {}))).toBe(403);
    expect(await statusOf(pusher.triggerBatch([{ channel: 'news-today', name: 'e', data: {} }]))).toBe(403);
    expect((await pusher.get({ path: '/channels/news-today' })).status).toBe(200);
    expect((await pusher.get({ path: '/channels/presence-x/users' })).status).toBe(200);
    expect(await statusOf(pusher.get({ path: '/channels/secret-room' }))).toBe(403);
    expect(await statusOf(pusher.terminateUserConnections('alice'))).toBe(403);
  });

  it('a key that may publish on some channels: a trigger naming one it may not publishes nothing', async () => {
    const { got } = await subscriber('allowed-feed');
    const writer = await createPusherApp(server.dataDir, APP, { 'allowed-*': ['publish'] });
    const pusher = backend(writer, server.port);
    expect(await statusOf(pusher.trigger(['allowed-feed', 'forbidden-feed'], 'e', {}))).toBe(403);
    await pusher.trigger('allowed-feed', 'after', {});
    await until(() => got.length === 1, 'the allowed event');
    expect(got.map((m) => m.name)).toEqual(['after']);
  });
});
