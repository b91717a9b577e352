/**
 * Pusher's own bounds on the WebSocket side, on a real `hubbub serve`: presence channels capped at
 * `--pusher-max-presence-members` distinct users (counted by the engine, so every protocol and node),
 * the member list a joiner gets within `--max-buffered` at the defaults, client events' name and data
 * bounds, one sign-in per socket, and numeric user ids as their decimal text.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { client as hubbub, closeClients } from '../../support/clients.js';
import { PusherClients, RawPusher, backend, createPusherApp, startPusherServer, subscribed, until, type PusherApp } from '../../support/pusher.js';
import { TestRedis, redisAvailable } from '../../support/redis.js';
import { cleanup, startServer, type RunningServer } from '../../support/server.js';

const clients = new PusherClients();
const raws: RawPusher[] = [];
afterEach(() => {
  clients.closeAll();
  closeClients();
  for (const raw of raws.splice(0)) raw.close();
});

/** What the app's backend signs, written out here so a test can sign what the `pusher` SDK would not (a numeric id). */
const sign = (app: PusherApp, text: string) => `${app.key}:${createHmac('sha256', app.secret).update(text).digest('hex')}`;

async function rawSocket(port: number, app: PusherApp): Promise<{ raw: RawPusher; socketId: string }> {
  const raw = await RawPusher.open(port, `/app/${app.key}?protocol=7`);
  raws.push(raw);
  return { raw, socketId: await raw.socketId() };
}

type Answer = { event: string; channel?: string; data?: unknown };

/** A presence subscribe with `member` as channel_data; resolves with subscription_succeeded or subscription_error. */
async function joinRaw(port: number, app: PusherApp, channel: string, member: unknown): Promise<{ raw: RawPusher; answer: Answer; bytes: number }> {
  const { raw, socketId } = await rawSocket(port, app);
  let bytes = 0;
  raw.ws.on('message', (d: Buffer) => {
    if (String(d).startsWith('{"event":"pusher_internal:subscription_succeeded"')) bytes = d.length;
  });
  const channelData = JSON.stringify(member);
  raw.send('pusher:subscribe', { channel, auth: sign(app, `${socketId}:${channel}:${channelData}`), channel_data: channelData });
  const answer = await raw.next((e) => e.channel === channel && (e.event === 'pusher_internal:subscription_succeeded' || e.event === 'pusher:subscription_error'), `answer on ${channel}`);
  return { raw, answer, bytes };
}

const dataOf = (answer: Answer) => JSON.parse(answer.data as string);

describe('presence channels are capped like Pusher’s (--pusher-max-presence-members 3)', () => {
  let server: RunningServer;
  let app: PusherApp;
  beforeAll(async () => {
    ({ server, app } = await startPusherServer(['--pusher-max-presence-members', '3']));
  });
  afterAll(() => cleanup(server));
  const signer = () => backend(app, server.port);

  it('a new user past the cap gets pusher:subscription_error 403; a user already present still joins', async () => {
    for (const id of ['u1', 'u2', 'u3']) await subscribed(clients.make(app, server.port, { signer: signer(), presence: { user_id: id } }), 'presence-full');
    const fourth = clients.make(app, server.port, { signer: signer(), presence: { user_id: 'u4' } });
    await expect(subscribed(fourth, 'presence-full')).rejects.toMatchObject({ detail: { status: 403, error: expect.stringContaining('at most 3 members') } });
    // u1 on another connection is the same member: it joins, and the channel still counts 3.
    const again = await subscribed(clients.make(app, server.port, { signer: signer(), presence: { user_id: 'u1' } }), 'presence-full');
    expect((again as unknown as { members: { count: number } }).members.count).toBe(3);
    // The refused client stays connected and may join elsewhere.
    await subscribed(fourth, 'presence-other');
  });

  it('counts Hubbub SDK members too, and a place freed by a leave is taken again', async () => {
    const rt = hubbub(server.url, { key: app.hubbubKey, clientId: 'sdk-member' });
    await rt.channels.get('presence-mixed-cap').presence.enter({ via: 'hubbub' });
    const first = clients.make(app, server.port, { signer: signer(), presence: { user_id: 'p1' } });
    await subscribed(first, 'presence-mixed-cap');
    await subscribed(clients.make(app, server.port, { signer: signer(), presence: { user_id: 'p2' } }), 'presence-mixed-cap');
    const refused = await joinRaw(server.port, app, 'presence-mixed-cap', { user_id: 'p3' });
    expect(refused.answer.event).toBe('pusher:subscription_error');
    expect(dataOf(refused.answer)).toMatchObject({ type: 'AuthError', status: 403 });
    first.disconnect();
    await until(async () => (await rt.channels.get('presence-mixed-cap').presence.get()).every((m) => m.clientId !== 'p1'), 'p1 gone');
    const admitted = await joinRaw(server.port, app, 'presence-mixed-cap', { user_id: 'p3' });
    expect(admitted.answer.event).toBe('pusher_internal:subscription_succeeded');
  });
});

