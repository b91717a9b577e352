/**
 * Backpressure on what a connection sends: a publisher that writes publishes as fast as its socket
 * takes them, and does not read its acks for a while, is slowed by TCP (the server stops reading its
 * socket while a bounded backlog of its requests waits) instead of having the server read and queue
 * everything it sends. Meanwhile the server's memory stays bounded and another client's publishes
 * are acknowledged and delivered quickly; once the flooder reads, every one of its publishes has been
 * acknowledged once, in order, and delivered once, in order.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ServerFrame } from '@hubbub/protocol';
import { cleanup, startServer, type RunningServer } from '../support/server.js';
import { RawClient, closeClients } from '../support/clients.js';
import { until } from '../support/wait.js';
import { authedRaw } from './support.js';

const APP = 'hostile';
const FLOOD = 'flood';
/** Publishes the flooder writes; written unread they would be tens of MiB of input, hundreds once queued as frames. */
const PUBLISHES = 60_000;
/** Publishes written before the flooder starts reading its acks. */
const UNREAD = 40_000;
const PAD = 'x'.repeat(100);
/** RSS growth allowed during the flood: the backlog bound, socket buffers, history and the dedup window's ids. */
const MAX_RSS_GROWTH_MIB = 80;
/** The calm client's worst publish→ack and publish→delivery round trip while the flood runs. */
const MAX_CALM_MS = 300;

let server: RunningServer;
const raws: RawClient[] = [];

beforeAll(async () => {
  // Through Redis each publish waits for a round trip, so a connection's requests are handled far
  // slower than a client can write them. A publish rate no flood reaches: what slows the flooder
  // must be backpressure, not 42900s.
  const prefix = `hubbub-test-backpressure-${randomUUID().slice(0, 8)}`;
  server = await startServer(['--publish-rate', '10000000', '--redis', 'redis://127.0.0.1:6379', '--redis-prefix', prefix, '--history-ttl', '30s']);
});
afterAll(async () => {
  for (const r of raws) r.close();
  closeClients();
  await cleanup(server);
});

function rssOf(server: RunningServer): number {
  const status = readFileSync(`/proc/${server.proc.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) * 1024;
}

async function authed(clientId: string): Promise<RawClient> {
  const raw = await authedRaw(server, APP, clientId);
  raws.push(raw);
  return raw;
}

async function subscribe(raw: RawClient, channel: string, id: number): Promise<void> {
  raw.send({ t: 'sub', id, channel });
  expect(await raw.reply(id)).toMatchObject({ t: 'ack', id });
}

type Msg = Extract<ServerFrame, { t: 'msg' }>;

it('slows a flooding publisher through TCP: bounded memory, a calm neighbour unaffected, every publish acked once and in order', async () => {
  const watcher = await authed('watcher');
  await subscribe(watcher, FLOOD, 1);
  const calm = await authed('calm');
  await subscribe(calm, 'calm', 1);
  const flooder = await authed('flooder');
  const socket = (flooder.ws as unknown as { _socket: Socket })._socket;
  const answered = flooder.frames.length;

  // The flooder reads nothing until it has written UNREAD publishes.
  flooder.ws.pause();
  const rssBefore = rssOf(server);
  let rssPeak = rssBefore;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssOf(server))), 20);

  // The calm client publishes one message at a time, each awaited as ack and as delivery.
  let flooding = true;
  let calmWorst = 0;
  let calmRounds = 0;
  const calmLoop = (async () => {
    for (let id = 100; flooding; id++) {
      const from = calm.frames.length;
      const sent = performance.now();
      calm.send({ t: 'pub', id, channel: 'calm', name: 'c', data: id, messageId: `calm-${id}` });
      await until(
        () => {
          const got = calm.frames.slice(from);
          return got.some((f) => f.t === 'ack' && f.id === id) && got.some((f) => f.t === 'msg' && f.data === id);
        },
        `calm publish ${id} acked and delivered`,
        10_000,
      );
      calmWorst = Math.max(calmWorst, performance.now() - sent);
      calmRounds++;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();

  // Written as fast as the socket takes them: a burst while its buffer is short, else wait for 'drain'.
  let stalls = 0;
  let written = 0;
  while (written < PUBLISHES) {
    if (written >= UNREAD && flooder.ws.isPaused) flooder.ws.resume();
    for (let n = 0; n < 256 && written < PUBLISHES; n++) {
      written++;
      flooder.send({ t: 'pub', id: written, channel: FLOOD, name: 'f', data: [written, PAD], messageId: `f-${written}` });
    }
    if (socket.writableNeedDrain) {
      stalls++;
      await new Promise((resolve) => socket.once('drain', resolve));
    } else {
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  if (flooder.ws.isPaused) flooder.ws.resume();

  await until(() => watcher.frames.filter((f) => f.t === 'msg').length >= PUBLISHES, 'every flood publish delivered', 120_000);
  await until(() => flooder.frames.length - answered >= PUBLISHES, 'every flood publish answered', 30_000);
  flooding = false;
  await calmLoop;
  clearInterval(sampler);

  console.log(`flood: RSS ${(rssBefore / 2 ** 20).toFixed(0)} → peak ${(rssPeak / 2 ** 20).toFixed(0)} MiB, ${stalls} stalls, calm worst ${calmWorst.toFixed(0)} ms over ${calmRounds} rounds`);
  // The server stopped reading, so the flooder's socket filled: TCP, not the server's memory, held the backlog.
  expect(stalls, 'times the flooder had to wait for its socket').toBeGreaterThan(0);
  const growthMiB = (rssPeak - rssBefore) / 2 ** 20;
  expect(growthMiB, 'server RSS growth during the flood (MiB)').toBeLessThan(MAX_RSS_GROWTH_MIB);
  expect(calmRounds, 'calm round trips during the flood').toBeGreaterThan(3);
  expect(calmWorst, 'worst calm publish→ack+delivery (ms)').toBeLessThan(MAX_CALM_MS);

  // Every publish answered once, in order, with increasing serials; delivered once, in order.
  const answers = flooder.frames.slice(answered);
  expect(answers.length).toBe(PUBLISHES);
  let lastSeq = 0;
  answers.forEach((f, i) => {
    expect(f).toMatchObject({ t: 'ack', id: i + 1 });
    const seq = (f as { seq: number }).seq;
    expect(seq).toBeGreaterThan(lastSeq);
    lastSeq = seq;
  });
  const delivered = watcher.frames.filter((f): f is Msg => f.t === 'msg').map((m) => (m.data as [number, string])[0]);
  expect(delivered.length).toBe(PUBLISHES);
  expect(delivered.every((d, i) => d === i + 1), 'flood messages delivered in order, none lost or twice').toBe(true);
  expect(flooder.closed).toBeUndefined();
  expect(watcher.closed).toBeUndefined();
}, 180_000);
