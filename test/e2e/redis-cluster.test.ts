/**
 * Three `hubbub serve --redis redis+cluster://…` processes on a Redis Cluster the test starts (3 masters,
 * 3 replicas): channels on every shard, fan-out through sharded pub/sub, presence, recovery, and a master
 * failover under traffic.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AttachedEvent, Message, PresenceMessage, Realtime } from '@hubbub/client';
import { cleanup, devtoken, startServer, type RunningServer } from '../support/server.js';
import { client, closeClients } from '../support/clients.js';
import { TestRedisCluster, redisClusterAvailable } from '../support/redis-cluster.js';
import { until } from '../support/wait.js';

const APP = 'foony';
/** The shard channel a Hubbub channel fans out on (engine/redis-keys.ts, default prefix). */
const shardChannel = (channel: string) => `hubbub:{${APP}/${channel}}:ps`;

describe.runIf(redisClusterAvailable())('three nodes on a Redis Cluster', () => {
  let cluster: TestRedisCluster;
  let nodes: RunningServer[] = [];
  let alice: string;
  let bob: string;
  let carol: string;

  const NODE_TTL = '2s';
  async function node(): Promise<RunningServer> {
    const dataDir = nodes[0]?.dataDir ?? mkdtempSync(join(tmpdir(), 'hubbub-cluster-'));
    // One publisher drives every shard's channels here: past the default per-connection rate.
    return startServer(['--redis', cluster.url, '--node-ttl', NODE_TTL, '--publish-rate', '2000'], { dataDir });
  }

  /** One channel name per master, `base-N`, with the master serving it. */
  async function channelPerShard(base: string): Promise<Array<{ channel: string; master: number }>> {
    const byMaster = new Map<number, string>();
    for (let i = 0; byMaster.size < 3; i++) {
      const channel = `${base}-${i}`;
      const master = await cluster.masterOfSlot(await cluster.keyslot(shardChannel(channel)));
      if (!byMaster.has(master)) byMaster.set(master, channel);
    }
    return [...byMaster].map(([master, channel]) => ({ channel, master }));
  }

  beforeAll(async () => {
    cluster = await TestRedisCluster.start();
    nodes = await Promise.all([node(), node(), node()]);
    [alice, bob, carol] = await Promise.all([devtoken(APP, 'alice'), devtoken(APP, 'bob'), devtoken(APP, 'carol')]);
  }, 40_000);
  afterEach(() => closeClients());
  afterAll(async () => {
    await Promise.all(nodes.map(cleanup));
    await cluster?.stop();
  });

  it('fans out channels on all three shards through sharded pub/sub: exactly once, in order, each on its own shard', async () => {
    const [a, b, c] = nodes;
    const spread = await channelPerShard('spread');
    expect(new Set(spread.map((s) => s.master)).size).toBe(3);
    const pub = client(a.url, { token: alice });
    const onB = client(b.url, { token: bob });
    const onC = client(c.url, { token: carol });
    const got = new Map<string, { b: Message[]; c: Message[] }>();
    for (const { channel } of spread) {
      const box = { b: [] as Message[], c: [] as Message[] };
      got.set(channel, box);
      onB.channels.get(channel).on((m) => box.b.push(m));
      onC.channels.get(channel).on((m) => box.c.push(m));
    }
    await Promise.all(spread.flatMap(({ channel }) => [onB.channels.get(channel).attach(), onC.channels.get(channel).attach()]));

    // Each master carries the shard channels of its own slots only, and nothing rides classic pub/sub.
    for (const { channel, master } of spread) {
      const here = (await cluster.command(master, 'PUBSUB', 'SHARDCHANNELS', 'hubbub:*')) as string[];
      expect(here).toContain(shardChannel(channel));
      for (const other of spread.filter((s) => s.master !== master)) expect(here).not.toContain(shardChannel(other.channel));
      expect(await cluster.command(master, 'PUBSUB', 'CHANNELS', '*')).toEqual([]);
    }

    await Promise.all(spread.flatMap(({ channel }) => Array.from({ length: 50 }, (_, i) => pub.channels.get(channel).publish('n', i))));
    await until(() => [...got.values()].every((box) => box.b.length >= 50 && box.c.length >= 50), '50 per channel at B and C');
    const expected = Array.from({ length: 50 }, (_, i) => i);
    for (const box of got.values()) {
      expect(box.b.map((m) => m.data)).toEqual(expected);
      expect(box.c.map((m) => m.data)).toEqual(expected);
      expect(box.b.map((m) => m.serial)).toEqual(expected.map((i) => i + 1));
    }
  });

  it('shares presence across nodes on every shard; a SIGKILLed node’s members leave within the TTL', async () => {
    const [a, b, c] = nodes;
    const rooms = (await channelPerShard('room:p')).map((s) => s.channel);
    const watcher = client(c.url, { token: carol });
    const events = new Map<string, PresenceMessage[]>(rooms.map((r) => [r, []]));
    for (const room of rooms) watcher.channels.get(room).presence.on((p) => events.get(room)!.push(p));
    await Promise.all(rooms.map((room) => watcher.channels.get(room).presence.get()));
    const viaA = client(a.url, { token: alice });
    const viaB = client(b.url, { token: bob, autoReconnect: false });
    for (const room of rooms) {
      await viaA.channels.get(room).presence.enter({ via: 'a' });
      await viaB.channels.get(room).presence.enter({ via: 'b' });
    }
    await until(() => rooms.every((r) => events.get(r)!.length === 2), 'two enters per room at C');
    for (const room of rooms) expect((await watcher.channels.get(room).presence.get()).map((m) => m.clientId).sort()).toEqual(['alice', 'bob']);

    const killedAt = Date.now();
    await b.stop('SIGKILL');
    await until(() => rooms.every((r) => events.get(r)!.some((e) => e.action === 'leave' && e.clientId === 'bob')), 'bob leaves every room at C', 10_000);
    expect(Date.now() - killedAt).toBeLessThan(2000 + 2000);
    for (const room of rooms) expect((await watcher.channels.get(room).presence.get()).map((m) => m.clientId)).toEqual(['alice']);
    nodes[1] = await node();
  });

  it('recovers what a client missed while moving from B to C, on every shard, with no gap and no duplicate', async () => {
    const [a, b, c] = nodes;
    const channels = (await channelPerShard('move')).map((s) => s.channel);
    const pub = client(a.url, { token: alice });
    const mover = client(b.url, { token: bob, reconnectDelayMs: 300 });
    const got = new Map<string, unknown[]>(channels.map((ch) => [ch, []]));
    for (const ch of channels) mover.channels.get(ch).on((m) => got.get(ch)!.push(m.data));
    await Promise.all(channels.map((ch) => mover.channels.get(ch).attach()));
    for (let i = 1; i <= 5; i++) for (const ch of channels) await pub.channels.get(ch).publish('n', i);
    await until(() => channels.every((ch) => got.get(ch)!.length === 5), 'five per channel on B');
    moveTo(mover, c.url);
    await until(() => mover.connection.state !== 'connected', 'dropped from B');
    for (let i = 6; i <= 12; i++) for (const ch of channels) await pub.channels.get(ch).publish('n', i);
    await mover.connection.once('connected');
    for (const ch of channels) await pub.channels.get(ch).publish('n', 13);
    await until(() => channels.every((ch) => got.get(ch)!.length >= 13), 'all on C');
    for (const ch of channels) expect(got.get(ch)).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
  });

  it('loses no acknowledged message through a master failover under traffic; subscribers recover by serial', async () => {
    const [a, b, c] = nodes;
    const spread = await channelPerShard('failover');
    const victim = spread[0];
    const pub = client(a.url, { token: alice });
    const stays = client(b.url, { token: bob });
    // Moved to another node in the middle of the failover: its recovery is by serial, from its cursor.
    const mover = client(c.url, { token: carol, reconnectDelayMs: 200 });
    const seen = new Map<string, { stays: Message[]; mover: Message[]; discontinuities: number }>();
    for (const { channel } of spread) {
      const box = { stays: [] as Message[], mover: [] as Message[], discontinuities: 0 };
      seen.set(channel, box);
      stays.channels.get(channel).on((m) => box.stays.push(m));
      mover.channels.get(channel).on((m) => box.mover.push(m));
      mover.channels.get(channel).onAttached((e: AttachedEvent) => void (e.discontinuity && box.discontinuities++));
    }
    await Promise.all(spread.flatMap(({ channel }) => [stays.channels.get(channel).attach(), mover.channels.get(channel).attach()]));

    const acked = new Map<string, number[]>(spread.map((s) => [s.channel, []]));
    const failures: unknown[] = [];
    let stop = false;
    const traffic = spread.map(async ({ channel }) => {
      for (let n = 0; !stop; n++) {
        await pub.channels.get(channel).publish('n', n).then(
          () => acked.get(channel)!.push(n),
          (err: { code?: number }) => failures.push(err.code),
        );
        await new Promise((r) => setTimeout(r, 10));
      }
    });
    const ackedOnVictim = () => acked.get(victim.channel)!.length;
    await until(() => ackedOnVictim() >= 20, 'traffic flowing');

    const promoted = await cluster.replicaOf(victim.master);
    await cluster.failover(promoted);
    moveTo(mover, b.url);
    await cluster.kill(victim.master);
    await cluster.waitHealthy();
    expect(await cluster.masterOfSlot(await cluster.keyslot(shardChannel(victim.channel)))).toBe(promoted);
    // The nodes' subscriptions moved to the promoted master (ioredis's sharded subscribers).
    await until(async () => ((await cluster.command(promoted, 'PUBSUB', 'SHARDCHANNELS', shardChannel(victim.channel))) as string[]).length === 1, 'subscribed on the promoted master');
    const before = ackedOnVictim();
    await until(() => ackedOnVictim() >= before + 30, 'traffic acked again on the promoted master', 15_000);
    stop = true;
    await Promise.all(traffic);

    for (const [channel, box] of seen) {
      const ackedHere = acked.get(channel)!;
      await until(() => ackedHere.every((n) => box.stays.some((m) => m.data === n) && box.mover.some((m) => m.data === n)), `every acked message of ${channel} at both subscribers`, 10_000);
      for (const got of [box.stays, box.mover]) {
        const serials = got.map((m) => m.serial!);
        // No duplicate, in order, no gap: the serials run 1, 2, 3, … (a publish that failed may still
        // have been stored; then it is delivered too, in its place).
        expect(serials).toEqual(Array.from({ length: serials.length }, (_, i) => i + 1));
      }
      expect(box.discontinuities).toBe(0);
    }
    expect(failures.filter((code) => code !== 50001)).toEqual([]);
    console.log(`failover: ${[...acked.values()].map((l) => l.length).join('/')} acked per shard, ${failures.length} refused (50001) while the shard moved`);
    expect(pub.connection.state).toBe('connected');
  }, 45_000);
});

/** Point a Realtime at another node and cut its socket: the way a load balancer moves a client. */
function moveTo(realtime: Realtime, url: string): void {
  (realtime.conn as unknown as { options: { endpoint: string } }).options.endpoint = url;
  (realtime.conn as unknown as { socket: { _socket: { destroy(): void } } }).socket._socket.destroy();
}
