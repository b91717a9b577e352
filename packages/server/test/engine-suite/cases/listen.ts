import { expect } from 'vitest';
import type { DefineCase } from '../suite.js';
import { CH, draft, seqs } from '../fixtures.js';

/** `listen` / `unlisten`: a node gets a channel's messages and presence changes only while it listens. */
export function listenCases(test: DefineCase): void {
  test('delivers only while the channel is listened to', {}, async ({ node }) => {
    const n = await node();
    await n.engine.publish(CH, draft());
    await n.engine.listen(CH);
    await n.engine.listen(CH); // idempotent
    await n.engine.publish(CH, draft());
    // What is on its way when the node stops listening may be dropped: nobody here wants it.
    await n.received(CH, 1);
    n.engine.unlisten(CH);
    await n.engine.publish(CH, draft());
    // Listening again brings later messages, never the one published while away.
    await n.engine.listen(CH);
    await n.engine.publish(CH, draft({ name: 'marker' }));
    await n.received(CH, 2);
    expect(seqs(n.delivered(CH))).toEqual([2, 4]);
  });

  test('listen resolves once deliveries flow: a cursor read afterwards misses nothing', {}, async ({ node }) => {
    const n = await node();
    await n.engine.publish(CH, draft());
    await n.engine.listen(CH);
    const { seq } = await n.engine.position(CH);
    await n.engine.publish(CH, draft());
    expect(seq).toBe(1);
    expect(seqs(await n.received(CH, 1))).toEqual([2]);
  });

  test('unlisten of a channel never listened to changes nothing', {}, async ({ node }) => {
    const n = await node();
    n.engine.unlisten('app/never');
    await n.engine.listen(CH);
    n.engine.unlisten('app/never');
    await n.engine.publish(CH, draft());
    expect(seqs(await n.received(CH, 1))).toEqual([1]);
  });

  test('presence changes reach a node only while it listens to the channel', {}, async ({ node }) => {
    const n = await node();
    await n.engine.presenceEnter(CH, { clientId: 'ann', connectionId: 'c1' });
    await n.engine.listen(CH);
    await n.engine.presenceEnter(CH, { clientId: 'ben', connectionId: 'c2' });
    await n.announced(CH, 1);
    n.engine.unlisten(CH);
    await n.engine.presenceEnter(CH, { clientId: 'cat', connectionId: 'c3' });
    await n.engine.listen(CH);
    await n.engine.presenceEnter(CH, { clientId: 'dan', connectionId: 'c4' });
    await n.announced(CH, 2);
    expect(n.changes(CH).map((c) => c.member.clientId)).toEqual(['ben', 'dan']);
  });
}
