import { describe, expect, it } from 'vitest';
import { startKit } from './kit.js';

/** Two nodes on one EngineBus (as on one Redis): channels and presence reach sessions of the other node. */
describe('sessions on two nodes', () => {
  it('delivers a publish made on one node to a subscriber on the other, in serial order', async () => {
    const kit = await startKit({ nodes: 2 });
    const ada = await kit.connect({ clientId: 'ada', node: 0 });
    const bob = await kit.connect({ clientId: 'bob', node: 1 });
    await ada.request({ t: 'sub', channel: 'chat' });
    const replies = await Promise.all([1, 2, 3].map((n) => bob.publish('chat', n)));
    expect(replies.map((r) => r.t === 'ack' && r.seq)).toEqual([1, 2, 3]);
    await ada.until({ t: 'msg', seq: 3 });
    expect(ada.all('msg').map((m) => [m.seq, m.data, m.clientId])).toEqual([
      [1, 1, 'bob'],
      [2, 2, 'bob'],
      [3, 3, 'bob'],
    ]);
  });

  it('shows a watcher on one node the enter and leave of a member on the other', async () => {
    const kit = await startKit({ nodes: 2 });
    const watcher = await kit.connect({ clientId: 'w', node: 0 });
    await watcher.request({ t: 'presSub', channel: 'room' });
    const ada = await kit.connect({ clientId: 'ada', node: 1 });
    await ada.request({ t: 'pres', channel: 'room', action: 'enter', data: 'hi' });
    expect(await watcher.next({ t: 'presEvt' })).toMatchObject({ action: 'enter', clientId: 'ada', data: 'hi' });
    ada.close();
    expect(await watcher.next({ t: 'presEvt' })).toMatchObject({ action: 'leave', clientId: 'ada' });
  });
});
