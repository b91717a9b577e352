import { describe, expect, it } from 'vitest';
import { startKit } from './kit.js';

/**
 * The binary dialect through the same kit (docs/compat-foony.md): its first message picks it, and
 * it shares channels and presence with JSON connections.
 */
describe('a binary-dialect session', () => {
  it('authenticates, subscribes and publishes with JSON connections on the same channel', async () => {
    const kit = await startKit();
    const foo = await kit.connect({ clientId: 'foo', dialect: 'binary' });
    expect(foo.frames[0]).toMatchObject({ t: 'connected', clientId: 'foo' });
    const bob = await kit.connect({ clientId: 'bob' });
    await foo.request({ t: 'sub', channel: 'chat' });
    await bob.request({ t: 'sub', channel: 'chat' });

    expect(await bob.publish('chat', { from: 'json' })).toMatchObject({ t: 'ack', seq: 1 });
    expect(await foo.publish('chat', { from: 'binary' })).toMatchObject({ t: 'ack', seq: 2 });
    await foo.until({ t: 'msg', seq: 2 });
    await bob.until({ t: 'msg', seq: 2 });
    const seen = [[1, { from: 'json' }, 'bob'], [2, { from: 'binary' }, 'foo']];
    // Binary connections always receive their own publishes (no echo slot).
    expect(foo.all('msg').map((m) => [m.seq, m.data, m.clientId])).toEqual(seen);
    expect(bob.all('msg').map((m) => [m.seq, m.data, m.clientId])).toEqual(seen);
  });

  it('sees every connection as its own member: two connections of one client id are two enters', async () => {
    const kit = await startKit();
    const watcher = await kit.connect({ clientId: 'w', dialect: 'binary' });
    await watcher.request({ t: 'presSub', channel: 'room' });
    const tab1 = await kit.connect({ clientId: 'ada', dialect: 'binary' });
    const tab2 = await kit.connect({ clientId: 'ada' });
    await tab1.request({ t: 'pres', channel: 'room', action: 'enter' });
    await tab2.request({ t: 'pres', channel: 'room', action: 'enter' });
    await watcher.sync();
    expect(watcher.all('presEvt').map((e) => [e.action, e.clientId, e.connectionId])).toEqual([
      ['enter', 'ada', tab1.connectionId],
      ['enter', 'ada', tab2.connectionId],
    ]);
    tab1.close();
    expect(await watcher.next({ t: 'presEvt', action: 'leave' })).toMatchObject({ clientId: 'ada', connectionId: tab1.connectionId });
  });

  it('closes with 4102 as soon as its token runs out, after the 40102: it renews by reconnecting', async () => {
    const kit = await startKit();
    const foo = await kit.connect({ clientId: 'foo', dialect: 'binary', ttlMs: 20_000 });
    await kit.advance(19_999);
    expect(foo.closes).toEqual([]);
    await kit.advance(1);
    expect(foo.all('err').map((e) => e.code)).toEqual([40102]);
    // No grace period: a zero-delay timer set while the fake clock ticks runs one fake millisecond
    // later (@sinonjs/fake-timers), far inside the grace a JSON connection gets.
    await kit.advance(1);
    expect(foo.closes).toEqual([4102]);
    expect(kit.limits.authGraceMs).toBeGreaterThan(1);
  });
});
