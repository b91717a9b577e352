import { describe, expect, it, vi } from 'vitest';
import type { RealtimeEvent } from '@hubbub/protocol';
import { startKit } from './kit.js';
import { topicKey } from '../../src/core/events.js';
import type { Engine } from '../../src/core/engine.js';

const TOPIC = 'orders';
let ids = 0;
function event(n: number): RealtimeEvent {
  return { id: `e${++ids}`, topic: TOPIC, source: 'database', type: 'row', payload: { n, pad: 'x'.repeat(200) }, metadata: { timestamp: Date.now() } };
}
async function publishEvents(engine: Engine, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const data = event(i);
    await engine.publish(topicKey('app', TOPIC), { name: 'row', data, messageId: data.id });
  }
}

/** The next recover call first lets `count` events be published: history moves past the catch-up's cursor. */
function historyMovesOnSecondPage(engine: Engine, count: number): () => void {
  const real = engine.recover.bind(engine);
  let calls = 0;
  const spy = vi.spyOn(engine, 'recover').mockImplementation(async (...args) => {
    if (++calls === 2) await publishEvents(engine, count);
    return real(...args);
  });
  return () => spy.mockRestore();
}

describe('topic resume whose catch-up stops with 50300', () => {
  it('a retry of the same subscription id is acked and then gets live events', async () => {
    const kit = await startKit({ limits: { maxReplayChunkBytes: 1000 } });
    const engine = kit.nodes[0]!.engine;
    await publishEvents(engine, 20);
    const ada = await kit.connect({ clientId: 'ada' });
    const restore = historyMovesOnSecondPage(engine, 100);
    const failed = await ada.request({ t: 'tsub', sid: 's1', topic: TOPIC, lastSerial: 0 });
    restore();
    expect(failed).toMatchObject({ t: 'err', code: 50300 });
    // Resume again from what was received, as the error says.
    const got = ada.all('evt').map((e) => e.seq!);
    const again = await ada.request({ t: 'tsub', sid: 's1', topic: TOPIC, lastSerial: got.at(-1) ?? 0 });
    expect(again).toMatchObject({ t: 'ack' });
    const before = ada.all('evt').length;
    await publishEvents(engine, 1);
    await ada.sync();
    expect(ada.all('evt').length).toBe(before + 1);
  });

  it('a failed topic subscription leaves no subscription behind (it holds no place)', async () => {
    const kit = await startKit({ limits: { maxReplayChunkBytes: 1000, maxSubscriptions: 1 } });
    const engine = kit.nodes[0]!.engine;
    await publishEvents(engine, 20);
    const ada = await kit.connect({ clientId: 'ada' });
    const restore = historyMovesOnSecondPage(engine, 100);
    expect(await ada.request({ t: 'tsub', sid: 's1', topic: TOPIC, lastSerial: 0 })).toMatchObject({ t: 'err', code: 50300 });
    restore();
    // The only place is free again, as it is after a failed channel subscription.
    expect(await ada.request({ t: 'sub', channel: 'chat' })).toMatchObject({ t: 'ack' });
  });
});
