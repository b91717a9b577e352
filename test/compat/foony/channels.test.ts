/**
 * @foony/realtime against `hubbub serve`: channels as the SDK uses them. Subscribe/unsubscribe,
 * publish with ack (always an auto-batch), array and multi-channel batch publishes (one stored
 * message), ephemeral messages, history paging, fetch from a serial (the SDK's gap healing),
 * resume after a reconnect, exactly-once across resends, opaque `encoding` (end-to-end
 * encryption), coalesced delivery under load, channel names and the error-code table.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CORE_VERSIONS,
  Clients,
  TcpProxy,
  attachCollect,
  channelLog,
  channelName,
  collect,
  connected,
  counts,
  dropInbound,
  eventually,
  internals,
  recordReceived,
  recordSent,
  startFoonyServer,
  stateLog,
  track,
  within,
  type Frame,
  type FoonyServer,
  type MessageFrame,
  type SdkVersion,
} from './support.js';

let srv: FoonyServer;
const clients = new Clients();

beforeAll(async () => {
  srv = await startFoonyServer();
});
afterAll(() => srv?.cleanup());
afterEach(() => clients.closeAll());

/** Raw `msg` records as the SDK decoded them, bundles flattened, for one channel. */
function rawMessages(frames: Frame[], channel: string): Array<Frame & { seq?: number; messageId?: string; ephemeral?: boolean }> {
  const out: Array<Frame & { seq?: number; messageId?: string }> = [];
  for (const f of frames) {
    if (f.t !== 'msg' || f.channel !== channel) continue;
    const bundle = f.bundle as Frame[] | undefined;
    if (bundle && bundle.length > 0) for (const m of bundle) out.push({ ...m, t: 'msg', channel });
    else out.push(f);
  }
  return out;
}

/** Publish single (non-batch) stored messages the only way the SDK can: its Rest client. */
async function restPublish(v: SdkVersion, channel: string, messages: Array<{ name: string; data: unknown }>): Promise<void> {
  const rest = clients.rest(v, srv.http, { key: srv.key, clientId: 'rest-seeder' });
  for (const m of messages) await rest.channels.get(channel).publish(m.name, m.data);
}

