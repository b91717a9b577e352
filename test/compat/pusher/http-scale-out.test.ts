/**
 * The Pusher HTTP API on two `hubbub serve --redis` nodes: a trigger, presence reads and
 * terminate_connections made on one node reach the connections held by the other.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '@hubbub/client';
import { cleanup, devtoken, startServer, type RunningServer } from '../../support/server.js';
import { client, closeClients } from '../../support/clients.js';
import { TestRedis, redisAvailable } from '../../support/redis.js';
import { until } from '../../support/wait.js';
import { backend, createPusherApp, jsonOf, type PusherApp } from '../../support/pusher.js';

const APP = 'pusherscale';

describe.runIf(redisAvailable())('the Pusher HTTP API across two nodes on one Redis', () => {
  let redis: TestRedis;
  let a: RunningServer;
  let b: RunningServer;
  let creds: PusherApp;

  beforeAll(async () => {
    redis = await TestRedis.start();
    // Nodes that share keys share the keys file (service/revocation.ts): one data dir for both.
    const dataDir = mkdtempSync(join(tmpdir(), 'hubbub-pusher-scale-'));
    creds = await createPusherApp(dataDir, APP);
    a = await startServer(['--redis', redis.url], { dataDir });
    b = await startServer(['--redis', redis.url], { dataDir });
  });
  afterEach(() => closeClients());
  afterAll(async () => {
    await Promise.all([a, b].map(cleanup));
    await redis?.stop();
  });

  it('a trigger on A reaches a Hubbub subscriber on B', async () => {
    const rt = client(b.url, { token: await devtoken(APP, 'alice') });
    const got: Message[] = [];
    rt.channels.get('across').on((m) => got.push(m));
    await rt.channels.get('across').attach();
    await backend(creds, a.port).trigger('across', 'moved', { to: 'B' });
    await until(() => got.length === 1, 'the event on B');
    expect([got[0].name, got[0].data]).toEqual(['moved', { to: 'B' }]);
  });

  it('/users and user_count on A count presence members held on B', async () => {
    const rt = client(b.url, { token: await devtoken(APP, 'bob') });
    await rt.channels.get('presence-across').presence.enter({});
    const pusher = backend(creds, a.port);
    expect(await jsonOf(await pusher.get({ path: '/channels/presence-across/users' }))).toEqual({ users: [{ id: 'bob' }] });
    expect(await jsonOf(await pusher.get({ path: '/channels/presence-across', params: { info: 'user_count' } }))).toEqual({ occupied: true, user_count: 1 });
  });

  it('subscription_count is the answering node own: a subscriber on B is not counted on A (documented limit)', async () => {
    const rt = client(b.url, { token: await devtoken(APP, 'carol') });
    await rt.channels.get('counted').attach();
    expect(await jsonOf(await backend(creds, b.port).get({ path: '/channels/counted', params: { info: 'subscription_count' } }))).toEqual({ occupied: true, subscription_count: 1 });
    expect(await jsonOf(await backend(creds, a.port).get({ path: '/channels/counted', params: { info: 'subscription_count' } }))).toEqual({ occupied: false, subscription_count: 0 });
  });

  it('terminate_connections on A closes the user connections on A and on B, and no one else', async () => {
    const mallory = await devtoken(APP, 'mallory');
    const onA = client(a.url, { token: mallory });
    const onB = client(b.url, { token: mallory });
    const bystander = client(b.url, { token: await devtoken(APP, 'dave') });
    await Promise.all([onA, onB, bystander].map((rt) => rt.connection.once('connected')));
    expect((await backend(creds, a.port).terminateUserConnections('mallory')).status).toBe(200);
    await until(() => onA.connection.state !== 'connected' && onB.connection.state !== 'connected', "mallory's connections on both nodes closed");
    expect(bystander.connection.state).toBe('connected');
  });
});
