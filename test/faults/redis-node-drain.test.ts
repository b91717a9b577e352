/**
 * A node stopped on purpose (SIGTERM) lets go of its presence before it goes, and the other nodes'
 * clients are told at once: not after the dead-node TTL, and not never.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PresenceMessage } from '@hubbub/client';
import { cleanup, devtoken, startServer, type RunningServer } from '../support/server.js';
import { client, closeClients } from '../support/clients.js';
import { TestRedis, redisAvailable } from '../support/redis.js';
import { until } from '../support/wait.js';

describe.runIf(redisAvailable())('a Redis node drained with SIGTERM', () => {
  let redis: TestRedis;
  let a: RunningServer;
  let b: RunningServer;

  beforeAll(async () => {
    redis = await TestRedis.start();
    const dataDir = mkdtempSync(join(tmpdir(), 'hubbub-drain-'));
    // A long node TTL: only the drain itself can tell the other node in time.
    a = await startServer(['--redis', redis.url, '--node-ttl', '60s'], { dataDir });
    b = await startServer(['--redis', redis.url, '--node-ttl', '60s'], { dataDir });
  });
  afterAll(async () => {
    closeClients();
    await cleanup(a);
    await cleanup(b);
    await redis?.stop();
  });

  it("tells the other node's clients that its members left, within seconds", async () => {
    const [bob, carol] = await Promise.all([devtoken('drain', 'bob'), devtoken('drain', 'carol')]);
    const onA = client(a.url, { token: bob });
    const onB = client(b.url, { token: carol, autoReconnect: false });
    const seen: PresenceMessage[] = [];
    const channel = onA.channels.get('drain:room');
    channel.presence.on((m) => seen.push(m));
    await channel.presence.enter('bob');
    await onB.channels.get('drain:room').presence.enter('carol');
    await until(async () => (await channel.presence.get()).length === 2, 'both present on A');

    await b.stop('SIGTERM');
    await until(() => seen.some((m) => m.action === 'leave' && m.clientId === 'carol'), "carol's leave on A", 10_000);
    expect((await channel.presence.get()).map((m) => m.clientId)).toEqual(['bob']);
  });
});
