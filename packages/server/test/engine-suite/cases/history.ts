import { expect } from 'vitest';
import type { Engine } from '../../../src/core/engine.js';
import type { DefineCase } from '../suite.js';
import { CH, draft, publishMany, range, seqs } from '../fixtures.js';

/** Messages of one size, so a byte budget holds a known number of them. */
async function publishSized(engine: Engine, count: number): Promise<number> {
  for (let i = 0; i < count; i++) await engine.publish(CH, { name: 'n', data: 'x'.repeat(100), messageId: `sized-${String(i).padStart(3, '0')}` });
  const [one] = (await engine.history(CH, { limit: 1, direction: 'forwards' })).messages;
  return Buffer.byteLength(JSON.stringify(one));
}

/** `history`: pages in both directions, `before`, `maxBytes`. */
export function historyCases(test: DefineCase): void {
  test('is empty for a channel never published to', {}, async ({ node }) => {
    const { engine } = await node();
    expect(await engine.history('app/none', { limit: 10, direction: 'backwards' })).toEqual({ messages: [], more: false });
    expect(await engine.history('app/none', { limit: 10, direction: 'forwards' })).toEqual({ messages: [], more: false });
  });

  test('pages backwards with before: newest page first, each page oldest first', {}, async ({ node }) => {
    const { engine } = await node();
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

  test('pages forwards from the oldest', {}, async ({ node }) => {
    const { engine } = await node();
    await publishMany(engine, CH, 10);
    const page = await engine.history(CH, { limit: 3, direction: 'forwards' });
    expect(seqs(page.messages)).toEqual([1, 2, 3]);
    expect(page.more).toBe(true);
    const all = await engine.history(CH, { limit: 10, direction: 'forwards' });
    expect(seqs(all.messages)).toEqual(range(1, 10));
    expect(all.more).toBe(false);
    const below = await engine.history(CH, { limit: 10, before: 4, direction: 'forwards' });
    expect(seqs(below.messages)).toEqual([1, 2, 3]);
    expect(below.more).toBe(false);
  });

  test('maxBytes ends a page once its messages pass the budget, newest kept when paging backwards', {}, async ({ node }) => {
    const { engine } = await node();
    const size = await publishSized(engine, 10);
    const page = await engine.history(CH, { limit: 10, direction: 'backwards', maxBytes: 3 * size + size / 2 });
    expect(seqs(page.messages)).toEqual([8, 9, 10]);
    expect(page.more).toBe(true);
    const next = await engine.history(CH, { limit: 10, before: 8, direction: 'backwards', maxBytes: 3 * size });
    expect(seqs(next.messages)).toEqual([5, 6, 7]);
    expect(next.more).toBe(true);
    // Within the budget the limit still decides; a budget that fits everything leaves nothing more.
    expect(seqs((await engine.history(CH, { limit: 2, direction: 'backwards', maxBytes: 100 * size })).messages)).toEqual([9, 10]);
    expect(await engine.history(CH, { limit: 10, direction: 'backwards', maxBytes: 11 * size })).toMatchObject({ more: false });
  });

  test('maxBytes pages forwards from the oldest, and a page holds at least one message', {}, async ({ node }) => {
    const { engine } = await node();
    const size = await publishSized(engine, 5);
    const page = await engine.history(CH, { limit: 10, direction: 'forwards', maxBytes: 2 * size });
    expect(seqs(page.messages)).toEqual([1, 2]);
    expect(page.more).toBe(true);
    const tiny = await engine.history(CH, { limit: 10, direction: 'forwards', maxBytes: 1 });
    expect(seqs(tiny.messages)).toEqual([1]);
    expect(tiny.more).toBe(true);
    const newest = await engine.history(CH, { limit: 10, direction: 'backwards', maxBytes: 1 });
    expect(seqs(newest.messages)).toEqual([5]);
    expect(newest.more).toBe(true);
  });
}
