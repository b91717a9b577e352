import { expect } from 'vitest';
import type { DefineCase } from '../suite.js';
import { CH, publishMany, seqs } from '../fixtures.js';

/** How much of the past is kept: by count, by age, per namespace, per app. */
export function retentionCases(test: DefineCase): void {
  test('keeps at most historyLimit messages, the newest', {}, async ({ node }) => {
    const { engine } = await node({ historyLimit: 5 });
    await publishMany(engine, CH, 8);
    const page = await engine.history(CH, { limit: 100, direction: 'backwards' });
    expect(seqs(page.messages)).toEqual([4, 5, 6, 7, 8]);
    expect(page.more).toBe(false);
  });

  test('drops messages older than historyTtlMs', {}, async ({ node, clock }) => {
    const time = clock();
    const { engine } = await node({ historyTtlMs: 1_000 });
    await publishMany(engine, CH, 2);
    await time.elapse(500);
    await publishMany(engine, CH, 1);
    await time.elapse(501);
    const page = await engine.history(CH, { limit: 100, direction: 'backwards' });
    expect(seqs(page.messages)).toEqual([3]);
  });

  test("a namespace's historyLimit overrides the default for its channels only", {}, async ({ node }) => {
    const { engine } = await node({ historyLimit: 10, namespaces: { brief: { historyLimit: 2 } } });
    for (const ch of ['app/brief:x', 'app/chat', 'app/brief', 'other/brief:y']) await publishMany(engine, ch, 5);
    const kept = async (ch: string) => seqs((await engine.history(ch, { limit: 100, direction: 'forwards' })).messages);
    expect(await kept('app/brief:x')).toEqual([4, 5]);
    // Another app's channel in the namespace too: namespaces are by channel name, whatever the app.
    expect(await kept('other/brief:y')).toEqual([4, 5]);
    // `brief` with no `:` is a channel, not the namespace.
    expect(await kept('app/brief')).toEqual([1, 2, 3, 4, 5]);
    expect(await kept('app/chat')).toEqual([1, 2, 3, 4, 5]);
  });

  test("a namespace's historyTtlMs overrides the default for its channels only", {}, async ({ node, clock }) => {
    const time = clock();
    const { engine } = await node({ historyTtlMs: 60_000, namespaces: { fleeting: { historyTtlMs: 1_000 } } });
    await publishMany(engine, 'app/fleeting:x', 2);
    await publishMany(engine, CH, 2);
    await time.elapse(1_001);
    expect((await engine.history('app/fleeting:x', { limit: 100, direction: 'forwards' })).messages).toEqual([]);
    expect(seqs((await engine.history(CH, { limit: 100, direction: 'forwards' })).messages)).toEqual([1, 2]);
    const recovery = await engine.recover('app/fleeting:x', 1, (await engine.position('app/fleeting:x')).epoch);
    expect(recovery).toMatchObject({ messages: [], resumed: false, seq: 2 });
  });

  test(
    'past maxHistoryBytesPerApp publishes are refused with 42900 for that app only, until history ages out',
    { needs: 'appHistoryBytes' },
    async ({ node, clock }) => {
      const time = clock();
      const { engine } = await node({ maxHistoryBytesPerApp: 200_000, historyTtlMs: 60_000 });
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
      // Once history ages out (and the engine has noticed), the app may publish again.
      await time.elapse(66_000);
      await expect(engine.publish('greedy/ch-0', { name: 'n', data: big, messageId: 'after' })).resolves.toMatchObject({ duplicate: false });
    },
  );
}