describe.each(CORE_VERSIONS)('@foony/realtime $version: channels', (v) => {
  const key = () => ({ key: srv.key });

  describe('subscribe / unsubscribe / detach', () => {
    it('subscribe(name) filters by event name; unsubscribe(listener) stops that listener only', async () => {
      const sub = clients.realtime(v, srv.ws, { ...key(), clientId: 'sub' });
      const pub = clients.realtime(v, srv.ws, { ...key(), clientId: 'pub' });
      const ch = channelName('chat');
      const only: MessageFrame[] = [];
      const all: MessageFrame[] = [];
      const onlyListener = (m: MessageFrame) => only.push(m);
      sub.channels.get(ch).subscribe('breaking', onlyListener);
      sub.channels.get(ch).subscribe((m) => all.push(m));
      await within(sub.channels.get(ch).attach(), 10_000, 'attach');
      await pub.channels.get(ch).publish('weather', 'sunny');
      await pub.channels.get(ch).publish('breaking', 'stop press');
      await eventually(() => all.length === 2 && only.length === 1, 'both deliveries');
      sub.channels.get(ch).unsubscribe('breaking', onlyListener);
      await pub.channels.get(ch).publish('breaking', 'again');
      await eventually(() => all.length === 3, 'third delivery');
      expect(only.map((m) => m.data)).toEqual(['stop press']);
      expect(all.map((m) => m.data)).toEqual(['sunny', 'stop press', 'again']);
    });

    it('detach() unsubscribes on the server: nothing more arrives for the channel', async () => {
      const sub = clients.realtime(v, srv.ws, { ...key(), clientId: 'leaver' });
      const stays = clients.realtime(v, srv.ws, { ...key(), clientId: 'stayer' });
      const pub = clients.realtime(v, srv.ws, { ...key(), clientId: 'pub' });
      const ch = channelName('chat');
      const got = await attachCollect(sub.channels.get(ch));
      const control = await attachCollect(stays.channels.get(ch));
      const frames = recordReceived(sub);
      await pub.channels.get(ch).publish('one', 1);
      await eventually(() => got.length === 1 && control.length === 1, 'first message');
      await within(sub.channels.get(ch).detach(), 10_000, 'detach ack');
      expect(sub.channels.get(ch).state).toBe('detached');
      const afterDetach = frames.length;
      await pub.channels.get(ch).publish('two', 2);
      await eventually(() => control.length === 2, 'second message at the control subscriber');
      // The control got it, so the server fanned it out; the detached client must not get it.
      await within(sub.channels.get(channelName('chat')).attach(), 10_000, 'a round trip on the detached client');
      expect(rawMessages(frames.slice(afterDetach), ch)).toEqual([]);
      expect(got.map((m) => m.name)).toEqual(['one']);
    });

    it('publishing does not subscribe: a publish-only client sends no sub and gets its ack', async () => {
      const pub = clients.realtime(v, srv.ws, { ...key(), clientId: 'pub-only' });
      await connected(pub);
      const sent = recordSent(pub);
      const ch = channelName('chat');
      await within(pub.channels.get(ch).publish('x', 1), 10_000, 'publish ack');
      expect(sent.map((f) => f.t)).toEqual(['pub']);
    });
  });

  describe('publish and batches', () => {
    it('a burst of 300 publishes is auto-batched (200-member batches) and arrives complete and in order', async () => {
      const sub = clients.realtime(v, srv.ws, { ...key(), clientId: 'sub' });
      const pub = clients.realtime(v, srv.ws, { ...key(), clientId: 'burst' });
      const ch = channelName('chat');
      const got = await attachCollect(sub.channels.get(ch));
      await connected(pub);
      const sent = recordSent(pub);
      await within(Promise.all(Array.from({ length: 300 }, (_, i) => pub.channels.get(ch).publish('n', i))), 15_000, '300 acks');
      await eventually(() => got.length === 300, '300 messages', 15_000);
      expect(got.map((m) => m.data)).toEqual(Array.from({ length: 300 }, (_, i) => i));
      const pubs = sent.filter((f) => f.t === 'pub');
      expect(pubs.length).toBeLessThan(300);
      expect(Math.max(...pubs.map((f) => (f.messages as unknown[]).length))).toBeGreaterThanOrEqual(100);
    });

    it('publish([...]) is one atomic stored message: one messageId, members delivered in order, one serial', async () => {
      const sub = clients.realtime(v, srv.ws, { ...key(), clientId: 'sub' });
      const pub = clients.realtime(v, srv.ws, { ...key(), clientId: 'batcher' });
      const ch = channelName('chat');
      const got = await attachCollect(sub.channels.get(ch));
      const frames = recordReceived(sub);
      await within(pub.channels.get(ch).publish([
        { name: 'a', data: 1 },
        { name: 'b', data: { two: 2 } },
        { name: 'c', data: [3] },
      ]), 10_000, 'batch ack');
      await eventually(() => got.length === 3, 'three members');
      const batchId = got[0].messageId.replace(/:0$/, '');
      expect(got.map((m) => [m.name, m.data, m.messageId, m.clientId])).toEqual([
        ['a', 1, `${batchId}:0`, 'batcher'],
        ['b', { two: 2 }, `${batchId}:1`, 'batcher'],
        ['c', [3], `${batchId}:2`, 'batcher'],
      ]);
      // On the wire it was one record carrying the whole batch, with one serial.
      const raw = rawMessages(frames, ch);
      expect(raw).toHaveLength(1);
      expect(raw[0]).toMatchObject({ messageId: batchId, messages: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] });
      expect(raw[0].seq).toBeGreaterThan(0);
      // Stored once: history (which expands batches) gives the three members under the one id.
      const hist = await within(sub.channels.get(ch).history(), 10_000, 'history');
      expect(hist.messages.map((m) => m.messageId)).toEqual([`${batchId}:0`, `${batchId}:1`, `${batchId}:2`]);
    });

    it('a 1000-member batch is accepted and delivered whole', async () => {
      const sub = clients.realtime(v, srv.ws, { ...key(), clientId: 'sub' });
      const pub = clients.realtime(v, srv.ws, { ...key(), clientId: 'big' });
      const ch = channelName('chat');
      const got = await attachCollect(sub.channels.get(ch));
      const members = Array.from({ length: 1000 }, (_, i) => ({ name: 'm', data: i }));
      await within(pub.channels.get(ch).publish(members), 15_000, 'ack of a 1000-member batch');
      await eventually(() => got.length === 1000, '1000 members', 15_000);
      expect(got.map((m) => m.data)).toEqual(members.map((m) => m.data));
    });

    it('realtime.batchPublish sends one batch per channel; an invalid channel fails alone with 40001', async () => {
      const sub = clients.realtime(v, srv.ws, { ...key(), clientId: 'sub' });
      const pub = clients.realtime(v, srv.ws, { ...key(), clientId: 'fanout' });
      const [c1, c2] = [channelName('chat'), channelName('news')];
      const at1 = await attachCollect(sub.channels.get(c1));
      const at2 = await attachCollect(sub.channels.get(c2));
      const ok = await within(
        pub.batchPublish({ channels: [c1, c2], messages: [{ name: 'x', data: 1 }, { name: 'y', data: 2 }] }),
        10_000,
        'batchPublish',
      );
      expect(ok).toMatchObject({ successCount: 2, failureCount: 0 });
      await eventually(() => at1.length === 2 && at2.length === 2, 'both channels got both messages');
      expect(at1.map((m) => m.name)).toEqual(['x', 'y']);
      expect(at1[0].messageId.split(':')[0]).not.toBe(at2[0].messageId.split(':')[0]);

      // batchPublish does not validate names client-side; the server does.
      const mixed = await within(
        pub.batchPublish({ channels: [c1, 'not a valid/name'], messages: { name: 'z', data: 3 } }),
        10_000,
        'batchPublish with a bad channel',
      );
      expect(mixed.successCount).toBe(1);
      expect(mixed.failureCount).toBe(1);
      const failed = mixed.results.find((r) => r.error);
      expect(failed?.channel).toBe('not a valid/name');
      expect(failed?.error?.message).toMatch(/40001/);
      await eventually(() => at1.length === 3, 'the valid channel still got its message');
    });

    it('a publish larger than the server accepts is rejected with an err, not a close (which would make the SDK resend it forever)', async () => {
      const pub = clients.realtime(v, srv.ws, { ...key(), clientId: 'oversize' });
      await connected(pub);
      const log = stateLog(pub);
      const sent = recordSent(pub);
      const ch = channelName('chat');
      // hubbub serve's default --max-payload is 64 KiB.
      const huge = 'x'.repeat(100 * 1024);
      const big = track(pub.channels.get(ch).publish('big', huge));
      await eventually(() => big.settled(), 'the publish to settle', 10_000).catch(() => {});
      const seen = () =>
        `${log.count('disconnected')} disconnects (${[...new Set(log.reasons)].join('; ') || 'none'}), ` +
        `${sent.filter((f) => f.t === 'pub').length} pub frames sent for one publish`;
      expect(big.settled(), `the publish is still pending after 10 s: ${seen()}`).toBe(true);
      expect(String(big.error())).toMatch(/server error \d{5}/);
      expect(log.states.map((s) => s.state), seen()).not.toContain('disconnected');
      await within(pub.channels.get(ch).publish('small', 1), 10_000, 'a normal publish afterwards');
      expect(sent.filter((f) => f.t === 'pub')).toHaveLength(2);
    });

    it('ephemeral messages are delivered live, never stored, and take no serial', async () => {
      const sub = clients.realtime(v, srv.ws, { ...key(), clientId: 'sub' });
      const pub = clients.realtime(v, srv.ws, { ...key(), clientId: 'typist' });
      const ch = channelName('chat');
      const got = await attachCollect(sub.channels.get(ch));
      const frames = recordReceived(sub);
      await pub.channels.get(ch).publish('durable', 1);
      await within(pub.channels.get(ch).publish('typing', { on: true }, { ephemeral: true }), 10_000, 'ephemeral ack');
      await pub.channels.get(ch).publish('durable', 2);
      await eventually(() => got.length === 3, 'three deliveries');
      expect(got.map((m) => [m.name, m.ephemeral === true])).toEqual([
        ['durable', false],
        ['typing', true],
        ['durable', false],
      ]);
      expect(got[1]).toMatchObject({ data: { on: true }, clientId: 'typist' });
      const seqs = rawMessages(frames, ch).map((f) => f.seq ?? 0);
      expect(seqs[1]).toBe(0);
      expect(seqs[2]).toBe(seqs[0] + 1);
      const hist = await sub.channels.get(ch).history();
      expect(hist.messages.map((m) => m.name)).toEqual(['durable', 'durable']);
    });
  });

  describe('history', () => {
    it('pages backwards with limit and before (oldest first in each page, `more` until the first message)', async () => {
      const ch = channelName('chat');
      await restPublish(v, ch, Array.from({ length: 7 }, (_, i) => ({ name: 'h', data: i })));
      const rt = clients.realtime(v, srv.ws, { ...key(), clientId: 'reader' });
      const channel = rt.channels.get(ch);

      const all = await within(channel.history(), 10_000, 'history with defaults');
      expect(all.messages.map((m) => m.data)).toEqual([0, 1, 2, 3, 4, 5, 6]);
      expect(all.more).toBe(false);
      const serials = all.messages.map((m) => m.seq!);
      expect(serials.every((s, i) => i === 0 || s === serials[i - 1] + 1)).toBe(true);

      const p1 = await channel.history({ limit: 3 });
      expect(p1.messages.map((m) => m.data)).toEqual([4, 5, 6]);
      expect(p1.more).toBe(true);
      const p2 = await channel.history({ limit: 3, before: p1.messages[0].seq });
      expect(p2.messages.map((m) => m.data)).toEqual([1, 2, 3]);
      expect(p2.more).toBe(true);
      const p3 = await channel.history({ limit: 3, before: p2.messages[0].seq });
      expect(p3.messages.map((m) => m.data)).toEqual([0]);
      expect(p3.more).toBe(false);
      expect(p3.messages[0]).toMatchObject({ name: 'h', clientId: 'rest-seeder', channel: ch });
    });

    it('an empty channel has empty history', async () => {
      const rt = clients.realtime(v, srv.ws, { ...key(), clientId: 'reader' });
      const hist = await within(rt.channels.get(channelName('chat')).history({ limit: 10 }), 10_000, 'history');
      expect(hist).toEqual({ messages: [], more: false });
    });
  });

  describe('fetch from a serial, resume, exactly-once', () => {
    it('fetch { fromSerial } answers every later message, oldest first, resumed', async () => {
      const ch = channelName('chat');
      await restPublish(v, ch, Array.from({ length: 5 }, (_, i) => ({ name: 'f', data: i })));
      const rt = clients.realtime(v, srv.ws, { ...key(), clientId: 'fetcher' });
      const hist = await rt.channels.get(ch).history();
      const from = hist.messages[1].seq!;
      // The SDK's own gap-fill request (it sends this itself when it sees a serial gap).
      const res = await within(internals(rt).requestFetch({ t: 'fetch', channel: ch, fromSerial: from }), 10_000, 'fetchRes');
      expect(res.resumed).toBe(true);
      expect(res.messages.map((m) => m.data)).toEqual([2, 3, 4]);
      expect(res.messages.map((m) => m.seq)).toEqual([from + 1, from + 2, from + 3]);
    });

    it('heals a lost delivery: the next message shows a serial gap, the SDK fetches, and every message is delivered once', async () => {
      const sub = clients.realtime(v, srv.ws, { ...key(), clientId: 'lossy' });
      const ch = channelName('chat');
      const got = await attachCollect(sub.channels.get(ch));
      const sent = recordSent(sub);
      await restPublish(v, ch, [{ name: 'a', data: 1 }]);
      await eventually(() => got.length === 1, 'baseline message');
      // Lose the next delivery, as if a slow consumer had been skipped.
      let lost = 0;
      const stop = dropInbound(sub, (f) => f.t === 'msg' && f.channel === ch && f.name === 'b' && lost++ === 0);
      await restPublish(v, ch, [{ name: 'b', data: 2 }]);
      await restPublish(v, ch, [{ name: 'c', data: 3 }]);
      await eventually(() => got.length === 3, 'the lost message, fetched', 10_000);
      stop();
      expect(lost).toBeGreaterThan(0);
      expect(sent.filter((f) => f.t === 'fetch')).toHaveLength(1);
      expect(sent.find((f) => f.t === 'fetch')).toMatchObject({ channel: ch, fromSerial: expect.any(Number) });
      expect([...counts(got.map((m) => m.name)).entries()].sort()).toEqual([['a', 1], ['b', 1], ['c', 1]]);
      await restPublish(v, ch, [{ name: 'd', data: 4 }]);
      await eventually(() => got.length === 4, 'a later message');
      expect(got.at(-1)?.name).toBe('d');
      expect(sent.filter((f) => f.t === 'fetch')).toHaveLength(1);
    });

    it('after a reconnect it resumes from lastSerial: what was published meanwhile arrives once, in order, resumed: true', async () => {
      const proxy = clients.track(await TcpProxy.start(srv.port));
      const sub = clients.realtime(v, proxy.ws, { ...key(), clientId: 'resumer' });
      const pub = clients.realtime(v, srv.ws, { ...key(), clientId: 'pub' });
      const ch = channelName('chat');
      const channel = sub.channels.get(ch);
      const got = await attachCollect(channel);
      for (let i = 0; i < 3; i++) await pub.channels.get(ch).publish('before', i);
      await eventually(() => got.length === 3, 'three live messages');
      const events = channelLog(channel);
      const sent = recordSent(sub);

      proxy.block();
      await eventually(() => channel.state === 'suspended', 'channel suspended by the drop');
      for (let i = 0; i < 3; i++) await pub.channels.get(ch).publish('during', i);
      await pub.channels.get(ch).publish(['x', 'y'].map((name) => ({ name: `during-batch-${name}`, data: name })));
      proxy.unblock();

      await eventually(() => events.some((e) => e.event === 'attached'), 're-attached', 10_000);
      expect(events.find((e) => e.event === 'attached')?.resumed).toBe(true);
      await eventually(() => got.length === 8, 'the five missed messages', 10_000);
      await pub.channels.get(ch).publish('after', 0);
      await eventually(() => got.length === 9, 'a live message after the resume');
      expect(got.map((m) => `${m.name}${m.data}`)).toEqual([
        'before0', 'before1', 'before2',
        'during0', 'during1', 'during2',
        'during-batch-xx', 'during-batch-yy',
        'after0',
      ]);
      const subs = sent.filter((f) => f.t === 'sub' && f.channel === ch);
      expect(subs.length).toBeGreaterThanOrEqual(1);
      expect(subs[0].lastSerial).toEqual(expect.any(Number));
      expect(sent.filter((f) => f.t === 'fetch')).toEqual([]);
    });

    it('a publish whose ack was lost is resent with the same messageId after the reconnect, and stored and delivered once', async () => {
      const proxy = clients.track(await TcpProxy.start(srv.port));
      const sub = clients.realtime(v, srv.ws, { ...key(), clientId: 'sub' });
      const pub = clients.realtime(v, proxy.ws, { ...key(), clientId: 'resender' });
      const ch = channelName('chat');
      const got = await attachCollect(sub.channels.get(ch));
      const raw = recordReceived(sub);
      await connected(pub);
      const sent = recordSent(pub);
      const stop = dropInbound(pub, (f) => f.t === 'ack');
      const publish = track(pub.channels.get(ch).publish('exactly', 'once'));
      await eventually(() => got.length === 1, 'the server stored and delivered it');
      expect(publish.settled()).toBe(false);
      proxy.cut();
      stop();
      await within(publish.promise, 10_000, 'the publish resolves after the resend');
      const pubs = sent.filter((f) => f.t === 'pub');
      expect(pubs.length).toBe(2);
      expect(pubs[1].messageId).toBe(pubs[0].messageId);
      await pub.channels.get(ch).publish('next', 2);
      await eventually(() => got.length === 2, 'the next message');
      expect(got.map((m) => m.name)).toEqual(['exactly', 'next']);
      // Not just hidden by the SDK's own dedup: the server sent it once and stored it once.
      expect(rawMessages(raw, ch).filter((f) => f.messageId === pubs[0].messageId)).toHaveLength(1);
      const hist = await sub.channels.get(ch).history();
      expect(hist.messages.map((m) => m.name)).toEqual(['exactly', 'next']);
    });
  });

  describe('opaque encoding: end-to-end encryption', () => {
    it('ciphertext passes through untouched: same-key clients read plaintext, others see the encoding', async () => {
      const cipherKey = await v.sdk.generateRandomKey(256);
      const ch = channelName('secret');
      const alice = clients.realtime(v, srv.ws, { ...key(), clientId: 'alice' });
      const bob = clients.realtime(v, srv.ws, { ...key(), clientId: 'bob' });
      const eve = clients.realtime(v, srv.ws, { ...key(), clientId: 'eve' });
      const atBob = await attachCollect(bob.channels.get(ch, { cipher: { key: cipherKey } }));
      const atEve = await attachCollect(eve.channels.get(ch));
      const aliceCh = alice.channels.get(ch, { cipher: { key: cipherKey } });
      await aliceCh.publish('note', { text: 'for bob only', n: 42 });
      await aliceCh.publish([{ name: 'x', data: 'one' }, { name: 'y', data: ['two'] }]);
      await eventually(() => atBob.length === 3 && atEve.length === 3, 'three deliveries each');
      expect(atBob.map((m) => [m.name, m.data, m.encoding])).toEqual([
        ['note', { text: 'for bob only', n: 42 }, undefined],
        ['x', 'one', undefined],
        ['y', ['two'], undefined],
      ]);
      for (const m of atEve) {
        expect(m.encoding).toBe('cipher+aes-256-gcm/base64');
        expect(typeof m.data).toBe('string');
        expect(String(m.data)).not.toContain('bob');
      }
      const hist = await bob.channels.get(ch).history();
      expect(hist.messages.map((m) => m.data)).toEqual([{ text: 'for bob only', n: 42 }, 'one', ['two']]);
      const raw = await eve.channels.get(ch).history();
      expect(raw.messages.map((m) => m.encoding)).toEqual(Array(3).fill('cipher+aes-256-gcm/base64'));
    });
  });

  describe('coalesced delivery under load', () => {
    it('five concurrent publishers x (60 durable + 20 ephemeral): every message once, each publisher in order', async () => {
      // Under this load hubbub coalesces deliveries into bundles (msg records with several
      // members, some of them batches); the SDK unpacks them. Correctness is what is checked.
      const ch = channelName('chat');
      const sub = clients.realtime(v, srv.ws, { ...key(), clientId: 'sub' });
      const got = await attachCollect(sub.channels.get(ch));
      const frames = recordReceived(sub);
      const pubs = Array.from({ length: 5 }, (_, p) => clients.realtime(v, srv.ws, { ...key(), clientId: `p${p}` }));
      await Promise.all(pubs.map((p) => connected(p)));
      await within(
        Promise.all(
          pubs.flatMap((p, pi) => [
            ...Array.from({ length: 60 }, (_, i) => p.channels.get(ch).publish('n', { p: pi, i })),
            ...Array.from({ length: 20 }, (_, i) => p.channels.get(ch).publish('e', { p: pi, i }, { ephemeral: true })),
          ]),
        ),
        20_000,
        'all acks',
      );
      await eventually(() => got.length === 400, '400 messages', 15_000);
      for (let p = 0; p < 5; p++) {
        const mine = got.filter((m) => m.clientId === `p${p}`);
        expect(mine.filter((m) => m.name === 'n').map((m) => (m.data as { i: number }).i)).toEqual(Array.from({ length: 60 }, (_, i) => i));
        expect(mine.filter((m) => m.name === 'e').map((m) => (m.data as { i: number }).i)).toEqual(Array.from({ length: 20 }, (_, i) => i));
        expect(mine.filter((m) => m.name === 'e').every((m) => m.ephemeral === true)).toBe(true);
      }
      // Serials the SDK saw are contiguous (no gap, so no fetch was needed).
      const seqs = rawMessages(frames, ch).map((f) => f.seq ?? 0).filter((s) => s > 0);
      expect(seqs.every((s, i) => i === 0 || s === seqs[i - 1] + 1)).toBe(true);
    });
  });

  describe('channel names and error codes', () => {
    it('hierarchical names with ":" work end to end, up to 255 characters', async () => {
      const rt = clients.realtime(v, srv.ws, { ...key(), clientId: 'names' });
      for (const name of ['chat:rooms:42', 'chat:rooms:42:thread_1-a', `a:${'x'.repeat(253)}`, 'Z9_-']) {
        const got = await attachCollect(rt.channels.get(name));
        await rt.channels.get(name).publish('ping', name.length);
        await eventually(() => got.length === 1, `delivery on ${name.slice(0, 40)}`);
      }
    });

    it('the SDK refuses names outside its grammar before anything is sent (dots, a leading colon, spaces, > 255)', () => {
      const rt = clients.realtime(v, srv.ws, { ...key(), clientId: 'names' });
      for (const bad of ['', ':chat', 'chat.rooms', 'a b', 'a/b', 'café', 'x'.repeat(256)]) {
        expect(() => rt.channels.get(bad), JSON.stringify(bad)).toThrow(/invalid channel name/);
      }
    });

    it('the error-code table is the one the server uses', () => {
      expect(v.sdk.ErrorCode).toEqual({
        BadFrame: 40001,
        BadAuth: 40101,
        AuthExpired: 40102,
        Forbidden: 40300,
        Capability: 40301,
        ChannelDenied: 40302,
        NotFound: 40400,
        RateLimited: 42900,
        Server: 50000,
        Bootstrap: 50001,
      });
    });
  });
});

