import { expect } from 'vitest';
import type { DefineCase } from '../suite.js';
import { CH, draft, publishMany, seqs } from '../fixtures.js';

/** `recover` and `position`: cursors, epochs, and whether a cursor resumed without a gap. */
export function recoverCases(test: DefineCase): void {
  test('replays exactly the messages after the cursor', {}, async ({ node }) => {
    const { engine } = await node();
    await publishMany(engine, CH, 5);
    const { epoch } = await engine.position(CH);
    const recovery = await engine.recover(CH, 2, epoch);
    expect(seqs(recovery.messages)).toEqual([3, 4, 5]);
    expect(recovery).toMatchObject({ resumed: true, seq: 5, epoch });
  });

  test('a cursor at the head replays nothing and is resumed', {}, async ({ node }) => {
    const { engine } = await node();
    await publishMany(engine, CH, 3);
    const { epoch } = await engine.position(CH);
    expect(await engine.recover(CH, 3, epoch)).toEqual({ messages: [], resumed: true, seq: 3, epoch });
  });

  test('a cursor on a fresh channel resumes with nothing', {}, async ({ node }) => {
    const { engine } = await node();
    const recovery = await engine.recover(CH, 0);
    expect(recovery).toMatchObject({ messages: [], resumed: true, seq: 0 });
  });

  test('the epoch of a channel stays put from its first position on, through its first publishes', {}, async ({ node }) => {
    const { engine } = await node();
    const fresh = await engine.position(CH);
    expect(fresh).toEqual({ seq: 0, epoch: expect.any(String) });
    expect(fresh.epoch).not.toBe('');
    await publishMany(engine, CH, 2);
    expect(await engine.position(CH)).toEqual({ seq: 2, epoch: fresh.epoch });
    expect(await engine.recover(CH, 0, fresh.epoch)).toMatchObject({ resumed: true, epoch: fresh.epoch });
    expect((await engine.position('app/elsewhere')).epoch).not.toBe(fresh.epoch);
  });

  test('is not resumed when the cursor is older than retained history', {}, async ({ node }) => {
    const { engine } = await node({ historyLimit: 3 });
    await publishMany(engine, CH, 6); // keeps 4, 5, 6
    const { epoch } = await engine.position(CH);

    const justInside = await engine.recover(CH, 3, epoch);
    expect(seqs(justInside.messages)).toEqual([4, 5, 6]);
    expect(justInside.resumed).toBe(true);

    const gap = await engine.recover(CH, 2, epoch);
    expect(seqs(gap.messages)).toEqual([4, 5, 6]);
    expect(gap.resumed).toBe(false);
  });

  test('is not resumed when the retained history aged out past the cursor', {}, async ({ node, clock }) => {
    const time = clock();
    const { engine } = await node({ historyTtlMs: 1_000 });
    await publishMany(engine, CH, 3);
    const { epoch } = await engine.position(CH);
    await time.elapse(1_001);
    const behind = await engine.recover(CH, 1, epoch);
    expect(behind).toMatchObject({ messages: [], resumed: false, seq: 3 });
    // A client that had seen everything missed nothing.
    expect(await engine.recover(CH, 3, epoch)).toMatchObject({ messages: [], resumed: true });
  });

  test('is not resumed when the epoch differs, and replays what is kept', {}, async ({ node }) => {
    const { engine } = await node();
    await publishMany(engine, CH, 4);
    const { epoch } = await engine.position(CH);
    const recovery = await engine.recover(CH, 2, `${epoch}-old`);
    expect(recovery.resumed).toBe(false);
    expect(recovery.epoch).toBe(epoch);
    expect(seqs(recovery.messages)).toEqual([1, 2, 3, 4]);
  });

  test('without an epoch, a cursor beyond the head means a reset stream', {}, async ({ node }) => {
    const { engine } = await node();
    await publishMany(engine, CH, 2);
    const recovery = await engine.recover(CH, 9);
    expect(recovery.resumed).toBe(false);
    expect(seqs(recovery.messages)).toEqual([1, 2]);
  });

  test('a channel forgotten after everything aged out comes back with a new epoch', {}, async ({ node, clock }) => {
    const time = clock();
    const { engine } = await node({ historyTtlMs: 1_000 });
    await publishMany(engine, CH, 3);
    const before = await engine.position(CH);
    // Past the TTL, and past whatever forgets the channel (a sweep, an expiry).
    await time.until(async () => (await engine.position(CH)).epoch !== before.epoch, 'the channel forgotten', 15_000);
    const after = await engine.position(CH);
    expect(after.epoch).not.toBe(before.epoch);
    expect(after.seq).toBe(0);
    expect((await engine.recover(CH, 3, before.epoch)).resumed).toBe(false);
  });

  test('with maxBytes, recovers in pages: at least one message each, more until the end, joined they are the whole recovery', {}, async ({ node }) => {
    const { engine } = await node();
    const text = 'x'.repeat(1000);
    for (let i = 0; i < 40; i++) await engine.publish(CH, draft({ data: text, messageId: `big-${i}` }));
    const { epoch } = await engine.position(CH);
    const whole = await engine.recover(CH, 3, epoch);
    expect(whole.more).toBeUndefined();
    const pages = [];
    let from = 3;
    for (;;) {
      const page = await engine.recover(CH, from, epoch, 4500);
      expect(page).toMatchObject({ resumed: true, seq: 40, epoch });
      expect(page.messages.length).toBeGreaterThan(0);
      expect(page.messages.length).toBeLessThanOrEqual(5);
      pages.push(page);
      from = page.messages.at(-1)!.seq!;
      if (!page.more) break;
    }
    expect(pages.length).toBeGreaterThan(6);
    expect(pages.flatMap((p) => p.messages)).toEqual(whole.messages);
    // A budget smaller than one message still moves on by one.
    expect(seqs((await engine.recover(CH, 10, epoch, 1)).messages)).toEqual([11]);
    expect(await engine.recover(CH, 40, epoch, 1)).toMatchObject({ messages: [], more: false, resumed: true });
  });

  test('with maxBytes, a cursor of another epoch gets the first page of what is kept, not resumed', {}, async ({ node }) => {
    const { engine } = await node();
    for (let i = 0; i < 10; i++) await engine.publish(CH, draft({ data: 'y'.repeat(1000), messageId: `e-${i}` }));
    const { epoch } = await engine.position(CH);
    const page = await engine.recover(CH, 5, `${epoch}-old`, 2500);
    expect(page).toMatchObject({ resumed: false, more: true, epoch });
    expect(seqs(page.messages)).toEqual([1, 2]);
  });
}
