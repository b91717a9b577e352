/**
 * One channel space across protocols, restarts and nodes: pusher-js and Hubbub's SDK on the same
 * channels of a real `hubbub serve`; pusher-js back after the server restarts; two `--redis` nodes
 * with a pusher-js client on each.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '@hubbub/client';
import { client as hubbub, closeClients } from '../../support/clients.js';
import { PusherClients, backend, createPusherApp, nextEvent, startPusherServer, subscribed, until, type PusherApp } from '../../support/pusher.js';
import { TestRedis, redisAvailable } from '../../support/redis.js';
import { cleanup, startServer, type RunningServer } from '../../support/server.js';

const clients = new PusherClients();
afterEach(() => {
  clients.closeAll();
  closeClients();
});

describe('Pusher and Hubbub SDK on one channel', () => {
  let server: RunningServer;
  let app: PusherApp;
  beforeAll(async () => {
    ({ server, app } = await startPusherServer());
  });
  afterAll(() => cleanup(server));

  it('a client event reaches Hubbub SDK subscribers, with the event name as the message name', async () => {
    const rt = hubbub(server.url, { key: app.hubbubKey, clientId: 'backend' });
    const ch = rt.channels.get('presence-desk');
    const got = new Promise<Message>((resolve) => ch.on('client-ping', resolve));
    await ch.attach();
    const pusher = clients.make(app, server.port, { signer: backend(app, server.port), presence: { user_id: 'pat' } });
    const room = await subscribed(pusher, 'presence-desk');
    room.trigger('client-ping', { n: 1 });
    const m = await got;
    expect(m.name).toBe('client-ping');
    expect(m.data).toEqual({ n: 1 });
    expect(m.clientId).toBe('pat');
  });

  it('Hubbub SDK sees a presence- channel’s Pusher members: client id = user_id, data = user_info', async () => {
    const pusher = clients.make(app, server.port, { signer: backend(app, server.port), presence: { user_id: 'quinn', user_info: { role: 'admin' } } });
    const rt = hubbub(server.url, { key: app.hubbubKey, clientId: 'observer' });
    const presence = rt.channels.get('presence-ops').presence;
    const entered = new Promise<{ clientId: string; data?: unknown }>((resolve) => presence.on('enter', resolve));
    await presence.get();
    await subscribed(pusher, 'presence-ops');
    expect(await entered).toMatchObject({ clientId: 'quinn', data: { role: 'admin' } });
    const members = await presence.get();
    expect(members.map((m) => m.clientId)).toContain('quinn');
  });

  it('a Hubbub SDK member shows in pusher-js’s member list, and its arrival as member_added', async () => {
    const pusher = clients.make(app, server.port, { signer: backend(app, server.port), presence: { user_id: 'rae' } });
    const room = await subscribed(pusher, 'presence-mixed');
    const added = new Promise<{ id: string; info: unknown }>((resolve) => room.bind('pusher:member_added', resolve));
    const rt = hubbub(server.url, { key: app.hubbubKey, clientId: 'sdk-user' });
    await rt.channels.get('presence-mixed').presence.enter({ via: 'hubbub' });
    expect(await added).toEqual({ id: 'sdk-user', info: { via: 'hubbub' } });
  });
});

describe('pusher-js after a server restart', () => {
  let server: RunningServer;
  let app: PusherApp;
  afterAll(() => cleanup(server));

  it('reconnects by itself, with a new socket id, and is subscribed again', async () => {
    ({ server, app } = await startPusherServer());
    const pusher = clients.make(app, server.port);
    const channel = await subscribed(pusher, 'alerts');
    const before = pusher.connection.socket_id;
    const port = server.port;
    await server.stop();
    server = await startServer([], { port, dataDir: server.dataDir });
    await until(() => pusher.connection.state === 'connected' && pusher.connection.socket_id !== before, 'reconnected', 20_000);
    await until(() => channel.subscribed, 'subscribed again', 20_000);
    const got = nextEvent(channel, 'alert');
    // Resubscription may still be in flight on the server: publish until it arrives.
    const rt = hubbub(server.url, { key: app.hubbubKey });
    const refused: unknown[] = [];
    const timer = setInterval(() => rt.channels.get('alerts').publish('alert', 'up again').catch((err) => refused.push(err)), 200);
    try {
      expect((await got).data).toBe('up again');
    } finally {
      clearInterval(timer);
    }
  }, 60_000);
});

describe.runIf(redisAvailable())('two hubbub serve --redis nodes', () => {
  let redis: TestRedis;
  let nodes: RunningServer[] = [];
  let app: PusherApp;
  beforeAll(async () => {
    redis = await TestRedis.start();
    const dataDir = mkdtempSync(join(tmpdir(), 'hubbub-pusher-redis-'));
    app = await createPusherApp(dataDir);
    nodes = [await startServer(['--redis', redis.url], { dataDir }), await startServer(['--redis', redis.url], { dataDir })];
  });
  afterAll(async () => {
    for (const node of nodes) await node.stop('SIGKILL');
    await redis?.stop();
  });

  it('client events and presence cross nodes; a user on both nodes is one member', async () => {
    const [a, b] = nodes;
    const onA = clients.make(app, a.port, { signer: backend(app, a.port), presence: { user_id: 'ivy' } });
    const roomA = await subscribed(onA, 'presence-global');
    const added: string[] = [];
    const removed: string[] = [];
    roomA.bind('pusher:member_added', (m: { id: string }) => added.push(m.id));
    roomA.bind('pusher:member_removed', (m: { id: string }) => removed.push(m.id));

    const onB = clients.make(app, b.port, { signer: backend(app, b.port), presence: { user_id: 'jon' } });
    const roomB = await subscribed(onB, 'presence-global');
    expect((roomB as unknown as { members: { count: number } }).members.count).toBe(2);
    await until(() => added.includes('jon'), 'member_added across nodes');

    const got = nextEvent(roomA, 'client-hello');
    roomB.trigger('client-hello', { from: 'b' });
    expect(await got).toMatchObject({ data: { from: 'b' }, metadata: { user_id: 'jon' } });

    // jon on node A too: no second member_added; leaving node B alone removes nobody.
    const jonOnA = clients.make(app, a.port, { signer: backend(app, a.port), presence: { user_id: 'jon' } });
    await subscribed(jonOnA, 'presence-global');
    onB.disconnect();
    const marker = clients.make(app, b.port, { signer: backend(app, b.port), presence: { user_id: 'kim' } });
    await subscribed(marker, 'presence-global');
    await until(() => added.includes('kim'), 'marker member');
    expect(added.filter((id) => id === 'jon')).toHaveLength(1);
    expect(removed).not.toContain('jon');
    jonOnA.disconnect();
    await until(() => removed.includes('jon'), 'member_removed after the last connection, across nodes');
  });
});