describe('@foony/realtime 0.16.0: resumeFrom(serial) on a brand-new client', () => {
  const v = CORE_VERSIONS[1];

  it('the first attach carries lastSerial and receives exactly what came after it (resumed: true)', async () => {
    const ch = channelName('chat');
    await restPublish(v, ch, Array.from({ length: 5 }, (_, i) => ({ name: 'r', data: i })));
    const reader = clients.realtime(v, srv.ws, { key: srv.key, clientId: 'reader' });
    const hist = await reader.channels.get(ch).history();
    const seenUpTo = hist.messages[2].seq!;

    const rt = clients.realtime(v, srv.ws, { key: srv.key, clientId: 'restored' });
    const channel = rt.channels.get(ch);
    channel.resumeFrom(seenUpTo);
    const events = channelLog(channel);
    await connected(rt);
    const sent = recordSent(rt);
    const got = collect(channel);
    await eventually(() => events.some((e) => e.event === 'attached'), 'attached');
    expect(sent.find((f) => f.t === 'sub')).toMatchObject({ channel: ch, lastSerial: seenUpTo });
    expect(events.find((e) => e.event === 'attached')?.resumed).toBe(true);
    await eventually(() => got.length === 2, 'the two later messages');
    expect(got.map((m) => m.data)).toEqual([3, 4]);
  });

  it('a cursor past the end of the stream (e.g. from before a reset) attaches with resumed: false', async () => {
    const ch = channelName('chat');
    await restPublish(v, ch, [{ name: 'r', data: 0 }]);
    const rt = clients.realtime(v, srv.ws, { key: srv.key, clientId: 'stale' });
    const channel = rt.channels.get(ch);
    channel.resumeFrom(1_000_000);
    const events = channelLog(channel);
    await within(channel.attach(), 10_000, 'attach');
    expect(events.find((e) => e.event === 'attached')?.resumed).toBe(false);
  });
});
