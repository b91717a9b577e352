import { describe, expect, it } from 'vitest';
import { startKit } from './kit.js';

/** docs/protocol.md: the `sub` and `pub` rows, "Serials, epochs and recovery", "Exactly-once publish". */
describe('channels between two sessions', () => {
  it('acks each publish with the next serial and delivers the messages in serial order', async () => {
    const kit = await startKit();
    const ada = await kit.connect({ clientId: 'ada' });
    const bob = await kit.connect({ clientId: 'bob' });
    expect(await ada.request({ t: 'sub', channel: 'chat' })).toMatchObject({ t: 'ack', seq: 0 });
    for (const n of [1, 2, 3]) expect(await bob.publish('chat', { n })).toEqual({ t: 'ack', id: n, seq: n });
    await ada.until({ t: 'msg', seq: 3 });
    expect(ada.all('msg').map((m) => [m.channel, m.seq, m.data, m.clientId])).toEqual([
      ['chat', 1, { n: 1 }, 'bob'],
      ['chat', 2, { n: 2 }, 'bob'],
      ['chat', 3, { n: 3 }, 'bob'],
    ]);
  });

  it('answers pipelined publishes in request order and keeps each channel in serial order', async () => {
    const kit = await startKit();
    const ada = await kit.connect({ clientId: 'ada' });
    const bob = await kit.connect({ clientId: 'bob' });
    await ada.request({ t: 'sub', channel: 'chat' });
    await ada.request({ t: 'sub', channel: 'news' });
    const channels = ['chat', 'news', 'chat', 'news', 'chat'];
    const replies = await Promise.all(channels.map((channel, i) => bob.publish(channel, i)));
    expect(replies.map((r) => r.t === 'ack' && r.seq)).toEqual([1, 1, 2, 2, 3]);
    expect(bob.all('ack').map((a) => a.id)).toEqual([1, 2, 3, 4, 5]);
    await ada.sync();
    const seen = (channel: string) => ada.all('msg').filter((m) => m.channel === channel).map((m) => [m.seq, m.data]);
    expect(seen('chat')).toEqual([[1, 0], [2, 2], [3, 4]]);
    expect(seen('news')).toEqual([[1, 1], [2, 3]]);
  });

  it('sends a publisher that did not subscribe no copy of its message', async () => {
    const kit = await startKit();
    const ada = await kit.connect({ clientId: 'ada' });
    const bob = await kit.connect({ clientId: 'bob' });
    await ada.request({ t: 'sub', channel: 'chat' });
    await bob.publish('chat', 'hi');
    await ada.until({ t: 'msg', data: 'hi' });
    await bob.sync();
    expect(bob.all('msg')).toEqual([]);
  });

  it('echoes a subscriber its own publishes, unless it authenticated with echo: false', async () => {
    const kit = await startKit();
    const echoed = await kit.connect({ clientId: 'ada' });
    const quiet = await kit.connect({ clientId: 'ada', echo: false });
    const bob = await kit.connect({ clientId: 'bob' });
    for (const c of [echoed, quiet, bob]) await c.request({ t: 'sub', channel: 'chat' });
    await echoed.publish('chat', 'from echoed');
    await quiet.publish('chat', 'from quiet');
    await bob.until({ t: 'msg', data: 'from quiet' });
    await echoed.sync();
    await quiet.sync();
    expect(echoed.all('msg').map((m) => m.data)).toEqual(['from echoed', 'from quiet']);
    expect(quiet.all('msg').map((m) => m.data)).toEqual(['from echoed']);
    expect(bob.all('msg').map((m) => m.data)).toEqual(['from echoed', 'from quiet']);
  });

  it('acks a resend of a message id with its first serial and duplicate: true, and delivers it once', async () => {
    const kit = await startKit();
    const ada = await kit.connect({ clientId: 'ada' });
    const bob = await kit.connect({ clientId: 'bob' });
    await ada.request({ t: 'sub', channel: 'chat' });
    expect(await bob.publish('chat', 'once', { messageId: 'm-1' })).toMatchObject({ t: 'ack', seq: 1 });
    expect(await bob.publish('chat', 'once', { messageId: 'm-1' })).toMatchObject({ t: 'ack', seq: 1, duplicate: true });
    expect(await bob.publish('chat', 'next')).toMatchObject({ t: 'ack', seq: 2 });
    await ada.until({ t: 'msg', seq: 2 });
    expect(ada.all('msg').map((m) => [m.seq, m.data, m.messageId])).toEqual([
      [1, 'once', 'm-1'],
      [2, 'next', 'c2-1'],
    ]);
  });

  it('replays what was missed before the ack of a resuming sub, then goes live', async () => {
    const kit = await startKit();
    const bob = await kit.connect({ clientId: 'bob' });
    const first = await kit.connect({ clientId: 'ada' });
    const ack = await first.request({ t: 'sub', channel: 'chat' });
    await bob.publish('chat', 'seen');
    await first.until({ t: 'msg', seq: 1 });
    first.close();
    await bob.publish('chat', 'missed 1');
    await bob.publish('chat', 'missed 2');
    const again = await kit.connect({ clientId: 'ada' });
    const epoch = ack.t === 'ack' ? ack.epoch : undefined;
    expect(await again.request({ t: 'sub', channel: 'chat', lastSerial: 1, epoch })).toMatchObject({ t: 'ack', seq: 3, epoch, resumed: true });
    await bob.publish('chat', 'live');
    await again.until({ t: 'msg', seq: 4 });
    expect(again.frames.slice(1).map((f) => (f.t === 'msg' ? f.data : f.t))).toEqual(['missed 1', 'missed 2', 'ack', 'live']);
  });
});

