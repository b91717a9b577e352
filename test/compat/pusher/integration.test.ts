/**
 * Where the Pusher WebSocket dialect, the Pusher HTTP API and Pusher-format webhooks meet, against the
 * real `hubbub serve`: the `pusher` server SDK acting on real pusher-js connections (terminate a
 * signed-in user, send to a user, leave out a socket, read presence and channels), and a Pusher-format
 * webhook endpoint hearing what pusher-js clients do; on one node and on two `--redis` nodes.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Channel } from 'pusher-js';
import {
  PusherClients,
  backend,
  connected,
  createPusherApp,
  jsonOf,
  nextEvent,
  signedIn,
  subscribed,
  until,
  type Pusher,
  type PusherApp,
} from '../../support/pusher.js';
import { pusherHookReceiver, type PusherHookReceiver } from '../../support/pusher-webhook-receiver.js';
import { TestRedis, freePort, redisAvailable } from '../../support/redis.js';
import { cleanup, startServer, type RunningServer } from '../../support/server.js';

const clients = new PusherClients();
afterEach(() => clients.closeAll());

/** A pusher-js client signed in as `id` (`pusher:signin`), and its connection's states from then on. */
async function userClient(app: PusherApp, port: number, id: string, extra: { presence?: { user_id: string } } = {}) {
  const client = clients.make(app, port, { signer: backend(app, port), user: { id }, ...extra });
  await connected(client);
  await signedIn(client);
  return { client, ...watch(client) };
}

/** What a pusher-js connection goes through, and the `error`s it reports, from now on. */
function watch(client: Pusher) {
  const states: string[] = [];
  const errors: Array<{ type?: string; data?: { code?: number }; error?: unknown }> = [];
  client.connection.bind('state_change', ({ current }: { current: string }) => states.push(current));
  client.connection.bind('error', (err: (typeof errors)[number]) => errors.push(err));
  return { states, errors };
}

/** Every `event` on `channel`, in arrival order. */
function collect(channel: Channel, event: string): unknown[] {
  const got: unknown[] = [];
  channel.bind(event, (data: unknown) => got.push(data));
  return got;
}

/**
 * pusher-js reconnects after 0 s ("retry", 4200–4299) or 1 s ("backoff", 4100–4199, and a dropped
 * link after its own 1 s wait); a reconnect shows as `connecting`. A reconnect that does not come
 * cannot be awaited: watch for a little longer than the slowest of them.
 */
const RECONNECT_WATCH_MS = 1_500;