describe('the member list at the default limits', () => {
  let server: RunningServer;
  let app: PusherApp;
  beforeAll(async () => {
    ({ server, app } = await startPusherServer());
  });
  afterAll(() => cleanup(server));

  it('100 members with the largest user_info: the 101st user is refused, and the list a member gets stays under 1 MB (--max-buffered is 4 MiB)', async () => {
    // Quotes are escaped once in channel_data and twice in the event: the worst case for the list's size.
    const info = (id: string) => ({ user_id: id, user_info: '"'.repeat(2000) });
    expect(Buffer.byteLength(JSON.stringify(info('m-100')))).toBeLessThanOrEqual(4096);
    let largest = 0;
    for (let i = 1; i <= 100; i++) {
      const { answer, bytes, raw } = await joinRaw(server.port, app, 'presence-crowd', info(`m-${i}`));
      expect(answer.event).toBe('pusher_internal:subscription_succeeded');
      largest = Math.max(largest, bytes);
      // Members need not keep every member_added in this test's memory.
      raw.received.length = 0;
    }
    const last = await joinRaw(server.port, app, 'presence-crowd', info('m-101'));
    expect(last.answer.event).toBe('pusher:subscription_error');
    expect(dataOf(last.answer).status).toBe(403);
    const again = await joinRaw(server.port, app, 'presence-crowd', info('m-1'));
    expect(dataOf(again.answer).presence.count).toBe(100);
    largest = Math.max(largest, again.bytes);
    expect(largest).toBeGreaterThan(700_000);
    expect(largest).toBeLessThan(1_000_000);
  });
});

describe.runIf(redisAvailable())('the presence cap across two --redis nodes', () => {
  let redis: TestRedis;
  let a: RunningServer;
  let b: RunningServer;
  let app: PusherApp;
  beforeAll(async () => {
    redis = await TestRedis.start();
    const dataDir = mkdtempSync(join(tmpdir(), 'hubbub-pusher-cap-redis-'));
    app = await createPusherApp(dataDir);
    a = await startServer(['--redis', redis.url, '--pusher-max-presence-members', '2'], { dataDir });
    b = await startServer(['--redis', redis.url, '--pusher-max-presence-members', '2'], { dataDir });
  });
  afterAll(async () => {
    await Promise.all([a, b].map(cleanup));
    await redis?.stop();
  });

  it('members on node A count on node B', async () => {
    await subscribed(clients.make(app, a.port, { signer: backend(app, a.port), presence: { user_id: 'ra' } }), 'presence-nodes');
    await subscribed(clients.make(app, a.port, { signer: backend(app, a.port), presence: { user_id: 'rb' } }), 'presence-nodes');
    const onB = clients.make(app, b.port, { signer: backend(app, b.port), presence: { user_id: 'rc' } });
    await expect(subscribed(onB, 'presence-nodes')).rejects.toMatchObject({ detail: { status: 403 } });
    await subscribed(clients.make(app, b.port, { signer: backend(app, b.port), presence: { user_id: 'ra' } }), 'presence-nodes');
  });

  it('joins racing on both nodes pass the cap by at most one per node', async () => {
    // Found by an outside attack: 1000 joins at once over two nodes were all admitted, and each read
    // a member list thousands long. Joins now go one at a time per channel on each node.
    const channel = 'presence-race';
    const sockets = await Promise.all(Array.from({ length: 40 }, (_, i) => rawSocket(i % 2 ? a.port : b.port, app)));
    sockets.forEach(({ raw, socketId }, i) => {
      const channelData = JSON.stringify({ user_id: `racer-${i}` });
      raw.send('pusher:subscribe', { channel, auth: sign(app, `${socketId}:${channel}:${channelData}`), channel_data: channelData });
    });
    const answers = await Promise.all(sockets.map(({ raw }) => raw.next((e) => e.channel === channel && e.event.includes('subscription_'), 'an answer')));
    const admitted = answers.filter((e) => e.event === 'pusher_internal:subscription_succeeded').length;
    expect(admitted).toBeGreaterThanOrEqual(2);
    expect(admitted).toBeLessThanOrEqual(3);
  });
});

