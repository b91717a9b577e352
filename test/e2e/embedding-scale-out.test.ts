import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChannelEvents, ChannelHub, RedisEngine, createRealtime, sendWebResponse, toWebRequest, type Realtime } from '@hubbub/server';
import { TestRedis, redisAvailable } from '../support/redis.js';
import { until } from '../support/wait.js';

function fakeConn(id: string) {
  const got: Array<[string, any]> = [];
  return { id, got, send: (type: string, payload: unknown) => got.push([type, payload]), onClose: () => {} };
}

describe.runIf(redisAvailable())('embedding APIs across nodes on Redis', () => {
  let redis: TestRedis;
  const closers: Array<() => Promise<unknown>> = [];
  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(async () => {
    for (const close of closers) await close();
    await redis?.stop();
  });

  it('ChannelHub: publish, presence and typing events reach connections on another node', async () => {
    const hubA = new ChannelHub({ engine: new RedisEngine({ url: redis.url }) });
    const hubB = new ChannelHub({ engine: new RedisEngine({ url: redis.url }) });
    closers.push(() => hubA.close(), () => hubB.close());
    await Promise.all([hubA.ready, hubB.ready]);
    const bob = fakeConn('conn-bob');
    hubB.join('room', 'bob', bob);
    const alice = fakeConn('conn-alice');
    // Node B subscribes to the channel asynchronously: wait until a probe from A gets through.
    await until(() => {
      hubA.publish('room', 'probe', null);
      return bob.got.some(([t]) => t === 'probe');
    }, 'node B listening');
    hubA.join('room', 'alice', alice);
    await until(() => bob.got.some(([t]) => t === ChannelEvents.PresenceJoin), 'alice join reaches bob');
    expect(bob.got.find(([t]) => t === ChannelEvents.PresenceJoin)![1]).toEqual({ channel: 'room', memberId: 'alice' });

    hubA.publish('room', 'said', { text: 'hi from A' });
    hubA.setTyping('room', 'alice', true);
    await until(() => bob.got.some(([t]) => t === 'said') && bob.got.some(([t]) => t === ChannelEvents.Typing), 'said and typing');
    expect(bob.got.find(([t]) => t === 'said')![1]).toEqual({ text: 'hi from A' });
    hubA.publish('room', 'private', 1, { exceptMemberId: 'bob' });
    hubA.leave('room', 'alice', alice);
    await until(() => bob.got.some(([t]) => t === ChannelEvents.PresenceLeave), 'leave');
    expect(bob.got.filter(([t]) => t === 'private')).toHaveLength(0);
    expect(alice.got.filter(([t]) => t === 'said')).toHaveLength(1);
  });

  it('createRealtime: broadcast, sendTo and channel broadcasts reach SSE streams on another node', async () => {
    const nodeA = createRealtime({ driver: 'sse', engine: new RedisEngine({ url: redis.url }) });
    const nodeB = createRealtime({ driver: 'sse', engine: new RedisEngine({ url: redis.url }) });
    closers.push(() => nodeA.close(), () => nodeB.close());
    await Promise.all([nodeA.ready, nodeB.ready]);
    const port = await serveSse(nodeB, closers);

    const controller = new AbortController();
    closers.push(async () => controller.abort());
    const res = await fetch(`http://127.0.0.1:${port}/?user=dana&channel=news`, { signal: controller.signal });
    let text = '';
    void (async () => {
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) text += Buffer.from(chunk).toString();
      } catch {
        // aborted
      }
    })();
    await until(() => nodeB.connectionCount === 1, 'stream open on B');
    // Node B subscribes on Redis asynchronously: wait until a probe from A gets through.
    await until(async () => {
      await nodeA.toChannel('news').broadcast({ event: 'probe' });
      return text.includes('event: probe');
    }, 'node B listening');
    await nodeA.broadcast({ event: 'everyone', data: 1 });
    await nodeA.sendTo('dana', { event: 'dm', data: 2 });
    await nodeA.toChannel('news').broadcast({ event: 'story', data: 3 });
    await until(() => text.includes('event: everyone') && text.includes('event: dm') && text.includes('event: story'), 'all three on B');
    expect(text).toContain('data: 3');
  });
});

async function serveSse(realtime: Realtime, closers: Array<() => Promise<unknown>>): Promise<number> {
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const { response } = realtime.sse(toWebRequest(req, res), {
      userId: url.searchParams.get('user') ?? undefined,
      channels: url.searchParams.getAll('channel'),
    });
    void sendWebResponse(response, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  closers.push(() => {
    server.closeAllConnections();
    return new Promise((r) => server.close(r));
  });
  return (server.address() as AddressInfo).port;
}
