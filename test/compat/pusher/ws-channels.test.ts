/**
 * Pusher channels on a real `hubbub serve`, driven by pusher-js with the `pusher` server SDK as the
 * app's backend signer: private (good, bad and wrong-secret signatures), presence by user id,
 * client events, cache channels, user sign-in and private-encrypted relaying.
 */
import { createHash } from 'node:crypto';
import nacl from 'tweetnacl';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { client as hubbub, closeClients } from '../../support/clients.js';
import { PusherClients, RawPusher, backend, connected, nextEvent, startPusherServer, subscribed, until, type PusherApp } from '../../support/pusher.js';
import { cleanup, type RunningServer } from '../../support/server.js';

let server: RunningServer;
let app: PusherApp;
const clients = new PusherClients();

beforeAll(async () => {
  ({ server, app } = await startPusherServer());
});
afterAll(() => cleanup(server));
afterEach(() => {
  clients.closeAll();
  closeClients();
});

const signer = () => backend(app, server.port);

describe('private channels', () => {
  it('subscribes with the backend signature', async () => {
    const pusher = clients.make(app, server.port, { signer: signer() });
    await subscribed(pusher, 'private-orders');
  });

  it('a signature for another socket gets pusher:subscription_error (AuthError, 401)', async () => {
    const raw = await RawPusher.open(server.port, `/app/${app.key}?protocol=7`);
    await raw.socketId();
    const { auth } = signer().authorizeChannel('123.456', 'private-orders');
    raw.send('pusher:subscribe', { channel: 'private-orders', auth });
    const err = await raw.next((e) => e.event === 'pusher:subscription_error', 'subscription_error');
    expect(err.channel).toBe('private-orders');
    expect(JSON.parse(err.data as string)).toMatchObject({ type: 'AuthError', status: 401 });
    raw.close();
  });

  it('a backend with the wrong secret is refused through pusher-js', async () => {
    const pusher = clients.make(app, server.port, { signer: backend(app, server.port, { secret: 'not-the-secret' }) });
    await expect(subscribed(pusher, 'private-orders')).rejects.toMatchObject({ detail: { type: 'AuthError', status: 401 } });
  });
});

describe('presence channels', () => {
  it('lists members by user id; member_added on a user’s first connection, member_removed after its last', async () => {
    const watcher = clients.make(app, server.port, { signer: signer(), presence: { user_id: 'watcher', user_info: { name: 'W' } } });
    const room = await subscribed(watcher, 'presence-room');
    const added: string[] = [];
    const removed: string[] = [];
    room.bind('pusher:member_added', (m: { id: string }) => added.push(m.id));
    room.bind('pusher:member_removed', (m: { id: string }) => removed.push(m.id));

    const alice1 = clients.make(app, server.port, { signer: signer(), presence: { user_id: 'alice', user_info: { name: 'Alice' } } });
    const alice1Room = await subscribed(alice1, 'presence-room');
    // "here": the member list at subscription, the connection's own user included.
    expect((alice1Room as unknown as { members: { count: number; get(id: string): { info: unknown } } }).members.count).toBe(2);
    expect((alice1Room as unknown as { members: { get(id: string): { info: unknown } } }).members.get('watcher').info).toEqual({ name: 'W' });
    await until(() => added.includes('alice'), 'member_added alice');

    const alice2 = clients.make(app, server.port, { signer: signer(), presence: { user_id: 'alice', user_info: { name: 'Alice' } } });
    await subscribed(alice2, 'presence-room');
    alice1.disconnect();
    // A marker after the first disconnect: the watcher has seen everything before it.
    const bob = clients.make(app, server.port, { signer: signer(), presence: { user_id: 'bob' } });
    await subscribed(bob, 'presence-room');
    await until(() => added.includes('bob'), 'member_added bob');
    expect(added.filter((id) => id === 'alice')).toHaveLength(1);
    expect(removed).not.toContain('alice');

    alice2.disconnect();
    await until(() => removed.includes('alice'), 'member_removed alice after the last connection');
    expect((room as unknown as { members: { count: number } }).members.count).toBe(2);
  });

  it('refuses channel_data the signature does not cover', async () => {
    const raw = await RawPusher.open(server.port, `/app/${app.key}?protocol=7`);
    const socketId = await raw.socketId();
    const { auth } = signer().authorizeChannel(socketId, 'presence-room', { user_id: 'alice' });
    raw.send('pusher:subscribe', { channel: 'presence-room', auth, channel_data: JSON.stringify({ user_id: 'admin' }) });
    const err = await raw.next((e) => e.event === 'pusher:subscription_error', 'subscription_error');
    expect(JSON.parse(err.data as string)).toMatchObject({ status: 401 });
    raw.close();
  });
});

