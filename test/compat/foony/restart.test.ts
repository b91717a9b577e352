/**
 * @foony/realtime across a `hubbub serve` that is killed (SIGKILL) and restarted on the same port:
 * clients reconnect on their own, queued publishes are sent once, and messages published while a
 * subscriber was away reach it exactly once, with the in-memory engine (serials must not restart
 * below cursors clients still hold) and with Redis (durable serials: an exact resume).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestRedis, redisAvailable } from '../../support/redis.js';
import {
  CORE_VERSIONS,
  Clients,
  TcpProxy,
  V16,
  attachCollect,
  channelLog,
  channelName,
  connected,
  counts,
  eventually,
  recordReceived,
  recordSent,
  startFoonyServer,
  stateLog,
  track,
  within,
  type Frame,
  type FoonyServer,
  type Realtime,
  type SdkVersion,
} from './support.js';

const clients = new Clients();
const servers: FoonyServer[] = [];
afterEach(async () => {
  await clients.closeAll();
  await Promise.all(servers.splice(0).map((s) => s.cleanup()));
});

async function serve(args: string[] = []): Promise<FoonyServer> {
  const s = await startFoonyServer(args);
  servers.push(s);
  return s;
}

/** How many `msg` records (bundles flattened) carried this messageId to the client. */
function deliveriesOf(frames: Frame[], channel: string, name: string): number {
  let n = 0;
  for (const f of frames) {
    if (f.t !== 'msg' || f.channel !== channel) continue;
    const parts = (f.bundle as Frame[] | undefined)?.length ? (f.bundle as Frame[]) : [f];
    for (const p of parts) {
      if (p.name === name) n++;
      for (const m of (p.messages as Frame[] | undefined) ?? []) if (m.name === name) n++;
    }
  }
  return n;
}

/**
 * Subscriber behind a proxy (so the test decides when it may reconnect), a publisher direct.
 * Three messages are delivered before anything breaks, so the subscriber holds cursor 3.
 */
async function setUp(v: SdkVersion, s: FoonyServer) {
  const ch = channelName('chat');
  const proxy = clients.track(await TcpProxy.start(s.port));
  const sub = clients.realtime(v, proxy.ws, { key: s.key, clientId: 'sub' });
  const pub = clients.realtime(v, s.ws, { key: s.key, clientId: 'pub' });
  const got = await attachCollect(sub.channels.get(ch));
  const raw = recordReceived(sub);
  for (let i = 0; i < 3; i++) await pub.channels.get(ch).publish(`before-${i}`, i);
  await eventually(() => got.length === 3, 'three messages before the kill');
  return { ch, proxy, sub, pub, got, raw };
}

async function restPublishAll(v: SdkVersion, s: FoonyServer, ch: string, names: string[]): Promise<void> {
  const rest = clients.rest(v, s.http, { key: s.key, clientId: 'rest' });
  for (const name of names) await within(rest.channels.get(ch).publish(name, name), 10_000, `REST publish ${name}`);
}

function waitReconnected(rt: Realtime, log: ReturnType<typeof stateLog>): Promise<void> {
  return eventually(() => log.count('disconnected') >= 1 && rt.getState() === 'connected', 'reconnected', 20_000);
}

