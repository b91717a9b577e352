import { expect } from 'vitest';
import type { DefineCase } from '../suite.js';
import { CH, draft, range, seqs } from '../fixtures.js';

/** Serials, the stored form, dedup (by client id and by dedup scope) and ephemeral messages. */
export function publishCases(test: DefineCase): void {
  test('gives contiguous serials per channel, starting at 1', {}, async ({ node }) => {
    const n = await node();
    await n.engine.listen('app/a');
    await n.engine.listen('app/b');
    const a: Array<number | undefined> = [];
    const b: Array<number | undefined> = [];
    for (let i = 0; i < 5; i++) {
      a.push((await n.engine.publish('app/a', draft())).seq);
      if (i % 2 === 0) b.push((await n.engine.publish('app/b', draft())).seq);
    }
    expect(a).toEqual([1, 2, 3, 4, 5]);
    expect(b).toEqual([1, 2, 3]);
    expect(seqs(await n.received('app/a', 5))).toEqual([1, 2, 3, 4, 5]);
    expect(await n.engine.position('app/a')).toMatchObject({ seq: 5 });
    expect(await n.engine.position('app/b')).toMatchObject({ seq: 3 });
  });

  test('delivers the stored message with its draft fields and a timestamp', {}, async ({ node }) => {
    const n = await node();
    await n.engine.listen(CH);
    const message = draft({ name: 'typing', data: [1, 2], connectionId: 'conn-1', encoding: 'json' });
    const before = Date.now();
    await n.engine.publish(CH, message);
    const after = Date.now();
    const [got] = await n.received(CH, 1);
    expect(got).toEqual({ ...message, seq: 1, timestamp: expect.any(Number) });
    expect(got.timestamp).toBeGreaterThanOrEqual(before);
    expect(got.timestamp).toBeLessThanOrEqual(after);
  });

  test('collapses a resend within the dedup window: original seq, delivered once, stored once', {}, async ({ node, clock }) => {
    const time = clock();
    const n = await node({ dedupWindowMs: 1_000 });
    await n.engine.listen(CH);
    const first = draft({ messageId: 'resend-me' });
    expect(await n.engine.publish(CH, first)).toEqual({ seq: 1, duplicate: false });
    await n.engine.publish(CH, draft());
    await time.elapse(500);
    expect(await n.engine.publish(CH, { ...first, data: 'changed on resend' })).toEqual({ seq: 1, duplicate: true });
    await n.engine.publish(CH, draft({ name: 'marker' }));

    expect((await n.received(CH, 3)).map((m) => m.messageId)).toEqual(['resend-me', expect.any(String), expect.any(String)]);
    const page = await n.engine.history(CH, { limit: 100, direction: 'backwards' });
    expect(seqs(page.messages)).toEqual([1, 2, 3]);
    expect(page.messages[0].data).toEqual(first.data);
  });

  test('forgets a messageId once the dedup window has passed', {}, async ({ node, clock }) => {
    const time = clock();
    const n = await node({ dedupWindowMs: 1_000 });
    await n.engine.listen(CH);
    await n.engine.publish(CH, draft({ messageId: 'again' }));
    await time.elapse(1_001);
    expect(await n.engine.publish(CH, draft({ messageId: 'again' }))).toEqual({ seq: 2, duplicate: false });
    expect(await n.received(CH, 2)).toHaveLength(2);
  });

  test('with a dedup window of 0 collapses nothing, and publishes still work', {}, async ({ node }) => {
    const n = await node({ dedupWindowMs: 0 });
    await n.engine.listen(CH);
    expect(await n.engine.publish(CH, draft({ messageId: 'again' }))).toEqual({ seq: 1, duplicate: false });
    expect(await n.engine.publish(CH, draft({ messageId: 'again' }))).toEqual({ seq: 2, duplicate: false });
    expect(await n.received(CH, 2)).toHaveLength(2);
  });

  test('dedups per client and per channel only', {}, async ({ node }) => {
    const { engine } = await node();
    expect(await engine.publish(CH, draft({ messageId: 'same', clientId: 'alice' }))).toEqual({ seq: 1, duplicate: false });
    expect(await engine.publish(CH, draft({ messageId: 'same', clientId: 'bob' }))).toEqual({ seq: 2, duplicate: false });
    expect(await engine.publish('app/other', draft({ messageId: 'same', clientId: 'alice' }))).toEqual({ seq: 1, duplicate: false });
    expect(await engine.publish(CH, draft({ messageId: 'same', clientId: 'bob' }))).toEqual({ seq: 2, duplicate: true });
  });

  test("a dedup scope keeps its ids apart from the client id's and from other scopes", {}, async ({ node }) => {
    const { engine } = await node();
    const id = { messageId: 'order-1' };
    expect(await engine.publish(CH, draft({ ...id, clientId: 'ann' }))).toEqual({ seq: 1, duplicate: false });
    expect(await engine.publish(CH, draft({ ...id, clientId: 'ann', dedupScope: 'key/k1' }))).toEqual({ seq: 2, duplicate: false });
    expect(await engine.publish(CH, draft({ ...id, clientId: undefined, dedupScope: 'key/k2' }))).toEqual({ seq: 3, duplicate: false });
    // The scope, not the client id, says whose ids these are.
    expect(await engine.publish(CH, draft({ ...id, clientId: 'ben', dedupScope: 'key/k1' }))).toEqual({ seq: 2, duplicate: true });
    expect(await engine.publish(CH, draft({ ...id, clientId: undefined, dedupScope: 'key/k2' }))).toEqual({ seq: 3, duplicate: true });
    expect(await engine.publish(CH, draft({ ...id, clientId: 'ann' }))).toEqual({ seq: 1, duplicate: true });
  });

  test('the dedup scope is neither stored nor delivered', {}, async ({ node }) => {
    const n = await node();
    await n.engine.listen(CH);
    await n.engine.publish(CH, draft({ clientId: undefined, dedupScope: 'key/k1', data: 'from a key' }));
    const [delivered] = await n.received(CH, 1);
    const [stored] = (await n.engine.history(CH, { limit: 10, direction: 'forwards' })).messages;
    const [recovered] = (await n.engine.recover(CH, 0)).messages;
    for (const m of [delivered, stored, recovered]) {
      expect(m.data).toBe('from a key');
      expect(m.clientId).toBeUndefined();
      expect(m).not.toHaveProperty('dedupScope', expect.anything());
      expect(JSON.stringify(m)).not.toContain('key/k1');
    }
  });

  test('ephemeral messages are delivered without a seq, kept out of history, and use no serial', {}, async ({ node }) => {
    const n = await node();
    await n.engine.listen(CH);
    await n.engine.publish(CH, draft());
    const cursor = draft({ ephemeral: true, name: 'cursor' });
    const result = await n.engine.publish(CH, cursor);
    expect(result).toEqual({ seq: undefined, duplicate: false });
    expect((await n.engine.publish(CH, draft())).seq).toBe(2);
    // A resend of an ephemeral message is collapsed too, and still has no serial.
    expect(await n.engine.publish(CH, cursor)).toEqual({ seq: undefined, duplicate: true });

    await n.engine.publish(CH, draft({ name: 'marker' }));
    expect((await n.received(CH, 4)).map((m) => [m.name, m.seq])).toEqual([
      ['msg', 1],
      ['cursor', undefined],
      ['msg', 2],
      ['marker', 3],
    ]);
    const page = await n.engine.history(CH, { limit: 100, direction: 'backwards' });
    expect(page.messages.map((m) => m.name)).toEqual(['msg', 'msg', 'marker']);
    const recovery = await n.engine.recover(CH, 0);
    expect(recovery.messages.map((m) => m.name)).toEqual(['msg', 'msg', 'marker']);
    expect(seqs(recovery.messages)).toEqual(range(1, 3));
  });
}