describe('client events', () => {
  it('go to the others, never back to the sender, with user_id on presence channels', async () => {
    const a = clients.make(app, server.port, { signer: signer(), presence: { user_id: 'ann' } });
    const b = clients.make(app, server.port, { signer: signer(), presence: { user_id: 'ben' } });
    const aRoom = await subscribed(a, 'presence-chat');
    const bRoom = await subscribed(b, 'presence-chat');
    const echoed: unknown[] = [];
    aRoom.bind('client-typing', (d: unknown) => echoed.push(d));
    const got = nextEvent<{ typing: boolean }>(bRoom, 'client-typing');
    expect(aRoom.trigger('client-typing', { typing: true })).toBe(true);
    const { data, metadata } = await got;
    expect(data).toEqual({ typing: true });
    expect(metadata?.user_id).toBe('ann');
    // b answers; a gets it, and never saw its own.
    const back = nextEvent(aRoom, 'client-reply');
    bRoom.trigger('client-reply', 'ok');
    expect((await back).data).toBe('ok');
    expect(echoed).toEqual([]);
  });

  it('on a private channel carry no user_id', async () => {
    const a = clients.make(app, server.port, { signer: signer() });
    const b = clients.make(app, server.port, { signer: signer() });
    const aCh = await subscribed(a, 'private-doc');
    const bCh = await subscribed(b, 'private-doc');
    const got = nextEvent(bCh, 'client-edit');
    aCh.trigger('client-edit', { at: 1 });
    const { data, metadata } = await got;
    expect(data).toEqual({ at: 1 });
    expect(metadata?.user_id).toBeUndefined();
  });

  it('are refused on public channels and before subscribing', async () => {
    const raw = await RawPusher.open(server.port, `/app/${app.key}?protocol=7`);
    await raw.socketId();
    raw.send('pusher:subscribe', { channel: 'lobby' });
    await raw.next((e) => e.event === 'pusher_internal:subscription_succeeded', 'subscribed');
    raw.send('client-x', {}, 'lobby');
    raw.send('client-x', {}, 'private-never');
    await until(() => raw.received.filter((e) => e.event === 'pusher:error').length === 2, 'two errors');
    raw.close();
  });

  it('past 10 a second get pusher:error 4301, and the connection stays', async () => {
    const raw = await RawPusher.open(server.port, `/app/${app.key}?protocol=7`);
    const socketId = await raw.socketId();
    raw.send('pusher:subscribe', { channel: 'private-flood', auth: signer().authorizeChannel(socketId, 'private-flood').auth });
    await raw.next((e) => e.event === 'pusher_internal:subscription_succeeded', 'subscribed');
    for (let i = 0; i < 30; i++) raw.send('client-spam', { i }, 'private-flood');
    const err = await raw.next((e) => e.event === 'pusher:error' && (e.data as { code: number }).code === 4301, '4301');
    expect(err).toBeDefined();
    raw.send('pusher:ping', {});
    await raw.next((e) => e.event === 'pusher:pong', 'still up');
    expect(raw.closed).toBeUndefined();
    raw.close();
  });
});

describe('cache channels', () => {
  it('a new subscriber gets pusher:cache_miss, then the last event once one was published', async () => {
    const first = clients.make(app, server.port);
    const miss = new Promise<void>((resolve) => first.subscribe('cache-score').bind('pusher:cache_miss', () => resolve()));
    await miss;
    const rt = hubbub(server.url, { key: app.hubbubKey });
    await rt.channels.get('cache-score').publish('score', { home: 1 });
    await rt.channels.get('cache-score').publish('score', { home: 2 });
    const second = clients.make(app, server.port);
    const got = nextEvent(second.subscribe('cache-score'), 'score');
    expect((await got).data).toEqual({ home: 2 });
  });
});

describe('user sign-in', () => {
  it('signin_success, then the user’s own #server-to-user- channel; another connection may not take it', async () => {
    const pusher = clients.make(app, server.port, { signer: signer(), user: { id: 'u-42', name: 'Q' } });
    await connected(pusher);
    pusher.signin();
    await until(() => (pusher.user as unknown as { user_data?: { id: string } }).user_data?.id === 'u-42', 'signed in');
    await until(() => (pusher.user as unknown as { serverToUserChannel?: { subscribed: boolean } }).serverToUserChannel?.subscribed === true, 'server-to-user subscribed');

    const raw = await RawPusher.open(server.port, `/app/${app.key}?protocol=7`);
    await raw.socketId();
    raw.send('pusher:subscribe', { channel: '#server-to-user-u-42' });
    const err = await raw.next((e) => e.event === 'pusher:subscription_error', 'refused');
    expect(JSON.parse(err.data as string)).toMatchObject({ status: 403 });
    raw.close();
  });

  it('refuses a signature for other user data', async () => {
    const raw = await RawPusher.open(server.port, `/app/${app.key}?protocol=7`);
    const socketId = await raw.socketId();
    const { auth } = signer().authenticateUser(socketId, { id: 'u-1' });
    raw.send('pusher:signin', { auth, user_data: JSON.stringify({ id: 'u-admin' }) });
    const err = await raw.next((e) => e.event === 'pusher:error', 'refused');
    expect((err.data as { code: number }).code).toBe(4009);
    raw.close();
  });
});

describe('private-encrypted channels', () => {
  it('are relayed opaquely: pusher-js decrypts what was sealed with the channel’s shared secret', async () => {
    const pusher = clients.make(app, server.port, { signer: signer() });
    const channel = await subscribed(pusher, 'private-encrypted-vault');
    // pusher-http-node derives a channel's key as sha256(channel name + master key).
    const secret = createHash('sha256').update('private-encrypted-vault').update(Buffer.alloc(32, 7)).digest();
    const nonce = nacl.randomBytes(24);
    const ciphertext = nacl.secretbox(Buffer.from(JSON.stringify({ gold: 3 })), nonce, secret);
    const got = nextEvent(channel, 'sealed');
    // The payload as a value: a Pusher client gets it as JSON text, which pusher-js opens.
    await hubbub(server.url, { key: app.hubbubKey })
      .channels.get('private-encrypted-vault')
      .publish('sealed', { nonce: Buffer.from(nonce).toString('base64'), ciphertext: Buffer.from(ciphertext).toString('base64') });
    expect((await got).data).toEqual({ gold: 3 });
  });
});
