/**
 * Hash flooding of the dedup window, end to end: a client publishes message ids built offline to
 * collide under an unseeded hash (the window's former FNV-1a over `app/channel NUL client NUL id`).
 * While they land, another connection's ping round trip (the server's event-loop lag) stays short,
 * and every id is still deduplicated: a resend answers `duplicate: true` with the first serial.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ServerFrame } from '@hubbub/protocol';
import { cleanup, startServer, type RunningServer } from '../support/server.js';
import { RawClient, closeClients } from '../support/clients.js';
import { until } from '../support/wait.js';
import { fnvCollidingIds } from '../../packages/server/test/dedup-window-collisions.js';
import { authedRaw, bystander, type Bystander } from './support.js';

const APP = 'hostile';
const ATTACKER = 'mallory';
const CHANNEL = 'flood';
const IDS = 16384;
const BATCH = 256;
const MAX_PING_MS = 200;

let server: RunningServer;
let watch: Bystander;
const raws: RawClient[] = [];

beforeAll(async () => {
  // A high publish rate so the flood reaches the engine rather than the rate limiter.
  server = await startServer(['--publish-rate', '100000']);
  watch = await bystander(server, APP);
});
afterAll(async () => {
  for (const r of raws) r.close();
  closeClients();
  await cleanup(server);
});

type Ack = { t: 'ack'; id: number; seq?: number; duplicate?: boolean };

/**
 * Publish one frame per id (request ids from `firstRequest`), `BATCH` at a time with each batch's
 * acks awaited, as a client with a bounded window of publishes in flight would; the acks, by request
 * id. Batches keep the server's ordinary cost per event-loop turn small, so the ping measures what
 * the ids themselves cost.
 */
async function publishAll(raw: RawClient, ids: string[], firstRequest: number): Promise<Map<number, Ack>> {
  const acks = new Map<number, Ack>();
  for (let start = 0; start < ids.length; start += BATCH) {
    const from = raw.frames.length;
    const batch = ids.slice(start, start + BATCH);
    batch.forEach((messageId, i) => raw.send({ t: 'pub', id: firstRequest + start + i, channel: CHANNEL, name: 'm', data: start + i, messageId }));
    await until(() => raw.frames.length - from >= batch.length || raw.closed !== undefined, `replies to publishes ${start}..${start + batch.length}`, 60_000);
    for (const f of raw.frames.slice(from) as ServerFrame[]) {
      expect(f.t, `reply to a flood publish: ${JSON.stringify(f)}`).toBe('ack');
      acks.set((f as Ack).id, f as Ack);
    }
  }
  return acks;
}

/** Ping back to back over `raw` until `done` resolves; the slowest round trip, in ms. */
async function worstPing(raw: RawClient, done: Promise<unknown>): Promise<number> {
  let finished = false;
  const finish = () => (finished = true);
  done.then(finish, finish);
  let worst = 0;
  for (let id = 1; !finished; id++) {
    const sent = performance.now();
    raw.send({ t: 'ping', id });
    await raw.waitFor((f) => f.t === 'pong' && f.id === id, 60_000);
    worst = Math.max(worst, performance.now() - sent);
    raw.frames.length = 0;
  }
  return worst;
}

it('colliding message ids neither stall the server nor slip past deduplication', async () => {
  const ids = fnvCollidingIds(`${APP}/${CHANNEL}`, ATTACKER, IDS);
  expect(ids.length).toBe(IDS);
  const attacker = await authedRaw(server, APP, ATTACKER);
  const pinger = await authedRaw(server, APP, 'bystander-pinger');
  raws.push(attacker, pinger);

  const first = publishAll(attacker, ids, 1);
  const lagFirst = await worstPing(pinger, first);
  const acks = await first;
  expect(acks.size).toBe(IDS);
  const seqs = new Set<number>();
  for (let i = 0; i < IDS; i++) {
    const ack = acks.get(1 + i)!;
    expect(ack.duplicate, `first publish of id ${i}`).toBeUndefined();
    expect(ack.seq).toBeGreaterThan(0);
    seqs.add(ack.seq!);
  }
  expect(seqs.size, 'each id got its own serial').toBe(IDS);
  expect(lagFirst, `ping round trip while ${IDS} colliding ids were published`).toBeLessThan(MAX_PING_MS);

  const again = publishAll(attacker, ids, 1 + IDS);
  const lagAgain = await worstPing(pinger, again);
  const resent = await again;
  for (let i = 0; i < IDS; i++) {
    const ack = resent.get(1 + IDS + i)!;
    expect(ack, `resend of id ${i}`).toMatchObject({ duplicate: true, seq: acks.get(1 + i)!.seq });
  }
  expect(lagAgain, `ping round trip while ${IDS} colliding ids were resent`).toBeLessThan(MAX_PING_MS);

  await watch.check('dedup flood');
}, 120_000);
