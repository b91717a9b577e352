import { describe, expect, it, vi } from 'vitest';
import type { RealtimeEvent } from '@hubbub/protocol';
import { startKit } from './kit.js';
import { topicKey } from '../../src/core/events.js';
import type { Engine } from '../../src/core/engine.js';

const TOPIC = 'orders';
let ids = 0;
async function publishEvents(engine: Engine, count: number, payload: Record<string, unknown>): Promise<void> {
  for (let i = 0; i < count; i++) {
    const data: RealtimeEvent = { id: `e${++ids}`, topic: TOPIC, source: 'database', type: 'row', payload: { ...payload, pad: 'x'.repeat(200) }, metadata: { timestamp: Date.now() } };
    await engine.publish(topicKey('app', TOPIC), { name: 'row', data, messageId: data.id });
  }
}

describe('topic resume on a topic the connection already watches, over several pages', () => {
  it('sends an event that arrives during the catch-up once, in serial order', async () => {
    const kit = await startKit({ limits: { maxReplayChunkBytes: 1000 } });
    const engine = kit.nodes[0]!.engine;
    const ada = await kit.connect({ clientId: 'ada' });
    // s1 watches kind=a live; s2 (kind=b) resumes from 0 on the same topic.
    expect(await ada.request({ t: 'tsub', sid: 's1', topic: TOPIC, filter: { kind: 'a' } })).toMatchObject({ t: 'ack' });
    await publishEvents(engine, 20, { kind: 'b' });
    const real = engine.recover.bind(engine);
    let calls = 0;
    vi.spyOn(engine, 'recover').mockImplementation(async (...args) => {
      // Between the first page and the second, one more kind=b event is published.
      if (++calls === 2) await publishEvents(engine, 1, { kind: 'b' });
      return real(...args);
    });
    expect(await ada.request({ t: 'tsub', sid: 's2', topic: TOPIC, filter: { kind: 'b' }, lastSerial: 0 })).toMatchObject({ t: 'ack' });
    await ada.sync();
    const seqs = ada.all('evt').map((e) => e.seq!);
    expect(seqs).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
  });
});
