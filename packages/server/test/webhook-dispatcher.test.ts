/**
 * The webhook dispatcher against a real SQLite store and real HTTP receivers on port 0: how events
 * reach the outbox (in batches, within a bound per app), how big a message.published body gets, and
 * how attempts go out (a bounded number at once, one probe per backoff to an endpoint that fails).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SqliteStore, type Store } from '../src/service/store/index.js';
import { WebhookDispatcher, type DispatcherOptions, type WebhookEndpoint } from '../src/service/webhooks/dispatcher.js';
import { generateWebhookSecret } from '../src/service/webhooks/signature.js';
import { until } from '../../../test/support/wait.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** A SQLite store in memory that counts the calls made to it, and can be made to fail. */
async function countingStore(): Promise<{ store: Store; calls: Map<string, number>; batches: number[]; failing: { on: boolean } }> {
  const real = new SqliteStore(':memory:');
  await real.init();
  closers.push(() => real.close());
  const calls = new Map<string, number>();
  const batches: number[] = [];
  const failing = { on: false };
  const store = new Proxy(real, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.set(String(name), (calls.get(String(name)) ?? 0) + 1);
        if (name === 'enqueueWebhooks') batches.push((args[0] as unknown[]).length);
        if (failing.on && name !== 'close') return Promise.reject(new Error('store unreachable'));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, calls, batches, failing };
}

interface Receiver {
  url: string;
  bodies: Array<Record<string, any>>;
  /** Requests being answered right now, and the most there ever were. */
  open: number;
  peakOpen: number;
  answer: (res: ServerResponse, req: IncomingMessage) => void;
}

