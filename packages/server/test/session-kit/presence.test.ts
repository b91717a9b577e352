import { describe, expect, it } from 'vitest';
import { startKit } from './kit.js';

/** docs/protocol.md: the `pres` and `presSub` rows and "Presence serials" (JSON connections see members by client id). */
describe('presence between sessions', () => {
  it('shows another session the enter and, when the connection closes, the leave, in presence-serial order', async () => {
    const kit = await startKit();
    const ada = await kit.connect({ clientId: 'ada' });
    const bob = await kit.connect({ clientId: 'bob' });
    const watch = await bob.request({ t: 'presSub', channel: 'room' });
    expect(watch).toMatchObject({ t: 'ack', members: [] });
    const since = watch.t === 'ack' ? watch.pseq! : 0;

    const entered = await ada.request({ t: 'pres', channel: 'room', action: 'enter', data: { mood: 'calm' } });
    expect(entered).toMatchObject({ t: 'ack', action: 'enter' });
    const enter = await bob.next({ t: 'presEvt' });
    expect(enter).toMatchObject({ channel: 'room', action: 'enter', clientId: 'ada', connectionId: ada.connectionId, data: { mood: 'calm' } });
    expect(enter.pseq).toBe(entered.t === 'ack' ? entered.pseq : undefined);
    expect(enter.pseq).toBeGreaterThan(since);

    // A watcher that comes later finds ada in the ack's member list.
    const carol = await kit.connect({ clientId: 'carol' });
    expect(await carol.request({ t: 'presSub', channel: 'room' })).toMatchObject({
      members: [{ clientId: 'ada', connectionId: ada.connectionId, data: { mood: 'calm' } }],
    });

    ada.close();
    const leave = await bob.next({ t: 'presEvt' });
    expect(leave).toMatchObject({ action: 'leave', clientId: 'ada' });
    expect(leave.pseq).toBeGreaterThan(enter.pseq!);
    expect(await carol.next({ t: 'presEvt' })).toMatchObject({ action: 'leave', clientId: 'ada' });
  });

  it('counts a second connection of the same client id as no change: one enter, and the leave when the last goes', async () => {
    const kit = await startKit();
    const bob = await kit.connect({ clientId: 'bob' });
    await bob.request({ t: 'presSub', channel: 'room' });
    const tab1 = await kit.connect({ clientId: 'ada' });
    const tab2 = await kit.connect({ clientId: 'ada' });
    expect(await tab1.request({ t: 'pres', channel: 'room', action: 'enter' })).toMatchObject({ action: 'enter' });
    const second = await tab2.request({ t: 'pres', channel: 'room', action: 'enter' });
    expect(second).toMatchObject({ t: 'ack' });
    expect(second).not.toHaveProperty('action');
    tab1.close();
    await bob.sync();
    expect(bob.all('presEvt').map((e) => e.action)).toEqual(['enter']);
    tab2.close();
    await bob.until({ t: 'presEvt', action: 'leave' });
    expect(bob.all('presEvt').map((e) => [e.action, e.clientId])).toEqual([
      ['enter', 'ada'],
      ['leave', 'ada'],
    ]);
  });
});
