import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryEngine } from '../src/engine/memory.js';
import type { MessageDraft, PresenceChange, RetentionOptions, StoredMessage } from '../src/engine/engine.js';

const CH = 'app/chat';

/** A started engine with the events it emits recorded. */
async function setup(retention: Partial<RetentionOptions> = {}) {
  const engine = new MemoryEngine(retention);
  const delivered: Array<{ channelKey: string; message: StoredMessage }> = [];
  const presence: Array<{ channelKey: string; change: PresenceChange }> = [];
  await engine.start({
    message: (channelKey, message) => delivered.push({ channelKey, message }),
    presence: (channelKey, change) => presence.push({ channelKey, change }),
  });
  engines.push(engine);
  return { engine, delivered, presence };
}

const engines: MemoryEngine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
  vi.useRealTimers();
});

let n = 0;
const draft = (over: Partial<MessageDraft> = {}): MessageDraft => ({
  name: 'msg',
  data: { text: `hello ${n}` },
  messageId: `m-${++n}`,
  clientId: 'alice',
  ...over,
});

async function publishMany(engine: MemoryEngine, channelKey: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await engine.publish(channelKey, draft());
}

const seqs = (messages: StoredMessage[]) => messages.map((m) => m.seq);

describe('MemoryEngine: publish', () => {
  it('gives contiguous serials per channel, starting at 1', async () => {
    const { engine, delivered } = await setup();
    engine.listen('app/a');
    engine.listen('app/b');
    const a: Array<number | undefined> = [];
    const b: Array<number | undefined> = [];
    for (let i = 0; i < 5; i++) {
      a.push((await engine.publish('app/a', draft())).seq);
      if (i % 2 === 0) b.push((await engine.publish('app/b', draft())).seq);
    }
    expect(a).toEqual([1, 2, 3, 4, 5]);
    expect(b).toEqual([1, 2, 3]);
    expect(delivered.filter((d) => d.channelKey === 'app/a').map((d) => d.message.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(await engine.position('app/a')).toMatchObject({ seq: 5 });
    expect(await engine.position('app/b')).toMatchObject({ seq: 3 });
  });

  it('delivers the stored message with its draft fields and a timestamp', async () => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    const { engine, delivered } = await setup();
    engine.listen(CH);
    const message = draft({ name: 'typing', data: [1, 2], connectionId: 'conn-1', encoding: 'json' });
    await engine.publish(CH, message);
    expect(delivered).toEqual([{ channelKey: CH, message: { ...message, seq: 1, timestamp: 1_700_000_000_000 } }]);
  });

  it('delivers only while the channel is listened to', async () => {
    const { engine, delivered } = await setup();
    await engine.publish(CH, draft());
    engine.listen(CH);
    engine.listen(CH); // idempotent
    await engine.publish(CH, draft());
    engine.unlisten(CH);
    await engine.publish(CH, draft());
    expect(delivered.map((d) => d.message.seq)).toEqual([2]);
  });

  it('collapses a resend within the dedup window: original seq, delivered once, stored once', async () => {
    vi.useFakeTimers();
    const { engine, delivered } = await setup({ dedupWindowMs: 10_000 });
    engine.listen(CH);
    const first = draft({ messageId: 'resend-me' });
    expect(await engine.publish(CH, first)).toEqual({ seq: 1, duplicate: false });
    await engine.publish(CH, draft());
    vi.advanceTimersByTime(9_999);
    expect(await engine.publish(CH, { ...first, data: 'changed on resend' })).toEqual({ seq: 1, duplicate: true });

    expect(delivered.map((d) => d.message.messageId)).toEqual(['resend-me', expect.any(String)]);
    const page = await engine.history(CH, { limit: 100, direction: 'backwards' });
    expect(seqs(page.messages)).toEqual([1, 2]);
    expect(page.messages[0].data).toEqual(first.data);
  });

  it('forgets a messageId once the dedup window has passed', async () => {
    vi.useFakeTimers();
    const { engine, delivered } = await setup({ dedupWindowMs: 10_000 });
    engine.listen(CH);
    await engine.publish(CH, draft({ messageId: 'again' }));
    vi.advanceTimersByTime(10_001);
    expect(await engine.publish(CH, draft({ messageId: 'again' }))).toEqual({ seq: 2, duplicate: false });
    expect(delivered).toHaveLength(2);
  });

  it('dedups per client and per channel only', async () => {
    const { engine } = await setup();
    expect(await engine.publish(CH, draft({ messageId: 'same', clientId: 'alice' }))).toEqual({ seq: 1, duplicate: false });
    expect(await engine.publish(CH, draft({ messageId: 'same', clientId: 'bob' }))).toEqual({ seq: 2, duplicate: false });
    expect(await engine.publish('app/other', draft({ messageId: 'same', clientId: 'alice' }))).toEqual({ seq: 1, duplicate: false });
    expect(await engine.publish(CH, draft({ messageId: 'same', clientId: 'bob' }))).toEqual({ seq: 2, duplicate: true });
  });

  it('ephemeral messages are delivered without a seq, kept out of history, and use no serial', async () => {
    const { engine, delivered } = await setup();
    engine.listen(CH);
    await engine.publish(CH, draft());
    const result = await engine.publish(CH, draft({ ephemeral: true, name: 'cursor' }));
    expect(result).toEqual({ seq: undefined, duplicate: false });
    expect((await engine.publish(CH, draft())).seq).toBe(2);

    expect(delivered.map((d) => [d.message.name, d.message.seq])).toEqual([
      ['msg', 1],
      ['cursor', undefined],
      ['msg', 2],
    ]);
    const page = await engine.history(CH, { limit: 100, direction: 'backwards' });
    expect(page.messages.map((m) => m.name)).toEqual(['msg', 'msg']);
    const recovery = await engine.recover(CH, 0);
    expect(recovery.messages.map((m) => m.name)).toEqual(['msg', 'msg']);
  });
});

describe('MemoryEngine: history', () => {
  it('is empty for a channel never published to', async () => {
    const { engine } = await setup();
    expect(await engine.history('app/none', { limit: 10, direction: 'backwards' })).toEqual({ messages: [], more: false });
  });

  it('keeps at most historyLimit messages, the newest', async () => {
    const { engine } = await setup({ historyLimit: 5 });
    await publishMany(engine, CH, 8);
    const page = await engine.history(CH, { limit: 100, direction: 'backwards' });
    expect(seqs(page.messages)).toEqual([4, 5, 6, 7, 8]);
    expect(page.more).toBe(false);
  });

  it('drops messages older than historyTtlMs', async () => {
    vi.useFakeTimers();
    const { engine } = await setup({ historyTtlMs: 60_000 });
    await publishMany(engine, CH, 2);
    vi.advanceTimersByTime(30_000);
    await publishMany(engine, CH, 1);
    vi.advanceTimersByTime(30_001);
    const page = await engine.history(CH, { limit: 100, direction: 'backwards' });
    expect(seqs(page.messages)).toEqual([3]);
  });

  it('pages backwards with before: newest page first, each page oldest first', async () => {
    const { engine } = await setup();
    await publishMany(engine, CH, 10);
    const p1 = await engine.history(CH, { limit: 3, direction: 'backwards' });
    expect(seqs(p1.messages)).toEqual([8, 9, 10]);
    expect(p1.more).toBe(true);
    const p2 = await engine.history(CH, { limit: 3, before: p1.messages[0].seq, direction: 'backwards' });
    expect(seqs(p2.messages)).toEqual([5, 6, 7]);
    expect(p2.more).toBe(true);
    const p3 = await engine.history(CH, { limit: 3, before: 5, direction: 'backwards' });
    expect(seqs(p3.messages)).toEqual([2, 3, 4]);
    expect(p3.more).toBe(true);
    const p4 = await engine.history(CH, { limit: 3, before: 2, direction: 'backwards' });
    expect(seqs(p4.messages)).toEqual([1]);
    expect(p4.more).toBe(false);
  });

  it('pages forwards from the oldest', async () => {
    const { engine } = await setup();
    await publishMany(engine, CH, 10);
    const page = await engine.history(CH, { limit: 3, direction: 'forwards' });
    expect(seqs(page.messages)).toEqual([1, 2, 3]);
    expect(page.more).toBe(true);
    const all = await engine.history(CH, { limit: 10, direction: 'forwards' });
    expect(seqs(all.messages)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(all.more).toBe(false);
    const below = await engine.history(CH, { limit: 10, before: 4, direction: 'forwards' });
    expect(seqs(below.messages)).toEqual([1, 2, 3]);
  });
});

describe('MemoryEngine: recover', () => {
  it('replays exactly the messages after the cursor', async () => {
    const { engine } = await setup();
    await publishMany(engine, CH, 5);
    const { epoch } = await engine.position(CH);
    const recovery = await engine.recover(CH, 2, epoch);
    expect(seqs(recovery.messages)).toEqual([3, 4, 5]);
    expect(recovery).toMatchObject({ resumed: true, seq: 5, epoch });
  });

  it('a cursor at the head replays nothing and is resumed', async () => {
    const { engine } = await setup();
    await publishMany(engine, CH, 3);
    const { epoch } = await engine.position(CH);
    expect(await engine.recover(CH, 3, epoch)).toEqual({ messages: [], resumed: true, seq: 3, epoch });
  });

  it('a cursor on a fresh channel resumes with nothing', async () => {
    const { engine } = await setup();
    const recovery = await engine.recover(CH, 0);
    expect(recovery).toMatchObject({ messages: [], resumed: true, seq: 0 });
  });

  it('is not resumed when the cursor is older than retained history', async () => {
    const { engine } = await setup({ historyLimit: 3 });
    await publishMany(engine, CH, 6); // keeps 4, 5, 6
    const { epoch } = await engine.position(CH);

    const justInside = await engine.recover(CH, 3, epoch);
    expect(seqs(justInside.messages)).toEqual([4, 5, 6]);
    expect(justInside.resumed).toBe(true);

    const gap = await engine.recover(CH, 2, epoch);
    expect(seqs(gap.messages)).toEqual([4, 5, 6]);
    expect(gap.resumed).toBe(false);
  });

  it('is not resumed when the retained history aged out past the cursor', async () => {
    vi.useFakeTimers();
    const { engine } = await setup({ historyTtlMs: 1_000 });
    await publishMany(engine, CH, 3);
    const { epoch } = await engine.position(CH);
    vi.advanceTimersByTime(1_001);
    const behind = await engine.recover(CH, 1, epoch);
    expect(behind).toMatchObject({ messages: [], resumed: false, seq: 3 });
    // A client that had seen everything missed nothing.
    expect(await engine.recover(CH, 3, epoch)).toMatchObject({ messages: [], resumed: true });
  });

  it('is not resumed when the epoch differs, and replays what is kept', async () => {
    const { engine } = await setup();
    await publishMany(engine, CH, 4);
    const { epoch } = await engine.position(CH);
    const recovery = await engine.recover(CH, 2, `${epoch}-old`);
    expect(recovery.resumed).toBe(false);
    expect(recovery.epoch).toBe(epoch);
    expect(seqs(recovery.messages)).toEqual([1, 2, 3, 4]);
  });

  it('without an epoch, a cursor beyond the head means a reset stream', async () => {
    const { engine } = await setup();
    await publishMany(engine, CH, 2);
    const recovery = await engine.recover(CH, 9);
    expect(recovery.resumed).toBe(false);
    expect(seqs(recovery.messages)).toEqual([1, 2]);
  });

  it('a channel forgotten after everything aged out comes back with a new epoch', async () => {
    vi.useFakeTimers();
    const { engine } = await setup({ historyTtlMs: 1_000 });
    await publishMany(engine, CH, 3);
    const before = await engine.position(CH);
    vi.advanceTimersByTime(10_000); // past the TTL and through the sweeper
    const after = await engine.position(CH);
    expect(after.epoch).not.toBe(before.epoch);
    expect(after.seq).toBe(0);
    expect((await engine.recover(CH, 3, before.epoch)).resumed).toBe(false);
  });
});

describe('MemoryEngine: presence', () => {
  it('emits enter, update and leave, ref-counted by connection', async () => {
    vi.useFakeTimers({ now: 1_000 });
    const { engine, presence } = await setup();
    // Watchers by client id see the changes with an action; every change also says what happened
    // to the one connection's hold (watchers by connection, Foony's SDK, see those).
    const byClient = () => presence.filter((p) => p.change.action !== null).map((p) => [p.change.action, p.change.member]);
    const byConnection = () => presence.filter((p) => p.change.hold !== null).map((p) => [p.change.hold, p.change.holder]);
    await engine.presenceEnter(CH, { clientId: 'alice', connectionId: 'phone', data: 'online' });
    await engine.presenceEnter(CH, { clientId: 'alice', connectionId: 'laptop', data: 'online' });
    await engine.presenceEnter(CH, { clientId: 'bob', connectionId: 'b1' });
    expect(presence.filter((p) => p.change.action !== null)).toEqual([
      { channelKey: CH, change: { pseq: expect.any(Number), action: 'enter', member: { clientId: 'alice', connectionId: 'phone', data: 'online' }, timestamp: 1_000, hold: 'enter', holder: { clientId: 'alice', connectionId: 'phone', data: 'online' } } },
      { channelKey: CH, change: { pseq: expect.any(Number), action: 'enter', member: { clientId: 'bob', connectionId: 'b1' }, timestamp: 1_000, hold: 'enter', holder: { clientId: 'bob', connectionId: 'b1' } } },
    ]);
    expect(byConnection().map(([action, m]) => [action, (m as { connectionId: string }).connectionId])).toEqual([
      ['enter', 'phone'],
      ['enter', 'laptop'],
      ['enter', 'b1'],
    ]);
    expect((await engine.presenceMembers(CH)).map((m) => m.clientId).sort()).toEqual(['alice', 'bob']);

    presence.length = 0;
    await engine.presenceEnter(CH, { clientId: 'alice', connectionId: 'laptop', data: 'away' });
    expect(byClient()).toEqual([['update', { clientId: 'alice', connectionId: 'laptop', data: 'away' }]]);
    expect(byConnection()).toEqual([['update', { clientId: 'alice', connectionId: 'laptop', data: 'away' }]]);

    presence.length = 0;
    await engine.presenceLeave(CH, 'alice', 'laptop'); // phone still holds alice: her data goes back to 'online'
    await engine.presenceLeave(CH, 'alice', 'phone');
    expect(byClient()).toEqual([
      ['update', { clientId: 'alice', connectionId: 'phone', data: 'online' }],
      ['leave', { clientId: 'alice', connectionId: 'phone', data: 'online' }],
    ]);
    expect(byConnection()).toEqual([
      ['leave', { clientId: 'alice', connectionId: 'laptop', data: 'away' }],
      ['leave', { clientId: 'alice', connectionId: 'phone', data: 'online' }],
    ]);
    expect(await engine.presenceMembers(CH)).toEqual([{ clientId: 'bob', connectionId: 'b1' }]);
  });

  it('a leave that matches nothing is silent', async () => {
    const { engine, presence } = await setup();
    await engine.presenceLeave('app/nowhere', 'alice', 'c1');
    await engine.presenceEnter(CH, { clientId: 'alice', connectionId: 'c1' });
    await engine.presenceLeave(CH, 'alice', 'c2');
    expect(presence.map((p) => p.change.action)).toEqual(['enter']);
    expect(await engine.presenceMembers('app/nowhere')).toEqual([]);
  });

  it('keeps presence per channel', async () => {
    const { engine } = await setup();
    await engine.presenceEnter('app/a', { clientId: 'alice', connectionId: 'c1' });
    expect(await engine.presenceMembers('app/a')).toHaveLength(1);
    expect(await engine.presenceMembers('app/b')).toEqual([]);
  });
});

describe('MemoryEngine: history one app may keep', () => {
  it('past maxHistoryBytesPerApp publishes are refused with 42900 for that app only, until history ages out', async () => {
    vi.useFakeTimers({ now: 10_000 });
    const { engine } = await setup({ maxHistoryBytesPerApp: 200_000, historyTtlMs: 60_000 });
    const big = 'x'.repeat(4000);
    let refused: unknown;
    let kept = 0;
    for (let i = 0; i < 200 && !refused; i++) {
      try {
        await engine.publish(`greedy/ch-${i % 20}`, { name: 'n', data: big, messageId: `m${i}` });
        kept++;
      } catch (err) {
        refused = err;
      }
    }
    expect(refused).toMatchObject({ code: 42900 });
    // About the budget, whatever channels it was spread over (each channel also counts its overhead).
    expect(kept * 4000).toBeLessThan(200_000 + 8000);
    expect(kept * 4000).toBeGreaterThan(200_000 - 20 * 2048 - 8000);
    // Another app is not affected.
    await expect(engine.publish('other/ch', { name: 'n', data: big, messageId: 'o1' })).resolves.toMatchObject({ duplicate: false });
    // Ephemeral messages keep no history and are not refused.
    await expect(engine.publish('greedy/ch-0', { name: 'n', data: big, messageId: 'e1', ephemeral: true })).resolves.toMatchObject({ duplicate: false });
    // Once history ages out (the next 5-s sweep trims it), the app may publish again.
    await vi.advanceTimersByTimeAsync(66_000);
    await expect(engine.publish('greedy/ch-0', { name: 'n', data: big, messageId: 'after' })).resolves.toMatchObject({ duplicate: false });
    vi.useRealTimers();
  });
});