describe('the Pusher HTTP API and webhooks on pusher-js connections, one node', () => {
  let server: RunningServer;
  let app: PusherApp;
  let rx: PusherHookReceiver;

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hubbub-pusher-int-'));
    app = await createPusherApp(dataDir, 'pusherint');
    const port = await freePort();
    rx = await pusherHookReceiver(app, port);
    const config = join(dataDir, 'hubbub.config.json');
    writeFileSync(config, JSON.stringify({ webhooks: [{ app: app.appId, url: `http://127.0.0.1:${port}/pusher/webhooks`, format: 'pusher', key: app.keyName }] }));
    server = await startServer(['--config', config, '--webhook-retry', '100ms', '--webhook-allow-private'], { dataDir });
  });
  afterAll(async () => {
    await cleanup(server);
    await rx?.close();
  });

  const hooks = (name: string, channel: string) => rx.events().filter((e) => e.name === name && e.channel === channel);

  it('terminateUserConnections closes every connection signed in as the user, and pusher-js stays disconnected', async () => {
    const first = await userClient(app, server.port, 'mallory');
    const second = await userClient(app, server.port, 'mallory');
    const other = await userClient(app, server.port, 'dave');
    // Pusher ends only connections that signed in: a presence member of the same user id stays.
    const member = clients.make(app, server.port, { signer: backend(app, server.port), presence: { user_id: 'mallory' } });
    await subscribed(member, 'presence-terminate');

    expect((await backend(app, server.port).terminateUserConnections('mallory')).status).toBe(200);
    await until(() => first.client.connection.state === 'disconnected' && second.client.connection.state === 'disconnected', "mallory's connections closed");
    for (const ended of [first, second]) {
      // 4009, in Pusher's do-not-reconnect class (4000–4099), which pusher-js reads as "refused": it
      // reports the close as a PusherError, then the action it took as a WebSocketError wrapping it.
      expect(ended.errors).toMatchObject([
        { type: 'PusherError', data: { code: 4009, message: 'connections of this user were terminated by the app' } },
        { type: 'WebSocketError', error: { type: 'PusherError', data: { code: 4009 } } },
      ]);
    }
    await new Promise((resolve) => setTimeout(resolve, RECONNECT_WATCH_MS));
    expect(first.states).toEqual(['disconnected']);
    expect(second.states).toEqual(['disconnected']);
    expect(other.client.connection.state).toBe('connected');
    expect(other.states).toEqual([]);
    expect(member.connection.state).toBe('connected');
  });

  it('sendToUser reaches every connection signed in as the user on #server-to-user-{id}, and no one else', async () => {
    const sam = await userClient(app, server.port, 'sam');
    const samAgain = await userClient(app, server.port, 'sam');
    const tom = await userClient(app, server.port, 'tom');
    const got = (c: Pusher) => {
      const events: unknown[] = [];
      c.user.bind('notice', (data: unknown) => events.push(data));
      return events;
    };
    const [forSam, forSamAgain, forTom] = [got(sam.client), got(samAgain.client), got(tom.client)];
    const pusher = backend(app, server.port);
    expect((await pusher.sendToUser('sam', 'notice', { to: 'sam' })).status).toBe(200);
    await pusher.sendToUser('tom', 'notice', { to: 'tom' });
    await until(() => forSam.length === 1 && forSamAgain.length === 1 && forTom.length === 1, 'each user its own notice');
    expect([forSam, forSamAgain, forTom]).toEqual([[{ to: 'sam' }], [{ to: 'sam' }], [{ to: 'tom' }]]);
  });

  it('trigger with the socket_id of a pusher-js connection leaves out exactly that connection', async () => {
    const [a, b, c] = [0, 1, 2].map(() => clients.make(app, server.port));
    const [chA, chB, chC] = await Promise.all([a, b, c].map((p) => subscribed(p, 'news-exclusion')));
    const [gotA, gotB, gotC] = [chA, chB, chC].map((ch) => collect(ch, 'headline'));
    const pusher = backend(app, server.port);
    await pusher.trigger('news-exclusion', 'headline', { n: 1 }, { socket_id: a.connection.socket_id });
    await pusher.trigger('news-exclusion', 'headline', { n: 2 });
    await until(() => gotA.length === 1 && gotB.length === 2 && gotC.length === 2, 'the events, the first one not at A');
    expect(gotA).toEqual([{ n: 2 }]);
    expect(gotB).toEqual([{ n: 1 }, { n: 2 }]);
    expect(gotC).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it('channel reads count pusher-js presence members by user id and subscribers by connection', async () => {
    const pusher = backend(app, server.port);
    const member = (userId: string) => clients.make(app, server.port, { signer: backend(app, server.port), presence: { user_id: userId } });
    const [ann, annAgain, ben] = [member('ann'), member('ann'), member('ben')];
    for (const p of [ann, annAgain, ben]) await subscribed(p, 'presence-x');
    const watcher = clients.make(app, server.port);
    await subscribed(watcher, 'lobby-x');

    const users = await jsonOf(await pusher.get({ path: '/channels/presence-x/users' }));
    expect(users.users.map((u: { id: string }) => u.id).sort()).toEqual(['ann', 'ben']);
    expect(await jsonOf(await pusher.get({ path: '/channels/presence-x', params: { info: 'user_count,subscription_count' } }))).toEqual({
      occupied: true,
      user_count: 2,
      subscription_count: 3,
    });
    expect(await jsonOf(await pusher.get({ path: '/channels/lobby-x', params: { info: 'subscription_count' } }))).toEqual({ occupied: true, subscription_count: 1 });
    const listed = await jsonOf(await pusher.get({ path: '/channels' }));
    expect(Object.keys(listed.channels)).toEqual(expect.arrayContaining(['presence-x', 'lobby-x']));
    expect(await jsonOf(await pusher.get({ path: '/channels', params: { filter_by_prefix: 'presence-x', info: 'user_count' } }))).toEqual({ channels: { 'presence-x': { user_count: 2 } } });
    const triggered = await pusher.trigger('presence-x', 'tick', {}, { info: 'user_count,subscription_count' });
    expect(await jsonOf(triggered)).toEqual({ channels: { 'presence-x': { user_count: 2, subscription_count: 3 } } });

    // One of ann's two connections leaving leaves ann a member; ben leaving removes ben.
    annAgain.disconnect();
    ben.disconnect();
    await until(async () => (await jsonOf(await pusher.get({ path: '/channels/presence-x/users' }))).users.length === 1, 'ben gone from /users');
    expect(await jsonOf(await pusher.get({ path: '/channels/presence-x/users' }))).toEqual({ users: [{ id: 'ann' }] });
    await until(async () => (await jsonOf(await pusher.get({ path: '/channels/presence-x', params: { info: 'subscription_count' } }))).subscription_count === 1, 'one subscriber left');
  });

  it("a pusher-js client event reaches the webhook as client_event with the sender's socket_id, and user_id on presence", async () => {
    const wendy = clients.make(app, server.port, { signer: backend(app, server.port), presence: { user_id: 'wendy' } });
    const room = await subscribed(wendy, 'presence-hooked');
    const socketId = wendy.connection.socket_id;
    room.trigger('client-typing', { typing: true });
    const priv = await subscribed(wendy, 'private-hooked');
    priv.trigger('client-ping', 'plain');
    await until(() => hooks('client_event', 'presence-hooked').length === 1 && hooks('client_event', 'private-hooked').length === 1, 'both client_events');
    expect(hooks('client_event', 'presence-hooked')).toEqual([
      { name: 'client_event', channel: 'presence-hooked', event: 'client-typing', data: '{"typing":true}', socket_id: socketId, user_id: 'wendy' },
    ]);
    // Pusher names the user only on presence channels.
    expect(hooks('client_event', 'private-hooked')).toEqual([{ name: 'client_event', channel: 'private-hooked', event: 'client-ping', data: 'plain', socket_id: socketId }]);
    expect(rx.requests.every((r) => r.valid)).toBe(true);
  });

  it('pusher-js presence members and subscriptions reach the webhook as member_added/removed and channel_occupied/vacated', async () => {
    const xena = clients.make(app, server.port, { signer: backend(app, server.port), presence: { user_id: 'xena' } });
    await subscribed(xena, 'presence-members');
    const reader = clients.make(app, server.port);
    await subscribed(reader, 'public-occupancy');
    await until(() => hooks('member_added', 'presence-members').length === 1 && hooks('channel_occupied', 'public-occupancy').length === 1, 'member_added and channel_occupied');
    xena.disconnect();
    reader.unsubscribe('public-occupancy');
    await until(
      () => hooks('member_removed', 'presence-members').length === 1 && hooks('channel_vacated', 'public-occupancy').length === 1 && hooks('channel_vacated', 'presence-members').length === 1,
      'member_removed and channel_vacated',
    );
    expect(hooks('member_added', 'presence-members')).toEqual([{ name: 'member_added', channel: 'presence-members', user_id: 'xena' }]);
    expect(hooks('member_removed', 'presence-members')).toEqual([{ name: 'member_removed', channel: 'presence-members', user_id: 'xena' }]);
    expect(hooks('channel_occupied', 'presence-members')).toHaveLength(1);
    // As Pusher sends them: the last member leaves, then the channel is vacated.
    const order = rx.events().filter((e) => e.channel === 'presence-members').map((e) => e.name);
    expect(order.indexOf('member_removed')).toBeLessThan(order.indexOf('channel_vacated'));
    expect(rx.requests.every((r) => r.valid)).toBe(true);
  });
});