describe('client events, sign-in and user ids', () => {
  let server: RunningServer;
  let app: PusherApp;
  beforeAll(async () => {
    ({ server, app } = await startPusherServer());
  });
  afterAll(() => cleanup(server));

  async function privatePair(channel: string) {
    const sender = await rawSocket(server.port, app);
    const receiver = await rawSocket(server.port, app);
    for (const { raw, socketId } of [sender, receiver]) {
      raw.send('pusher:subscribe', { channel, auth: sign(app, `${socketId}:${channel}`) });
      await raw.next((e) => e.event === 'pusher_internal:subscription_succeeded', 'subscribed');
    }
    return { sender: sender.raw, receiver: receiver.raw };
  }

  /** Send, then a marker the receiver must see after it: what came before the marker is all that came. */
  async function relayed(sender: RawPusher, receiver: RawPusher, channel: string, event: string, data: unknown): Promise<boolean> {
    const from = receiver.received.length;
    sender.send(event, data, channel);
    sender.send('client-marker', {}, channel);
    await receiver.next((e) => e.event === 'client-marker', 'marker', from);
    return receiver.received.slice(from).some((e) => e.event === event);
  }

  it('a name over 200 characters gets pusher:error and goes nowhere; 200 characters pass; the connection stays', async () => {
    const { sender, receiver } = await privatePair('private-names');
    const long = `client-${'x'.repeat(194)}`;
    expect(await relayed(sender, receiver, 'private-names', long, { n: 1 })).toBe(false);
    const err = await sender.next((e) => e.event === 'pusher:error', 'refused');
    expect(err.data).toMatchObject({ code: null, message: expect.stringContaining('200 characters') });
    expect(await relayed(sender, receiver, 'private-names', long.slice(0, 200), { n: 2 })).toBe(true);
    expect(sender.closed).toBeUndefined();
  });

  it('data over 10 KB (text as it is, other values as JSON) gets pusher:error and goes nowhere; 10 240 bytes pass', async () => {
    const { sender, receiver } = await privatePair('private-sizes');
    expect(await relayed(sender, receiver, 'private-sizes', 'client-big', 'é'.repeat(5_121))).toBe(false);
    const err = await sender.next((e) => e.event === 'pusher:error', 'refused');
    expect(err.data).toMatchObject({ code: null, message: expect.stringContaining('10240 bytes') });
    expect(await relayed(sender, receiver, 'private-sizes', 'client-big', 'x'.repeat(10_240))).toBe(true);
    expect(await relayed(sender, receiver, 'private-sizes', 'client-obj', { s: 'y'.repeat(10_300) })).toBe(false);
    expect(sender.closed).toBeUndefined();
  });

  it('a second pusher:signin on a signed-in socket is refused; the first user and its #server-to-user- channel stay', async () => {
    const { raw, socketId } = await rawSocket(server.port, app);
    const signin = (user: unknown) => {
      const userData = JSON.stringify(user);
      raw.send('pusher:signin', { auth: sign(app, `${socketId}::user::${userData}`), user_data: userData });
    };
    signin({ id: 'alice' });
    await raw.next((e) => e.event === 'pusher:signin_success', 'signed in');
    raw.send('pusher:subscribe', { channel: '#server-to-user-alice' });
    await raw.next((e) => e.event === 'pusher_internal:subscription_succeeded' && e.channel === '#server-to-user-alice', 'alice channel');
    const from = raw.received.length;
    signin({ id: 'bob' });
    const err = await raw.next((e) => e.event === 'pusher:error' || e.event === 'pusher:signin_success', 'answer', from);
    expect(err.event).toBe('pusher:error');
    expect((err.data as { message: string }).message).toContain('already signed in as "alice"');
    await backend(app, server.port).sendToUser('alice', 'note', { hi: 1 });
    const note = await raw.next((e) => e.event === 'note', 'note to alice', from);
    expect(note.channel).toBe('#server-to-user-alice');
    raw.send('pusher:subscribe', { channel: '#server-to-user-bob' });
    const refused = await raw.next((e) => e.event === 'pusher:subscription_error', 'bob refused', from);
    expect(dataOf(refused)).toMatchObject({ status: 403 });
  });

  it('a numeric sign-in id is the user of its decimal text: #server-to-user-42', async () => {
    const { raw, socketId } = await rawSocket(server.port, app);
    const userData = JSON.stringify({ id: 42, name: 'Laravel' });
    raw.send('pusher:signin', { auth: sign(app, `${socketId}::user::${userData}`), user_data: userData });
    await raw.next((e) => e.event === 'pusher:signin_success', 'signed in');
    raw.send('pusher:subscribe', { channel: '#server-to-user-42' });
    await raw.next((e) => e.event === 'pusher_internal:subscription_succeeded' && e.channel === '#server-to-user-42', 'own channel');
    await backend(app, server.port).sendToUser('42', 'note', { n: 1 });
    await raw.next((e) => e.event === 'note' && e.channel === '#server-to-user-42', 'note to 42');
  });

  it('a numeric presence user_id is the member of its decimal text, one member with "42"', async () => {
    const first = await joinRaw(server.port, app, 'presence-numeric', { user_id: 42, user_info: { n: true } });
    expect(dataOf(first.answer).presence).toEqual({ ids: ['42'], hash: { '42': { n: true } }, count: 1 });
    const second = await joinRaw(server.port, app, 'presence-numeric', { user_id: '42' });
    expect(dataOf(second.answer).presence.count).toBe(1);
    const fraction = await joinRaw(server.port, app, 'presence-numeric', { user_id: 4.5 });
    expect(dataOf(fraction.answer)).toMatchObject({ status: 400 });
  });
});