async function receiver(answer: Receiver['answer'] = (res) => res.writeHead(204).end()): Promise<Receiver> {
  const rx: Receiver = { url: '', bodies: [], open: 0, peakOpen: 0, answer };
  const server = createServer((req, res) => {
    rx.open++;
    rx.peakOpen = Math.max(rx.peakOpen, rx.open);
    res.on('close', () => rx.open--);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      rx.bodies.push(JSON.parse(Buffer.concat(chunks).toString()) as Record<string, any>);
      rx.answer(res, req);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  closers.push(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  });
  rx.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return rx;
}

const warnings: Array<{ fields: Record<string, unknown>; message: string }> = [];
afterEach(() => void warnings.splice(0));

function dispatcher(store: Store, endpoints: WebhookEndpoint[], options: DispatcherOptions = {}): WebhookDispatcher {
  const d = new WebhookDispatcher(store, endpoints, {
    retryBaseMs: 100,
    maxDelayMs: 400,
    pollMs: 50,
    destinations: { allowPrivate: true },
    warn: (fields, message) => warnings.push({ fields, message }),
    ...options,
  });
  closers.push(() => d.stop());
  return d;
}

function endpoint(url: string, app = 'app1'): WebhookEndpoint {
  return { app, url, secret: generateWebhookSecret(), events: ['message.published', 'document.changed'] };
}

function published(n: number, data: unknown = `m${n}`) {
  return { channel: 'room', name: 'said', data, messageId: `id-${n}`, clientId: 'alice', seq: n };
}

const dropWarnings = () => warnings.filter((w) => /dropped/.test(w.message));

describe('webhook outbox writes', () => {
  it('events emitted together are written in one batch, not one write each', async () => {
    const { store, batches } = await countingStore();
    const rx = await receiver();
    const d = dispatcher(store, [endpoint(rx.url)]);
    d.start();
    for (let i = 0; i < 200; i++) d.emit('app1', 'message.published', published(i));
    await until(() => rx.bodies.length === 200, 'all 200 delivered');
    expect(batches).toEqual([200]);
    expect(new Set(rx.bodies.map((b) => b.data.messageId)).size).toBe(200);
  });

  it('outcomes are written in batches too, and a delivered event leaves the outbox', async () => {
    const { store, calls } = await countingStore();
    const rx = await receiver();
    const d = dispatcher(store, [endpoint(rx.url)]);
    d.start();
    for (let i = 0; i < 200; i++) d.emit('app1', 'message.published', published(i));
    await until(async () => rx.bodies.length === 200 && (await store.webhookQueueDepth()) === 0, 'all 200 delivered and removed');
    expect(calls.get('settleWebhooks') ?? 0).toBeLessThan(50);
    expect(calls.get('markWebhookDelivered') ?? 0).toBe(0);
  });
});

describe('webhook outbox bound', () => {
  it('past maxQueue items of an app, new events of that app are dropped, counted, and warned about at a limited rate', async () => {
    const { store } = await countingStore();
    const down = await receiver((res) => res.writeHead(503).end());
    const other = await receiver();
    const d = dispatcher(store, [endpoint(down.url), endpoint(other.url, 'app2')], { maxQueue: 3 });
    d.start();
    for (let i = 0; i < 100; i++) d.emit('app1', 'message.published', published(i));
    d.emit('app2', 'message.published', published(1000));
    await until(async () => (await store.webhookQueueDepth()) >= 3 && other.bodies.length === 1, 'the queue to fill');
    expect((await store.webhookBacklog()).filter((b) => b.app === 'app1')).toMatchObject([{ count: 3 }]);
    expect(d.droppedEvents).toBe(97);
    // The first three were kept: the newest are the ones dropped.
    const kept = await store.dueWebhooks(Number.MAX_SAFE_INTEGER, 10, { app: 'app1', endpoint: down.url });
    expect(kept.map((i) => JSON.parse(i.payload).data.messageId).sort()).toEqual(['id-0', 'id-1', 'id-2']);
    expect(dropWarnings()).toHaveLength(1);
    expect(dropWarnings()[0]).toMatchObject({ fields: { app: 'app1', dropped: 1 } });
    expect(dropWarnings()[0]!.message).toMatch(/--webhook-max-queue/);
    // Another app has its own bound.
    expect(other.bodies.map((b) => b.data.messageId)).toEqual(['id-1000']);
    // What was dropped since the warning is reported at shutdown.
    await d.stop();
    expect(dropWarnings().at(-1)).toMatchObject({ fields: { app: 'app1', dropped: 96 } });
  });

  it('past maxQueueBytes of bodies, new events are dropped', async () => {
    const { store } = await countingStore();
    const down = await receiver((res) => res.writeHead(503).end());
    const d = dispatcher(store, [endpoint(down.url)], { maxQueueBytes: 10_000 });
    d.start();
    for (let i = 0; i < 10; i++) d.emit('app1', 'message.published', published(i, 'x'.repeat(3000)));
    await until(async () => (await store.webhookQueueDepth()) === 3, 'three bodies of about 3 KB to be queued');
    const [backlog] = await store.webhookBacklog();
    expect(backlog!.bytes).toBeLessThanOrEqual(10_000);
    expect(d.droppedEvents).toBe(7);
  });

  it('counts what the outbox already holds at start, and makes room again as events are delivered', async () => {
    const { store } = await countingStore();
    const rx = await receiver((res) => res.writeHead(503).end());
    const ep = endpoint(rx.url);
    await store.enqueueWebhooks([1, 2].map((i) => ({ app: 'app1', endpoint: rx.url, eventId: `old-${i}`, payload: `{"old":${i}}` })));
    const d = dispatcher(store, [ep], { maxQueue: 3 });
    d.start();
    for (let i = 0; i < 5; i++) d.emit('app1', 'message.published', published(i));
    await until(async () => (await store.webhookQueueDepth()) === 3 && d.droppedEvents === 4, 'one more to fit beside the two already there');
    rx.answer = (res) => res.writeHead(204).end();
    await until(async () => (await store.webhookQueueDepth()) === 0, 'the backlog to be delivered');
    for (let i = 10; i < 13; i++) d.emit('app1', 'message.published', published(i));
    await until(() => rx.bodies.filter((b) => b.data?.messageId?.startsWith('id-1')).length === 3, 'three new events delivered');
    expect(d.droppedEvents).toBe(4);
  });
});

describe('message.published body size', () => {
  it('message data over maxMessageDataBytes is left out, flagged, with what finds the message in history', async () => {
    const { store } = await countingStore();
    const rx = await receiver();
    const d = dispatcher(store, [endpoint(rx.url)], { maxMessageDataBytes: 1000 });
    d.start();
    d.emit('app1', 'message.published', published(1, 'x'.repeat(998))); // 1000 bytes as JSON: kept
    d.emit('app1', 'message.published', published(2, 'x'.repeat(999)));
    d.emit('app1', 'message.published', { ...published(3, null), messages: [{ name: 'a', data: 'y'.repeat(600) }, { name: 'b', data: 'y'.repeat(600) }] });
    d.emit('app1', 'document.changed', { topic: 'sync.doc', data: 'z'.repeat(5000) }); // other events are not cut
    await until(() => rx.bodies.length === 4, 'four deliveries');
    const byId = new Map(rx.bodies.map((b) => [b.data.messageId ?? b.data.topic, b]));
    expect(byId.get('id-1')!.data.data).toHaveLength(998);
    expect(byId.get('id-1')!.data.dataOmitted).toBeUndefined();
    expect(byId.get('id-2')).toMatchObject({ type: 'message.published', app: 'app1', data: { channel: 'room', name: 'said', messageId: 'id-2', clientId: 'alice', seq: 2, dataOmitted: true, dataBytes: 1001 } });
    expect(byId.get('id-2')!.data).not.toHaveProperty('data');
    expect(byId.get('id-3')!.data).toMatchObject({ dataOmitted: true, seq: 3 });
    expect(byId.get('id-3')!.data).not.toHaveProperty('messages');
    expect(byId.get('sync.doc')!.data.data).toHaveLength(5000);
  });
});

describe('webhook attempts', () => {
  it('an endpoint gets at most maxInFlightPerEndpoint attempts at once', async () => {
    const { store } = await countingStore();
    const held: ServerResponse[] = [];
    const rx = await receiver((res) => held.push(res));
    const d = dispatcher(store, [endpoint(rx.url)], { maxInFlightPerEndpoint: 8 });
    d.start();
    for (let i = 0; i < 40; i++) d.emit('app1', 'message.published', published(i));
    await until(() => held.length === 8, 'eight attempts under way');
    await new Promise((r) => setTimeout(r, 200)); // several sweeps: still eight
    expect(rx.peakOpen).toBe(8);
    rx.answer = (res) => res.writeHead(204).end();
    held.splice(0).forEach((res) => res.writeHead(204).end());
    await until(() => rx.bodies.length === 40, 'all 40 delivered');
    expect(rx.peakOpen).toBeLessThanOrEqual(8);
  });

  it('an endpoint that fails gets one attempt per backoff, not one per waiting event; all arrive once it answers', async () => {
    const { store } = await countingStore();
    const rx = await receiver((res) => res.writeHead(503).end());
    const d = dispatcher(store, [endpoint(rx.url)], { retryBaseMs: 100, maxDelayMs: 400 });
    d.start();
    for (let i = 0; i < 100; i++) d.emit('app1', 'message.published', published(i));
    await until(() => rx.bodies.length > 0, 'a first attempt');
    await new Promise((r) => setTimeout(r, 1000));
    // Up to 32 at once until the first failure; after it, one at a time, each after the retry delay
    // of the event tried before (100 ms ± 20 % for a first retry): not 100 events every 100 ms.
    expect(rx.bodies.length).toBeLessThan(32 + 15);
    const failedLines = warnings.filter((w) => w.message === 'webhook attempt failed');
    expect(failedLines.length, 'each failed attempt is logged (one may still be under way)').toBeGreaterThanOrEqual(rx.bodies.length - 1);
    rx.answer = (res) => res.writeHead(204).end();
    await until(async () => (await store.webhookQueueDepth()) === 0, 'every event delivered once the endpoint answers', 5000);
    const delivered = new Set(rx.bodies.map((b) => b.data.messageId));
    expect(delivered.size).toBe(100);
  });

  it('one failing endpoint does not hold up another', async () => {
    const { store } = await countingStore();
    const down = await receiver((res) => res.writeHead(500).end());
    const up = await receiver();
    const d = dispatcher(store, [endpoint(down.url), endpoint(up.url)]);
    d.start();
    for (let i = 0; i < 50; i++) d.emit('app1', 'message.published', published(i));
    await until(async () => up.bodies.length === 50 && (await store.webhookBacklog()).length === 1, 'the healthy endpoint to get all 50');
    expect(await store.webhookBacklog()).toMatchObject([{ endpoint: down.url, count: 50 }]);
  });

  it('items of an endpoint no longer configured are removed without being sent', async () => {
    const { store } = await countingStore();
    const gone = await receiver();
    const kept = await receiver();
    await store.enqueueWebhooks(Array.from({ length: 600 }, (_, i) => ({ app: 'app1', endpoint: gone.url, eventId: `e${i}`, payload: '{}' })));
    await store.rescheduleWebhook((await store.dueWebhooks(Date.now(), 1))[0]!.id, Date.now() + 3_600_000, 'not due for an hour');
    const d = dispatcher(store, [endpoint(kept.url)], { maxQueue: 10 });
    d.start();
    await until(async () => (await store.webhookQueueDepth()) === 0, 'the 600 items to be discarded');
    expect(gone.bodies).toEqual([]);
    // They no longer count against the app's bound.
    for (let i = 0; i < 5; i++) d.emit('app1', 'message.published', published(i));
    await until(() => kept.bodies.length === 5, 'five new events delivered');
    expect(d.droppedEvents).toBe(0);
  });
});

describe('an unreachable store', () => {
  it('holds events in memory (bounded by maxHeld) and writes them, in order, once the store answers', async () => {
    const { store, failing } = await countingStore();
    const rx = await receiver();
    const d = dispatcher(store, [endpoint(rx.url)], { maxHeld: 20 });
    d.start();
    failing.on = true;
    for (let i = 0; i < 25; i++) d.emit('app1', 'message.published', published(i));
    await until(() => warnings.some((w) => /outbox unavailable/.test(w.message)), 'the outage to be noticed');
    await new Promise((r) => setTimeout(r, 200));
    expect(warnings.filter((w) => /outbox unavailable/.test(w.message)), 'one warning per outage, not per attempt').toHaveLength(1);
    expect(d.droppedEvents).toBe(5);
    failing.on = false;
    await until(() => rx.bodies.length === 20, 'the 20 held events delivered');
    expect(rx.bodies.map((b) => b.data.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('writes held events at shutdown when the store answers by then', async () => {
    const { store, failing } = await countingStore();
    const d = dispatcher(store, [endpoint('http://127.0.0.1:9/never')]);
    d.start();
    failing.on = true;
    d.emit('app1', 'message.published', published(1));
    await until(() => warnings.some((w) => /outbox unavailable/.test(w.message)), 'the outage to be noticed');
    failing.on = false;
    await d.stop();
    expect(await store.webhookQueueDepth()).toBe(1);
  });
});