describe.runIf(redisAvailable())('the Pusher HTTP API on pusher-js connections, two --redis nodes', () => {
  let redis: TestRedis;
  let a: RunningServer;
  let b: RunningServer;
  let app: PusherApp;

  beforeAll(async () => {
    redis = await TestRedis.start();
    // Nodes that share keys share the keys file: one data dir for both.
    const dataDir = mkdtempSync(join(tmpdir(), 'hubbub-pusher-int-redis-'));
    app = await createPusherApp(dataDir, 'pusherint');
    a = await startServer(['--redis', redis.url], { dataDir });
    b = await startServer(['--redis', redis.url], { dataDir });
  });
  afterAll(async () => {
    await Promise.all([a, b].map(cleanup));
    await redis?.stop();
  });

  it("terminateUserConnections on A closes the user's pusher-js connections on A and on B; none reconnects", async () => {
    const onA = await userClient(app, a.port, 'mallory');
    const onB = await userClient(app, b.port, 'mallory');
    const other = await userClient(app, b.port, 'dave');
    expect((await backend(app, a.port).terminateUserConnections('mallory')).status).toBe(200);
    await until(() => onA.client.connection.state === 'disconnected' && onB.client.connection.state === 'disconnected', "mallory's connections on both nodes closed");
    await new Promise((resolve) => setTimeout(resolve, RECONNECT_WATCH_MS));
    expect([onA.states, onB.states]).toEqual([['disconnected'], ['disconnected']]);
    expect(onB.errors[0]).toMatchObject({ type: 'PusherError', data: { code: 4009 } });
    expect(other.client.connection.state).toBe('connected');
  });

  it('sendToUser on A reaches the user signed in on B; a socket_id of a connection on B is left out by a trigger on A', async () => {
    const uma = await userClient(app, b.port, 'uma');
    const gotUser = new Promise((resolve) => uma.client.user.bind('notice', resolve));
    await backend(app, a.port).sendToUser('uma', 'notice', { from: 'A' });
    expect(await gotUser).toEqual({ from: 'A' });

    const [left, kept] = [clients.make(app, b.port), clients.make(app, b.port)];
    const [chLeft, chKept] = await Promise.all([subscribed(left, 'news-across'), subscribed(kept, 'news-across')]);
    const gotLeft = collect(chLeft, 'headline');
    const second = nextEvent(chKept, 'headline');
    const pusher = backend(app, a.port);
    await pusher.trigger('news-across', 'headline', { n: 1 }, { socket_id: left.connection.socket_id });
    expect((await second).data).toEqual({ n: 1 });
    await pusher.trigger('news-across', 'headline', { n: 2 });
    await until(() => gotLeft.length === 1, 'the second event at the excluded connection');
    expect(gotLeft).toEqual([{ n: 2 }]);
  });

  it('/users and user_count on A count pusher-js members on B; subscription_count is per node', async () => {
    const onB = clients.make(app, b.port, { signer: backend(app, b.port), presence: { user_id: 'vic' } });
    await subscribed(onB, 'presence-across');
    const onA = backend(app, a.port);
    expect(await jsonOf(await onA.get({ path: '/channels/presence-across/users' }))).toEqual({ users: [{ id: 'vic' }] });
    expect(await jsonOf(await onA.get({ path: '/channels/presence-across', params: { info: 'user_count,subscription_count' } }))).toEqual({
      occupied: true,
      user_count: 1,
      subscription_count: 0,
    });
    expect(await jsonOf(await backend(app, b.port).get({ path: '/channels/presence-across', params: { info: 'subscription_count' } }))).toEqual({ occupied: true, subscription_count: 1 });
    // GET /channels lists the answering node's channels.
    expect(Object.keys((await jsonOf(await backend(app, b.port).get({ path: '/channels' }))).channels)).toContain('presence-across');
    expect(Object.keys((await jsonOf(await onA.get({ path: '/channels' }))).channels)).not.toContain('presence-across');
  });
});