describe.each(CORE_VERSIONS)('@foony/realtime $version: server killed and restarted (memory engine)', (v) => {
  it(
    'a publish made while the server is down is sent after the restart: acked once, delivered exactly once',
    async () => {
      const s = await serve();
      const { ch, sub, pub, got, raw } = await setUp(v, s);
      const subLog = stateLog(sub);
      const pubLog = stateLog(pub);
      const pubSent = recordSent(pub);

      await s.kill();
      await eventually(() => pubLog.count('disconnected') >= 1 && subLog.count('disconnected') >= 1, 'both clients notice');
      const during = track(pub.channels.get(ch).publish('during-outage', 'x'));
      await eventually(() => pubLog.count('connecting') >= 2, 'the publisher retries while the server is down', 10_000);
      expect(during.settled()).toBe(false);

      await s.start();
      await within(during.promise, 20_000, 'the queued publish is acked after the restart');
      await eventually(() => got.some((m) => m.name === 'during-outage'), 'the outage publish reaches the subscriber', 20_000);
      await pub.channels.get(ch).publish('after', 'y');
      await eventually(() => got.some((m) => m.name === 'after'), 'a later publish');

      expect(got.map((m) => m.name)).toEqual(['before-0', 'before-1', 'before-2', 'during-outage', 'after']);
      expect(deliveriesOf(raw, ch, 'during-outage')).toBe(1);
      const pubs = pubSent.filter((f) => f.t === 'pub' && (f.messages as Frame[] | undefined)?.[0]?.name === 'during-outage');
      expect(new Set(pubs.map((f) => f.messageId)).size).toBe(1);
      const hist = await sub.channels.get(ch).history();
      expect(counts(hist.messages.map((m) => m.name)).get('during-outage')).toBe(1);
    },
    45_000,
  );

  it(
    'messages published after the restart, before the subscriber is back, each arrive exactly once (serials must not be reused)',
    async () => {
      const s = await serve();
      const { ch, proxy, sub, got, raw } = await setUp(v, s);
      const log = stateLog(sub);
      proxy.block();
      await s.restart();
      // More messages than the subscriber's cursor (3): a server that restarts serials at 1
      // would take the old cursor for a valid one and skip them.
      const meanwhile = ['m-0', 'm-1', 'm-2', 'm-3', 'm-4'];
      await restPublishAll(v, s, ch, meanwhile);
      const events = channelLog(sub.channels.get(ch));
      const sent = recordSent(sub);
      proxy.unblock();
      await waitReconnected(sub, log);
      // The replay comes before the resubscribe's ack; a live message after that ack comes last.
      await eventually(() => events.some((e) => e.event === 'attached' || e.event === 'update'), 're-attached', 15_000);
      const pub2 = clients.realtime(v, s.ws, { key: s.key, clientId: 'pub2' });
      await pub2.channels.get(ch).publish('after', 1);
      await eventually(() => got.some((m) => m.name === 'after'), 'a live message after the resume');
      const resub = sent.find((f) => f.t === 'sub');
      const outcome = events.find((e) => e.event === 'attached' || e.event === 'update');
      expect(got.map((m) => m.name), `resubscribed with lastSerial ${resub?.lastSerial}, server answered resumed: ${outcome?.resumed}`).toEqual([
        'before-0', 'before-1', 'before-2', ...meanwhile, 'after',
      ]);
      for (const n of meanwhile) expect(deliveriesOf(raw, ch, n), n).toBe(1);
    },
    45_000,
  );
});

const haveRedis = redisAvailable();

(haveRedis ? describe.each(CORE_VERSIONS) : describe.skip.each(CORE_VERSIONS))('@foony/realtime $version: server killed and restarted (Redis engine)', (v) => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(() => redis?.stop());

  it(
    'the subscriber resumes exactly (resumed: true) and gets what was published meanwhile once, with no fetch',
    async () => {
      const s = await serve(['--redis', redis.url]);
      const { ch, proxy, sub, got, raw } = await setUp(v, s);
      const log = stateLog(sub);
      const events = channelLog(sub.channels.get(ch));
      const sent = recordSent(sub);
      proxy.block();
      await s.restart();
      await restPublishAll(v, s, ch, ['r-0', 'r-1']);
      proxy.unblock();
      await waitReconnected(sub, log);
      await eventually(() => got.length === 5, 'both messages published meanwhile', 15_000);
      await eventually(() => events.some((e) => e.event === 'attached'), 're-attached');
      expect(events.find((e) => e.event === 'attached')?.resumed).toBe(true);
      expect(got.map((m) => m.name)).toEqual(['before-0', 'before-1', 'before-2', 'r-0', 'r-1']);
      expect(deliveriesOf(raw, ch, 'r-0')).toBe(1);
      expect(sent.find((f) => f.t === 'sub')).toMatchObject({ channel: ch, lastSerial: expect.any(Number) });
      expect(sent.filter((f) => f.t === 'fetch')).toEqual([]);
    },
    45_000,
  );
});

describe('@foony/realtime 0.16.0: long-polling across a restart', () => {
  it(
    'a long-poll subscriber reconnects (new /lp session) and gets a message published after the restart once',
    async () => {
      const s = await serve();
      const ch = channelName('chat');
      const sub = clients.realtime(V16, s.ws, { key: s.key, clientId: 'lp-sub', transport: 'long-polling' });
      const got = await attachCollect(sub.channels.get(ch));
      const pub = clients.realtime(V16, s.ws, { key: s.key, clientId: 'pub' });
      await pub.channels.get(ch).publish('before', 0);
      await eventually(() => got.length === 1, 'first message over long-polling');
      const log = stateLog(sub);
      await s.restart();
      await connected(pub, 'publisher back', 20_000).catch(() => {});
      await eventually(() => pub.getState() === 'connected', 'publisher reconnected', 20_000);
      await waitReconnected(sub, log);
      await within(sub.channels.get(ch).attach(), 10_000, 'attached again');
      await pub.channels.get(ch).publish('after-restart', 1);
      await eventually(() => got.some((m) => m.name === 'after-restart'), 'message after the restart', 15_000);
      expect(got.map((m) => m.name)).toEqual(['before', 'after-restart']);
    },
    45_000,
  );
});
