/**
 * Several nodes of one deployment through the real sessions and router, driven by the SDK over real
 * sockets: a message across nodes, presence across nodes, a client moving nodes and resuming, a node
 * drained. The same cases run on three in-process nodes sharing an `EngineBus` (no redis-server needed)
 * and again on three nodes sharing a test redis-server.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Message, PresenceMessage } from '@hubbub/client';
import type { Engine } from '../../packages/server/src/core/engine.js';
import { BusEngine, EngineBus } from '../../packages/server/src/engine/bus.js';
import { RedisEngine } from '../../packages/server/src/engine/redis.js';
import { cleanup, devtoken, startServer, type InProcessServer } from '../support/in-process.js';
import { client, closeClients } from '../support/clients.js';
import { TestRedis, redisAvailable } from '../support/redis.js';
import { until } from '../support/wait.js';

const APP = 'multi';

/** An engine for one more node of the deployment. */
type NodeEngine = () => Engine;

function multiNode(name: string, setup: () => Promise<{ engine: NodeEngine; stop(): Promise<void> }>) {
  describe(`three nodes on ${name}`, () => {
    let nodes: InProcessServer[] = [];
    /** Every node started, drained ones too, for their data dirs. */
    const started: InProcessServer[] = [];
    let engine: NodeEngine;
    let stopWorld: () => Promise<void>;

    async function start(): Promise<InProcessServer> {
      const node = await startServer({ engine: engine() });
      started.push(node);
      return node;
    }
    const token = (clientId: string) => devtoken(APP, clientId);

    beforeAll(async () => {
      ({ engine, stop: stopWorld } = await setup());
      nodes = [await start(), await start(), await start()];
    });
    afterEach(() => closeClients());
    afterAll(async () => {
      await Promise.all(started.map(cleanup));
      await stopWorld?.();
    });

    it('delivers a message published on A to subscribers on B and C exactly once, in order', async () => {
      const [a, b, c] = nodes;
      const pub = client(a.url, { token: await token('alice') });
      const onB = client(b.url, { token: await token('bob') });
      const onC = client(c.url, { token: await token('carol') });
      const gotB: Message[] = [];
      const gotC: Message[] = [];
      onB.channels.get('fanout').on((m) => gotB.push(m));
      onC.channels.get('fanout').on((m) => gotC.push(m));
      await Promise.all([onB.channels.get('fanout').attach(), onC.channels.get('fanout').attach()]);
      // Within the publish burst (100), with a last one to show nothing comes twice.
      await Promise.all(Array.from({ length: 80 }, (_, i) => pub.channels.get('fanout').publish('n', i)));
      await pub.channels.get('fanout').publish('last', 'marker');
      await until(() => gotB.length >= 81 && gotC.length >= 81, '81 at B and C');
      const expected = [...Array.from({ length: 80 }, (_, i) => i), 'marker'];
      expect(gotB.map((m) => m.data)).toEqual(expected);
      expect(gotC.map((m) => m.data)).toEqual(expected);
      expect(gotB.map((m) => m.serial)).toEqual(expected.map((_, i) => i + 1));
    });

    it('shares presence: a member entered on A is seen on B and C, one member through two nodes', async () => {
      const [a, b, c] = nodes;
      const alice = await token('alice');
      const watchB = client(b.url, { token: await token('bob') });
      const watchC = client(c.url, { token: await token('carol') });
      const seenB: PresenceMessage[] = [];
      const seenC: PresenceMessage[] = [];
      watchB.channels.get('room').presence.on((p) => seenB.push(p));
      watchC.channels.get('room').presence.on((p) => seenC.push(p));
      await Promise.all([watchB.channels.get('room').presence.get(), watchC.channels.get('room').presence.get()]);

      const viaA = client(a.url, { token: alice });
      const viaC = client(c.url, { token: alice });
      await viaA.channels.get('room').presence.enter({ where: 'a' });
      await until(() => seenB.length === 1 && seenC.length === 1, 'the enter on B and C');
      expect(seenB.map((p) => [p.action, p.clientId, p.data])).toEqual([['enter', 'alice', { where: 'a' }]]);
      expect((await watchC.channels.get('room').presence.get()).map((m) => m.clientId)).toEqual(['alice']);

      // Her second connection, through another node, with other data: an update, still one member.
      await viaC.channels.get('room').presence.enter({ where: 'c' });
      await until(() => seenB.length === 2, 'the update on B');
      expect(seenB[1]).toMatchObject({ action: 'update', clientId: 'alice', data: { where: 'c' } });
      viaC.close();
      await until(() => seenB.length === 3, 'back to her first connection');
      expect(seenB[2]).toMatchObject({ action: 'update', clientId: 'alice', data: { where: 'a' } });
      expect(await watchB.channels.get('room').presence.get()).toHaveLength(1);
      viaA.close();
      await until(() => seenB.length === 4 && seenC.length === 4, 'the leave on B and C');
      expect(seenC.map((p) => p.action)).toEqual(['enter', 'update', 'update', 'leave']);
      expect(await watchB.channels.get('room').presence.get()).toEqual([]);
    });

    it('recovers the messages a client missed while moving from B to C, with no gap and no duplicate', async () => {
      const [a, b, c] = nodes;
      const pub = client(a.url, { token: await token('alice') });
      // One Realtime whose endpoint is switched: the way a load balancer moves a client.
      const mover = client(b.url, { token: await token('bob'), reconnectDelayMs: 300 });
      const got: Message[] = [];
      mover.channels.get('move').on((m) => got.push(m));
      await mover.channels.get('move').attach();
      for (let i = 1; i <= 5; i++) await pub.channels.get('move').publish('n', i);
      await until(() => got.length === 5, 'five on B');
      const connectionId = mover.connection.id;
      (mover.conn as unknown as { options: { endpoint: string } }).options.endpoint = c.url;
      (mover.conn as unknown as { socket: { _socket: { destroy(): void } } }).socket._socket.destroy();
      await until(() => mover.connection.state !== 'connected', 'dropped from B');
      for (let i = 6; i <= 12; i++) await pub.channels.get('move').publish('n', i);
      await mover.connection.once('connected');
      await pub.channels.get('move').publish('n', 13);
      await until(() => got.length >= 13, 'all on C');
      expect(got.map((m) => m.data)).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
      expect(got.map((m) => m.serial)).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
      // The same connection, resumed on another node.
      expect(mover.connection.id).toBe(connectionId);
    });

    it("a drained node's members leave for watchers on the other nodes, and a new node joins the deployment", async () => {
      const [a, b] = nodes;
      const watchA = client(a.url, { token: await token('alice') });
      const left: string[] = [];
      watchA.channels.get('room:drain').presence.on('leave', (p) => left.push(p.clientId));
      await watchA.channels.get('room:drain').presence.get();
      const onB = client(b.url, { token: await token('dave'), autoReconnect: false });
      await onB.channels.get('room:drain').presence.enter();
      await until(async () => (await watchA.channels.get('room:drain').presence.get()).length === 1, 'dave present');

      await b.stop();
      await until(() => left.includes('dave'), 'dave leaves on A');
      expect(await watchA.channels.get('room:drain').presence.get()).toEqual([]);

      nodes[1] = await start();
      const pub = client(nodes[1].url, { token: await token('erin') });
      const got: Message[] = [];
      watchA.channels.get('room:drain').on((m) => got.push(m));
      await watchA.channels.get('room:drain').attach();
      await pub.channels.get('room:drain').publish('hello', 'from the new node');
      await until(() => got.length === 1, 'the new node is part of the deployment');
      expect(got[0].data).toBe('from the new node');
    });
  });
}

multiNode('an in-process EngineBus', async () => {
  const bus = new EngineBus();
  return { engine: () => new BusEngine(bus), stop: async () => {} };
});

if (!redisAvailable()) describe.skip('three nodes on a test redis-server: SKIPPED, redis-server not found', () => it('every case', () => {}));
else {
  multiNode('a test redis-server', async () => {
    const redis = await TestRedis.start();
    return { engine: () => new RedisEngine({ url: redis.url }), stop: () => redis.stop() };
  });
}
