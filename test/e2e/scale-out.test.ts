import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Message, PresenceMessage } from '@hubbub/client';
import { cleanup, devtoken, startServer, type RunningServer } from '../support/server.js';
import { client, closeClients } from '../support/clients.js';
import { TestRedis, redisAvailable } from '../support/redis.js';
import { until } from '../support/wait.js';

describe.runIf(redisAvailable())('three nodes on one Redis', () => {
  let redis: TestRedis;
  let nodes: RunningServer[] = [];
  let alice: string;
  let bob: string;
  let carol: string;

  const NODE_TTL = '2s';
  async function node(port?: number): Promise<RunningServer> {
    const dataDir = nodes[0]?.dataDir ?? mkdtempSync(join(tmpdir(), 'hubbub-scale-'));
    return startServer(['--redis', redis.url, '--node-ttl', NODE_TTL], { dataDir, port });
  }

  beforeAll(async () => {
    redis = await TestRedis.start();
    nodes = [];
    for (let i = 0; i < 3; i++) nodes.push(await node());
    [alice, bob, carol] = await Promise.all([devtoken('foony', 'alice'), devtoken('foony', 'bob'), devtoken('foony', 'carol')]);
  });
  afterEach(() => closeClients());
  afterAll(async () => {
    await Promise.all(nodes.map(cleanup));
    await redis?.stop();
  });

  it('delivers a message published on A to subscribers on B and C exactly once, in order', async () => {
    const [a, b, c] = nodes;
    const pub = client(a.url, { token: alice });
    const onB = client(b.url, { token: bob });
    const onC = client(c.url, { token: carol });
    const gotB: Message[] = [];
    const gotC: Message[] = [];
    onB.channels.get('fanout').on((m) => gotB.push(m));
    onC.channels.get('fanout').on((m) => gotC.push(m));
    await Promise.all([onB.channels.get('fanout').attach(), onC.channels.get('fanout').attach()]);
    await Promise.all(Array.from({ length: 100 }, (_, i) => pub.channels.get('fanout').publish('n', i)));
    await until(() => gotB.length >= 100 && gotC.length >= 100, '100 at B and C');
    const expected = Array.from({ length: 100 }, (_, i) => i);
    expect(gotB.map((m) => m.data)).toEqual(expected);
    expect(gotC.map((m) => m.data)).toEqual(expected);
    expect(gotB.map((m) => m.serial)).toEqual(expected.map((i) => i + 1));
  });

  it('collapses a resend of the same messageId on another node', async () => {
    const [a, b] = nodes;
    const { RawClient } = await import('../support/clients.js');
    const sub = client(b.url, { token: bob });
    const got: Message[] = [];
    sub.channels.get('dedup-x').on((m) => got.push(m));
    await sub.channels.get('dedup-x').attach();
    const onA = await RawClient.connect(a.url);
    const onB = await RawClient.connect(b.url);
    await onA.auth(alice);
    await onB.auth(alice);
    const frame = { t: 'pub', channel: 'dedup-x', name: 'once', data: 1, messageId: 'same-id' };
    onA.send({ ...frame, id: 1 });
    expect(await onA.reply(1)).toMatchObject({ t: 'ack', seq: 1 });
    onB.send({ ...frame, id: 1 });
    expect(await onB.reply(1)).toMatchObject({ t: 'ack', seq: 1, duplicate: true });
    onB.send({ ...frame, id: 2, messageId: 'other-id' });
    await onB.reply(2);
    await until(() => got.length === 2, 'two distinct messages');
    expect(got.map((m) => m.id)).toEqual(['same-id', 'other-id']);
    onA.close();
    onB.close();
  });

  it('shares presence: one member through two nodes, leaving when its last connection goes', async () => {
    const [a, b, c] = nodes;
    const watcher = client(c.url, { token: carol });
    const events: PresenceMessage[] = [];
    watcher.channels.get('room:shared').presence.on((p) => events.push(p));
    await watcher.channels.get('room:shared').presence.get();
    const viaA = client(a.url, { token: alice });
    const viaB = client(b.url, { token: alice });
    await viaA.channels.get('room:shared').presence.enter({ where: 'x' });
    await viaB.channels.get('room:shared').presence.enter({ where: 'x' });
    await until(() => events.length === 1, 'one enter');
    expect(await watcher.channels.get('room:shared').presence.get()).toHaveLength(1);
    viaA.close();
    await viaB.channels.get('room:shared').publish('still-here', 1);
    await until(async () => (await watcher.channels.get('room:shared').presence.get()).length === 1, 'still one member');
    expect(events.map((e) => e.action)).toEqual(['enter']);
    viaB.close();
    await until(() => events.length === 2, 'the leave');
    expect(events.map((e) => [e.action, e.clientId])).toEqual([
      ['enter', 'alice'],
      ['leave', 'alice'],
    ]);
  });

  it('recovers the messages a client missed while moving from B to C, with no gap and no duplicate', async () => {
    const [a, b, c] = nodes;
    const pub = client(a.url, { token: alice });
    // One Realtime whose endpoint is switched: the way a load balancer moves a client.
    const mover = client(b.url, { token: bob, reconnectDelayMs: 300 });
    const got: Message[] = [];
    mover.channels.get('move').on((m) => got.push(m));
    await mover.channels.get('move').attach();
    for (let i = 1; i <= 5; i++) await pub.channels.get('move').publish('n', i);
    await until(() => got.length === 5, 'five on B');
    (mover.conn as unknown as { options: { endpoint: string } }).options.endpoint = c.url;
    const socket = (mover.conn as unknown as { socket: { _socket: { destroy(): void } } }).socket;
    socket._socket.destroy();
    await until(() => mover.connection.state !== 'connected', 'dropped from B');
    for (let i = 6; i <= 12; i++) await pub.channels.get('move').publish('n', i);
    await mover.connection.once('connected');
    await pub.channels.get('move').publish('n', 13);
    await until(() => got.length >= 13, 'all on C');
    expect(got.map((m) => m.data)).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
  });

  it('makes the members of a node killed with SIGKILL leave on the others within the TTL', async () => {
    const [a, b, c] = nodes;
    const watchA = client(a.url, { token: alice });
    const watchC = client(c.url, { token: carol });
    const leftA: string[] = [];
    const leftC: string[] = [];
    watchA.channels.get('room:ttl').presence.on('leave', (p) => leftA.push(p.clientId));
    watchC.channels.get('room:ttl').presence.on('leave', (p) => leftC.push(p.clientId));
    await Promise.all([watchA.channels.get('room:ttl').presence.get(), watchC.channels.get('room:ttl').presence.get()]);
    const onB = client(b.url, { token: bob, autoReconnect: false });
    await onB.channels.get('room:ttl').presence.enter();
    await until(async () => (await watchA.channels.get('room:ttl').presence.get()).length === 1, 'bob present');

    const killedAt = Date.now();
    await b.stop('SIGKILL');
    await until(() => leftA.includes('bob') && leftC.includes('bob'), 'bob leaves on A and C', 10_000);
    expect(Date.now() - killedAt).toBeLessThan(2000 + 2000);
    nodes[1] = await node();
  });

  it('keeps serving through a Redis kill and restart: what was acked is delivered', async () => {
    const [a, b, c] = nodes;
    const pub = client(a.url, { token: alice });
    const onB = client(b.url, { token: bob });
    const onC = client(c.url, { token: carol });
    const gotB = new Set<unknown>();
    const gotC = new Set<unknown>();
    onB.channels.get('outage').on((m) => gotB.add(m.data));
    onC.channels.get('outage').on((m) => gotC.add(m.data));
    await Promise.all([onB.channels.get('outage').attach(), onC.channels.get('outage').attach()]);

    const acked: number[] = [];
    const failed: number[] = [];
    let sent = 0;
    let stop = false;
    const traffic = (async () => {
      while (!stop) {
        const n = sent++;
        await pub.channels.get('outage').publish('n', n).then(
          () => acked.push(n),
          (err) => failed.push(err.code),
        );
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await until(() => acked.length >= 20, 'traffic flowing');
    await redis.kill();
    await until(() => failed.length >= 3, 'publishes failing during the outage');
    expect(new Set(failed)).toEqual(new Set([50001]));
    await redis.restart();
    const before = acked.length;
    await until(() => acked.length >= before + 20, 'traffic again after the restart', 15_000);
    stop = true;
    await traffic;
    await until(() => acked.every((n) => gotB.has(n) && gotC.has(n)), 'every acked message at B and C', 10_000);
    expect(pub.connection.state).toBe('connected');
  });
});