/** docs/protocol.md: 42900 "over a per-connection limit", 40301 "the token's capability does not grant the operation". */
describe('limits and capabilities', () => {
  it('refuses publishes over the rate with 42900 and takes them again once the bucket refilled', async () => {
    const kit = await startKit({ limits: { publishRate: 2, publishBurst: 2 } });
    const ada = await kit.connect({ clientId: 'ada' });
    expect(await ada.publish('chat', 1)).toMatchObject({ t: 'ack', seq: 1 });
    expect(await ada.publish('chat', 2)).toMatchObject({ t: 'ack', seq: 2 });
    expect(await ada.publish('chat', 3)).toMatchObject({ t: 'err', id: 3, code: 42900 });
    // Two a second: half a token after 250 ms, a whole one after 500 ms.
    await kit.advance(250);
    expect(await ada.publish('chat', 4)).toMatchObject({ t: 'err', code: 42900 });
    await kit.advance(250);
    expect(await ada.publish('chat', 5)).toMatchObject({ t: 'ack', seq: 3 });
    expect(await ada.publish('chat', 6)).toMatchObject({ t: 'err', code: 42900 });
    expect(ada.closes).toEqual([]);
  });

  it('refuses what the capability does not grant with 40301 and keeps the connection', async () => {
    const kit = await startKit();
    const capability = { 'chat:*': ['subscribe', 'publish'], news: ['subscribe'] };
    const ada = await kit.connect({ clientId: 'ada', capability });
    expect(await ada.request({ t: 'sub', channel: 'chat:lobby' })).toMatchObject({ t: 'ack' });
    expect(await ada.publish('chat:lobby', 'ok')).toMatchObject({ t: 'ack', seq: 1 });
    expect(await ada.publish('news', 'no')).toMatchObject({ t: 'err', code: 40301 });
    expect(await ada.request({ t: 'sub', channel: 'secret' })).toMatchObject({ t: 'err', code: 40301 });
    expect(await ada.request({ t: 'pres', channel: 'chat:lobby', action: 'enter' })).toMatchObject({ t: 'err', code: 40301 });
    expect(ada.closes).toEqual([]);
  });

  it('counts channel subscriptions and presence watches against one bound: past it, 42900', async () => {
    const kit = await startKit({ limits: { maxSubscriptions: 2 } });
    const ada = await kit.connect({ clientId: 'ada' });
    expect(await ada.request({ t: 'sub', channel: 'a' })).toMatchObject({ t: 'ack' });
    expect(await ada.request({ t: 'presSub', channel: 'b' })).toMatchObject({ t: 'ack' });
    expect(await ada.request({ t: 'sub', channel: 'c' })).toMatchObject({ t: 'err', code: 42900 });
    expect(await ada.request({ t: 'presSub', channel: 'd' })).toMatchObject({ t: 'err', code: 42900 });
    expect(await ada.request({ t: 'unsub', channel: 'a' })).toMatchObject({ t: 'ack' });
    expect(await ada.request({ t: 'sub', channel: 'c' })).toMatchObject({ t: 'ack' });
    expect(ada.closes).toEqual([]);
  });
});
