/**
 * Hostile input over the WebSocket: malformed frames, bad names, oversized frames, floods.
 * Each case asserts what the attacker sees (a coded error, or the documented close code), that
 * the connection stays usable when the protocol says it does, and that a bystander client on the
 * same server still receives messages afterwards.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ServerFrame } from '@hubbub/protocol';
import { cleanup, startServer, type RunningServer } from '../support/server.js';
import { RawClient, closeClients } from '../support/clients.js';
import { until } from '../support/wait.js';
import { authedRaw, bystander, exchange, sign, type Bystander } from './support.js';

let main: RunningServer;
let small: RunningServer;
let slow: RunningServer;
let capped: RunningServer;
let mainBystander: Bystander;
const raws: RawClient[] = [];

async function raw(server: RunningServer = main, clientId = 'mallory'): Promise<RawClient> {
  const r = await authedRaw(server, 'hostile', clientId);
  raws.push(r);
  return r;
}

beforeAll(async () => {
  [main, small, slow, capped] = await Promise.all([
    startServer(),
    startServer(['--max-payload', '1024']),
    startServer(['--publish-rate', '20']),
    startServer(['--max-subscriptions', '100']),
  ]);
});
afterAll(async () => {
  closeClients();
  await Promise.all([main, small, slow, capped].map((s) => cleanup(s)));
});
afterEach(() => {
  for (const r of raws.splice(0)) r.close();
});

/** One bystander on the main server, shared by every test against it (created lazily). */
async function mainCheck(label: string): Promise<void> {
  mainBystander ??= await bystander(main);
  await mainBystander.check(label);
}

const isReplyTo = (id: number) => (f: ServerFrame) => 'id' in f && f.id === id;

describe('malformed frames', () => {
  it('invalid JSON gets 40001 (no id can be read) and the connection stays', async () => {
    await mainCheck('before invalid JSON');
    const r = await raw();
    for (const text of ['{not json', '', ' ', '{"t":"sub","id":1,', '\u0000', 'null null', '{"t":"ping"}}']) {
      const got = await exchange(r, text);
      expect(got, `reply to ${JSON.stringify(text)}`).toEqual([expect.objectContaining({ t: 'err', code: 40001 })]);
      expect((got[0] as { id?: number }).id).toBeUndefined();
    }
    expect(r.closed).toBeUndefined();
    await mainCheck('invalid JSON');
  });

  it('valid JSON of the wrong shape gets 40001, with the request id when it could be read', async () => {
    const r = await raw();
    const noId: unknown[] = [
      [],
      [{ t: 'ping', id: 1 }],
      42,
      '"a string"',
      'null',
      'true',
      {},
      { t: 5 },
      { t: null },
      { t: ['sub'] },
      { t: 'sub', id: '3', channel: 'x' }, // id must be a number: not readable
      { t: 'sub', id: -1, channel: 'x' },
      { t: 'sub', id: 1.5, channel: 'x' },
      { t: 'sub', id: 1e300, channel: 'x' },
      { t: 'sub', channel: 'x' },
      { t: 'auth', token: 123 },
      { t: 'auth', key: { secret: 1 } },
      JSON.parse('{"__proto__":{"t":"ping","id":1}}'),
    ];
    for (const frame of noId) {
      const text = typeof frame === 'string' ? frame : JSON.stringify(frame);
      const got = await exchange(r, text);
      expect(got, `reply to ${text}`).toHaveLength(1);
      expect(got[0], `reply to ${text}`).toMatchObject({ t: 'err', code: 40001 });
      expect((got[0] as { id?: number }).id, `reply to ${text}`).toBeUndefined();
    }
    const withId: Array<Record<string, unknown>> = [
      { id: 10 },
      { t: 5, id: 11 },
      { t: 'sub', id: 12, channel: 5 },
      { t: 'sub', id: 13, channel: 'x', lastSerial: 'abc' },
      { t: 'sub', id: 14, channel: 'x', lastSerial: -1 },
      { t: 'sub', id: 15, channel: 'x', epoch: 7 },
      { t: 'pub', id: 16, channel: 'x', name: 5, messageId: 'm1' },
      { t: 'pub', id: 17, channel: 'x', name: 'n', messageId: 7 },
      { t: 'pub', id: 18, channel: 'x', name: 'n', messageId: '' },
      { t: 'pub', id: 19, channel: 'x', name: 'n', messageId: 'x'.repeat(129) },
      { t: 'pub', id: 20, channel: 'x', messageId: 'm2', messages: 'nope' },
      { t: 'pub', id: 21, channel: 'x', messageId: 'm3', messages: [] },
      { t: 'pub', id: 22, channel: 'x', messageId: 'm4', messages: [null] },
      { t: 'pub', id: 23, channel: 'x', messageId: 'm5', messages: [{ name: 'a', encoding: 5 }] },
      { t: 'pub', id: 24, channel: 'x', messageId: 'm6', messages: Array.from({ length: 101 }, () => ({ name: 'a' })) },
      { t: 'pub', id: 25, channel: 'x', name: 'n', messageId: 'm7', encoding: {} },
      { t: 'pres', id: 26, channel: 'x', action: 'explode' },
      { t: 'pres', id: 27, channel: 'x' },
      { t: 'hist', id: 28, channel: 'x', limit: -1 },
      { t: 'hist', id: 29, channel: 'x', limit: '10' },
      { t: 'hist', id: 30, channel: 'x', direction: 'sideways' },
      { t: 'hist', id: 31, channel: 'x', before: 1.5 },
      { t: 'fetch', id: 32, channel: 'x' },
      { t: 'fetch', id: 33, channel: 'x', fromSerial: 1.5 },
      { t: 'tsub', id: 34, sid: 'has space', topic: 'orders' },
      { t: 'tsub', id: 35, sid: 's1', topic: '..' },
      { t: 'tunsub', id: 36, sid: 5 },
      { t: 'dm', id: 37, to: 'not a client id!', name: 'x' },
      { t: 'dm', id: 38, to: 'bob', name: 'x'.repeat(129) },
      { t: 'unsub', id: 39 },
      { t: 'presSub', id: 40, channel: null },
      { t: 'presUnsub', id: 41, channel: {} },
    ];
    for (const frame of withId) {
      const got = await exchange(r, frame);
      expect(got, `reply to ${JSON.stringify(frame).slice(0, 120)}`).toEqual([{ t: 'err', id: frame.id, code: 40001, message: expect.any(String) }]);
    }
    expect(r.closed).toBeUndefined();
    expect(await exchange(r, { t: 'sub', id: 99, channel: 'x' })).toEqual([expect.objectContaining({ t: 'ack', id: 99 })]);
    await mainCheck('wrong-shape frames');
  });

  it('an unknown action gets 40001 naming it, with its id', async () => {
    const r = await raw();
    const got = await exchange(r, { t: 'launch', id: 1, channel: 'x' });
    expect(got).toEqual([{ t: 'err', id: 1, code: 40001, message: expect.stringContaining('launch') }]);
    const long = await exchange(r, { t: 'x'.repeat(10_000), id: 2 });
    expect(long).toEqual([expect.objectContaining({ t: 'err', id: 2, code: 40001 })]);
    expect((long[0] as { message: string }).message.length, 'the error does not echo a huge action name back').toBeLessThan(200);
    for (const t of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'connected', 'ack', 'msg', 'err']) {
      expect(await exchange(r, { t, id: 3 }), t).toEqual([expect.objectContaining({ t: 'err', id: 3, code: 40001 })]);
    }
    expect(r.closed).toBeUndefined();
    await mainCheck('unknown action');
  });

  it('a binary frame gets 40001 and the connection stays', async () => {
    const r = await raw();
    const from = r.frames.length;
    r.ws.send(Buffer.from(JSON.stringify({ t: 'ping', id: 1 })), { binary: true });
    r.ws.send(Buffer.from([0xff, 0x00, 0xfe]), { binary: true });
    r.send({ t: 'ping', id: 2 });
    await r.waitFor((f) => f.t === 'pong' && f.id === 2);
    const got = r.frames.slice(from);
    expect(got).toEqual([
      { t: 'err', code: 40001, message: expect.stringContaining('binary') },
      { t: 'err', code: 40001, message: expect.stringContaining('binary') },
      { t: 'pong', id: 2 },
    ]);
    expect(r.closed).toBeUndefined();
    await mainCheck('binary frame');
  });

  it('deeply nested publish data gets an ack or a 4xxxx code, and leaves the channel healthy', async () => {
    // A 20 KB frame: far under the 64 KiB limit, 10 000 levels deep.
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    const r = await raw();
    const watcher = await raw(main, 'watcher');
    expect(await exchange(watcher, { t: 'sub', id: 1, channel: 'deep' })).toEqual([expect.objectContaining({ t: 'ack' })]);
    const got = await exchange(r, `{"t":"pub","id":7,"channel":"deep","name":"n","messageId":"deep-1","data":${deep}}`);
    const reply = got.find(isReplyTo(7));
    expect(reply, 'a reply to the deep publish').toBeDefined();
    expect.soft(reply!.t === 'ack' || (reply!.t === 'err' && reply!.code >= 40000 && reply!.code < 50000), `reply ${JSON.stringify(reply)}`).toBe(true);
    expect(r.closed).toBeUndefined();
    expect(watcher.closed, 'a subscriber of that channel keeps its connection').toBeUndefined();

    // Whatever the server decided, the channel must keep working for everyone else.
    const hist = await exchange(watcher, { t: 'hist', id: 2, channel: 'deep' });
    expect.soft(hist.find(isReplyTo(2)), 'history of the channel after the deep publish').toMatchObject({ t: 'histRes', id: 2 });
    const fetched = await exchange(watcher, { t: 'fetch', id: 3, channel: 'deep', fromSerial: 0 });
    expect.soft(fetched.find(isReplyTo(3)), 'fetch on the channel after the deep publish').toMatchObject({ t: 'fetchRes', id: 3 });
    const resumer = await raw(main, 'resumer');
    const resumed = await exchange(resumer, { t: 'sub', id: 1, channel: 'deep', lastSerial: 0 });
    expect.soft(resumed.find(isReplyTo(1)), 'a resuming subscriber of the channel').toMatchObject({ t: 'ack', id: 1 });
    const res = await fetch(`${main.http}/channels/deep/messages`, { headers: { authorization: `Bearer ${await sign('hostile', 'reader')}` } });
    expect.soft(res.status, 'GET history over HTTP after the deep publish').toBe(200);
    const after = await exchange(r, { t: 'pub', id: 8, channel: 'deep', name: 'after', data: 'fine', messageId: 'deep-2' });
    expect.soft(after.find(isReplyTo(8))).toMatchObject({ t: 'ack' });
    await watcher.waitFor((f) => f.t === 'msg' && f.name === 'after').catch((err) => expect.soft(String(err), 'the watcher gets a later message on the channel').toBe(''));
    await mainCheck('deeply nested publish data');
  });

  it('deeply nested presence and direct-message data get an ack or a 4xxxx code', async () => {
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    const r = await raw();
    const target = await raw(main, 'target');
    const frames = [
      `{"t":"pres","id":1,"channel":"deep-lobby","action":"enter","data":${deep}}`,
      `{"t":"dm","id":2,"to":"target","name":"n","data":${deep}}`,
    ];
    for (const [i, text] of frames.entries()) {
      const reply = (await exchange(r, text)).find(isReplyTo(i + 1));
      expect(reply, text.slice(0, 30)).toBeDefined();
      expect.soft(reply!.t === 'ack' || (reply!.t === 'err' && reply!.code >= 40000 && reply!.code < 50000), `${text.slice(0, 30)} → ${JSON.stringify(reply)}`).toBe(true);
    }
    expect(r.closed).toBeUndefined();
    expect(target.closed).toBeUndefined();
    await mainCheck('deeply nested presence/dm data');
  });
});

describe('channel names', () => {
  const bad = ['', 'x'.repeat(256), '.a', 'a.', '.', '..', 'a..b', 'café', '频道', '🎉', 'a b', 'a/b', 'a\u0000b', 'a\nb', 'a*', '#'];
  const good = ['x'.repeat(255), 'a.b', 'chat:room-1', 'a_b', '-', '_', ':', '__proto__', 'constructor', 'hasOwnProperty'];

  it('invalid names get 40001 on every operation; the connection stays', async () => {
    const r = await raw();
    let id = 1;
    for (const channel of bad) {
      for (const frame of [
        { t: 'sub', channel },
        { t: 'unsub', channel },
        { t: 'pub', channel, name: 'n', data: 1, messageId: `bad-${id}` },
        { t: 'pres', channel, action: 'enter' },
        { t: 'presSub', channel },
        { t: 'hist', channel },
        { t: 'fetch', channel, fromSerial: 0 },
        { t: 'tsub', sid: 's1', topic: channel },
      ]) {
        const n = id++;
        const got = await exchange(r, { ...frame, id: n });
        expect(got, `${frame.t} on ${JSON.stringify(channel).slice(0, 40)}`).toEqual([expect.objectContaining({ t: 'err', id: n, code: 40001 })]);
      }
    }
    expect(r.closed).toBeUndefined();
    await mainCheck('invalid channel names');
  });

  it('valid edge-case names (255 chars, prototype property names) work', async () => {
    const r = await raw();
    let id = 1;
    for (const channel of good) {
      expect(await exchange(r, { t: 'sub', id: id, channel }), channel.slice(0, 20)).toEqual([expect.objectContaining({ t: 'ack', id })]);
      id++;
      const pub = await exchange(r, { t: 'pub', id, channel, name: 'n', data: channel.length, messageId: `good-${id}` });
      expect(pub.find(isReplyTo(id)), channel.slice(0, 20)).toMatchObject({ t: 'ack', id, seq: expect.any(Number) });
      await r.waitFor((f) => f.t === 'msg' && f.channel === channel);
      id++;
    }
    await mainCheck('edge-case names');
  });
});

describe('ordering and request ids', () => {
  it('a frame before auth gets 40101 with its id and closes the connection (4002); a new one then authenticates', async () => {
    const before = [
      { t: 'sub', id: 1, channel: 'x' },
      { t: 'unsub', id: 2, channel: 'x' },
      { t: 'pub', id: 3, channel: 'x', name: 'n', data: 1, messageId: 'pre-1' },
      { t: 'pres', id: 4, channel: 'x', action: 'enter' },
      { t: 'presSub', id: 5, channel: 'x' },
      { t: 'hist', id: 6, channel: 'x' },
      { t: 'fetch', id: 7, channel: 'x', fromSerial: 0 },
      { t: 'tsub', id: 8, sid: 's1', topic: 'orders' },
      { t: 'tunsub', id: 9, sid: 's1' },
      { t: 'dm', id: 10, to: 'bob', name: 'hi' },
      { t: 'presUnsub', id: 11, channel: 'x' },
    ];
    // Before auth a connection may send one thing, its auth frame: anything else says why and ends it.
    for (const frame of before) {
      const early = await RawClient.connect(main.url);
      raws.push(early);
      early.send(frame);
      expect(await early.waitFor((f) => f.t === 'err'), frame.t).toEqual({ t: 'err', id: frame.id, code: 40101, message: expect.any(String) });
      expect(await early.waitClosed(), frame.t).toMatchObject({ code: 4002 });
    }
    const r = await RawClient.connect(main.url);
    raws.push(r);
    expect(await exchange(r, { t: 'auth', token: await sign('hostile', 'late') })).toEqual([expect.objectContaining({ t: 'connected', clientId: 'late' })]);
    expect(await exchange(r, { t: 'sub', id: 12, channel: 'x' })).toEqual([expect.objectContaining({ t: 'ack', id: 12 })]);
    await mainCheck('frames before auth');
  });

  it('publish before attach: a pub on a channel never subscribed to is acked and reaches subscribers, not the publisher; capabilities still apply', async () => {
    // As in Ably's protocol, publishing needs no attach (docs/protocol.md): REST and server-side
    // publishers never subscribe. What the connection may do is still its capability's business.
    const listener = await raw(main, 'listener');
    expect(await exchange(listener, { t: 'sub', id: 1, channel: 'unattached' })).toEqual([expect.objectContaining({ t: 'ack', id: 1 })]);
    const r = await raw();
    const reply = await exchange(r, { t: 'pub', id: 2, channel: 'unattached', name: 'n', data: 'no-attach', messageId: 'unattached-1' });
    expect(reply).toEqual([expect.objectContaining({ t: 'ack', id: 2, seq: 1 })]);
    expect(await listener.waitFor((f) => f.t === 'msg' && f.channel === 'unattached')).toMatchObject({ data: 'no-attach', clientId: 'mallory', seq: 1 });
    // The publisher is not subscribed, so it gets no copy (a later round trip proves nothing is in flight).
    await exchange(r, { t: 'ping', id: 3 });
    expect(r.frames.filter((f) => f.t === 'msg')).toEqual([]);
    // A subscribe-only capability: the publish without attach is refused, like any publish.
    const reader = await RawClient.connect(main.url);
    raws.push(reader);
    expect(await reader.auth(await sign('hostile', 'reader', { capability: { '*': ['subscribe'] } }))).toMatchObject({ t: 'connected' });
    expect(await exchange(reader, { t: 'pub', id: 4, channel: 'unattached', name: 'n', data: 'nope', messageId: 'unattached-2' })).toEqual([
      expect.objectContaining({ t: 'err', id: 4, code: 40301 }),
    ]);
    expect((await exchange(listener, { t: 'hist', id: 5, channel: 'unattached' })).find(isReplyTo(5))).toMatchObject({
      t: 'histRes',
      messages: [expect.objectContaining({ data: 'no-attach' })],
    });
    await mainCheck('publish before attach');
  });

  it('a reused request id still gets every request answered, in order', async () => {
    const r = await raw();
    const frames = [
      { t: 'sub', id: 7, channel: 'reuse' },
      { t: 'pub', id: 7, channel: 'reuse', name: 'n', data: 1, messageId: 'reuse-1' },
      { t: 'pub', id: 7, channel: 'reuse', name: 'n', data: 2, messageId: 'reuse-2' },
      { t: 'ping', id: 7 },
      { t: 'hist', id: 7, channel: 'reuse' },
      { t: 'fetch', id: 7, channel: 'reuse', fromSerial: 0 },
      { t: 'sub', id: 7, channel: '..' },
      { t: 'unsub', id: 7, channel: 'reuse' },
    ];
    const from = r.frames.length;
    for (const f of frames) r.send(f);
    r.send({ t: 'ping', id: 8 });
    await r.waitFor((f) => f.t === 'pong' && f.id === 8);
    const replies = r.frames.slice(from).filter(isReplyTo(7));
    expect(replies.map((f) => (f.t === 'err' ? `err:${f.code}` : f.t))).toEqual(['ack', 'ack', 'ack', 'pong', 'histRes', 'fetchRes', 'err:40001', 'ack']);
    await mainCheck('reused ids');
  });
});

describe('size limits', () => {
  it('a frame over the default 64 KiB closes the connection with 1009; one just under is served', async () => {
    const r = await raw();
    const under = await exchange(r, { t: 'pub', id: 1, channel: 'big', name: 'n', data: 'x'.repeat(60_000), messageId: 'big-1' });
    expect(under.find(isReplyTo(1))).toMatchObject({ t: 'ack', id: 1 });
    r.send({ t: 'pub', id: 2, channel: 'big', name: 'n', data: 'x'.repeat(64 * 1024 + 1), messageId: 'big-2' });
    expect((await r.waitClosed()).code).toBe(1009);
    // The same before authenticating.
    const anon = await RawClient.connect(main.url);
    raws.push(anon);
    anon.send('x'.repeat(70_000));
    expect((await anon.waitClosed()).code).toBe(1009);
    await mainCheck('oversized frame');
  });

  it('with --max-payload 1024, a 2 KiB frame closes with 1009, a 900-byte one is served, HTTP bodies follow the same limit', async () => {
    const b = await bystander(small);
    const r = await raw(small);
    const ok = await exchange(r, { t: 'pub', id: 1, channel: 'c', name: 'n', data: 'x'.repeat(800), messageId: 's-1' });
    expect(ok.find(isReplyTo(1))).toMatchObject({ t: 'ack', id: 1 });
    r.send({ t: 'pub', id: 2, channel: 'c', name: 'n', data: 'x'.repeat(2048), messageId: 's-2' });
    expect((await r.waitClosed()).code).toBe(1009);
    const res = await fetch(`${small.http}/channels/c/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await sign('hostile', 'rest')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'n', data: 'x'.repeat(2048) }),
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: number } }).error.code).toBe(41300);
    await b.check('--max-payload 1024');
  });

  it('presence data over 4096 bytes gets 41300 and the client does not become a member', async () => {
    const r = await raw();
    const enter = (id: number, data: unknown, action = 'enter') => exchange(r, { t: 'pres', id, channel: 'lobby', action, data });
    expect(await enter(1, 'x'.repeat(5000))).toEqual([{ t: 'err', id: 1, code: 41300, message: expect.any(String) }]);
    // 2100 two-byte characters: under 4096 characters, over 4096 bytes.
    expect(await enter(2, 'é'.repeat(2100))).toEqual([expect.objectContaining({ t: 'err', id: 2, code: 41300 })]);
    expect(await enter(3, { nested: Array.from({ length: 2000 }, (_, i) => i) })).toEqual([expect.objectContaining({ t: 'err', id: 3, code: 41300 })]);
    const members = await exchange(r, { t: 'presSub', id: 4, channel: 'lobby' });
    expect(members.find(isReplyTo(4))).toMatchObject({ t: 'ack', members: [] });
    // Exactly at the limit: "x…x" serializes to 4094 + 2 quotes = 4096 bytes.
    expect((await enter(5, 'x'.repeat(4094))).find(isReplyTo(5))).toMatchObject({ t: 'ack', id: 5 });
    expect((await enter(6, 'x'.repeat(4095), 'update')).find(isReplyTo(6))).toMatchObject({ t: 'err', code: 41300 });
    expect(r.closed).toBeUndefined();
    await mainCheck('oversized presence data');
  });
});

describe('topic-subscription filters', () => {
  /** JSON text of `{"a":{"a":…1…}}`, built as text: too deep for JSON.stringify in the test worker. */
  const nested = (depth: number) => ({ json: `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}` });
  const fields = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i}`, i]));
  const inOf = (n: number) => ({ status: { in: Array.from({ length: n }, (_, i) => `s${i}`) } });

  it('deep, huge or unknown-operator filters get 40001; valid ones at the limits are accepted', async () => {
    const r = await raw();
    const bad: Array<[string, unknown]> = [
      ['nested 2 levels', { a: { b: 1 } }],
      ['nested 5000 levels', nested(5000)],
      ['nested in', { a: { in: [{ in: [1] }] } }],
      ['nested in 200 deep', { a: JSON.parse(`${'{"in":['.repeat(200)}1${']}'.repeat(200)}`) }],
      ['21 fields', fields(21)],
      ['4000 fields', fields(4000)],
      ['101 in-values', inOf(101)],
      ['5000 in-values', inOf(5000)],
      ['operator gt', { a: { gt: 1 } }],
      ['operator $ne', { a: { $ne: 1 } }],
      ['operator $where', { a: { $where: 'sleep(1000)' } }],
      ['in plus nin', { a: { in: [1], nin: [2] } }],
      ['regex-ish', { a: { $regex: '(a+)+$' } }],
      ['in not an array', { a: { in: 'abc' } }],
      ['in of objects', { a: { in: [{}] } }],
      ['in of arrays', { a: { in: [[1]] } }],
      ['array value', { a: [1, 2] }],
      ['empty field name', { '': 1 }],
      ['65-char field name', { ['f'.repeat(65)]: 1 }],
      ['filter is an array', [{ a: 1 }]],
      ['filter is a string', 'a=1'],
      ['filter is a number', 5],
      ['filter is null', null],
    ];
    let id = 1;
    for (const [what, filter] of bad) {
      const n = id++;
      const filterText = filter && typeof filter === 'object' && 'json' in filter ? (filter as { json: string }).json : JSON.stringify(filter);
      const text = `{"t":"tsub","id":${n},"sid":"s1","topic":"orders","filter":${filterText}}`;
      expect(text.length, what).toBeLessThan(64 * 1024);
      const got = await exchange(r, text);
      expect(got, what).toEqual([{ t: 'err', id: n, code: 40001, message: expect.any(String) }]);
    }
    const good: Array<[string, unknown]> = [
      ['no filter', undefined],
      ['primitives', { a: 1, b: 'x', c: true, d: null }],
      ['20 fields', fields(20)],
      ['100 in-values', inOf(100)],
      ['64-char field', { ['f'.repeat(64)]: 1 }],
    ];
    for (const [what, filter] of good) {
      const n = id++;
      const got = await exchange(r, { t: 'tsub', id: n, sid: `ok${n}`, topic: 'orders', filter });
      expect(got.find(isReplyTo(n)), what).toMatchObject({ t: 'ack', id: n });
    }
    expect(r.closed).toBeUndefined();
    await mainCheck('hostile filters');
  });
});

describe('floods', () => {
  it('a publish flood past --publish-rate 20 gets 42900, is not delivered, and publishes work again once the bucket refills', async () => {
    const b = await bystander(slow);
    const r = await raw(slow, 'flooder');
    const watcher = await raw(slow, 'watcher');
    expect(await exchange(watcher, { t: 'sub', id: 1, channel: 'flood' })).toEqual([expect.objectContaining({ t: 'ack' })]);

    const from = r.frames.length;
    for (let i = 1; i <= 150; i++) r.send({ t: 'pub', id: i, channel: 'flood', name: 'n', data: i, messageId: `flood-${i}` });
    await until(() => r.frames.slice(from).filter((f) => 'id' in f && f.id === 150).length > 0, 'the reply to the last publish of the flood', 10_000);
    const replies = r.frames.slice(from).filter((f) => f.t === 'ack' || f.t === 'err');
    expect(replies.map((f) => (f as { id: number }).id), 'every publish answered once, in order').toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
    const acked = replies.filter((f) => f.t === 'ack');
    const limited = replies.filter((f) => f.t === 'err');
    expect(limited.length, 'some publishes refused').toBeGreaterThan(0);
    expect(limited.every((f) => f.t === 'err' && f.code === 42900)).toBe(true);
    // burst = 2 × rate = 40, plus whatever refilled while the flood was read.
    expect(acked.length).toBeGreaterThanOrEqual(40);
    expect(acked.length).toBeLessThan(80);

    // Exactly the accepted publishes reach a subscriber.
    await until(() => watcher.frames.filter((f) => f.t === 'msg').length >= acked.length, 'the accepted publishes at the watcher');
    await exchange(watcher, { t: 'ping', id: 2 });
    expect(watcher.frames.filter((f) => f.t === 'msg').length).toBe(acked.length);

    // Per connection: another connection of the same client is not limited.
    const other = await raw(slow, 'flooder');
    expect((await exchange(other, { t: 'pub', id: 1, channel: 'flood', name: 'n', data: 0, messageId: 'other-1' })).find(isReplyTo(1))).toMatchObject({ t: 'ack' });

    // The bucket refills at 20/s: a probe every 60 ms gets through soon.
    let probe = 1000;
    await until(async () => {
      const got = await exchange(r, { t: 'pub', id: ++probe, channel: 'flood', name: 'probe', data: probe, messageId: `probe-${probe}` });
      return got.some((f) => f.t === 'ack' && f.id === probe) || (await new Promise((res) => setTimeout(() => res(false), 60)) as boolean);
    }, 'a publish accepted after the flood', 5000);
    // Publishing at the sustained rate (one per 60 ms < 20/s) is never refused.
    for (let i = 0; i < 10; i++) {
      const id = 2000 + i;
      await new Promise((res) => setTimeout(res, 60));
      const got = await exchange(r, { t: 'pub', id, channel: 'flood', name: 'paced', data: i, messageId: `paced-${i}` });
      expect(got.find(isReplyTo(id)), `paced publish ${i}`).toMatchObject({ t: 'ack', id });
    }
    expect(r.closed).toBeUndefined();
    await b.check('publish flood');
  });

  it('10 000 subscribe frames: 42900 past --max-subscriptions 100, and the connection stays usable', async () => {
    const b = await bystander(capped);
    const r = await raw(capped, 'hoarder');
    const from = r.frames.length;
    const total = 10_000;
    for (let i = 1; i <= total; i++) r.send({ t: 'sub', id: i, channel: `many.${i}` });
    await until(() => r.frames.length - from >= total || r.closed !== undefined, 'a reply to every subscribe', 20_000);
    expect(r.closed).toBeUndefined();
    const replies = r.frames.slice(from);
    const acks = replies.filter((f) => f.t === 'ack') as Array<{ id: number }>;
    const errs = replies.filter((f) => f.t === 'err') as Array<{ id: number; code: number }>;
    expect(acks.length).toBe(100);
    expect(acks.map((f) => f.id)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(errs.length).toBe(total - 100);
    expect(errs.every((f) => f.code === 42900)).toBe(true);
    expect(errs[0].id).toBe(101);

    // Still usable: ping, re-subscribe an existing channel, publish, unsubscribe to make room.
    expect(await exchange(r, { t: 'ping', id: 20_001 })).toEqual([{ t: 'pong', id: 20_001 }]);
    expect(await exchange(r, { t: 'sub', id: 20_002, channel: 'many.1' })).toEqual([expect.objectContaining({ t: 'ack', id: 20_002 })]);
    expect((await exchange(r, { t: 'tsub', id: 20_003, sid: 's1', topic: 'orders' })).find(isReplyTo(20_003))).toMatchObject({ t: 'err', code: 42900 });
    const pub = await exchange(r, { t: 'pub', id: 20_004, channel: 'many.1', name: 'n', data: 1, messageId: 'many-1' });
    expect(pub.find(isReplyTo(20_004))).toMatchObject({ t: 'ack' });
    expect(pub.some((f) => f.t === 'msg' && f.channel === 'many.1')).toBe(true);
    expect(await exchange(r, { t: 'unsub', id: 20_005, channel: 'many.2' })).toEqual([expect.objectContaining({ t: 'ack', id: 20_005 })]);
    expect(await exchange(r, { t: 'sub', id: 20_006, channel: 'fresh' })).toEqual([expect.objectContaining({ t: 'ack', id: 20_006 })]);
    expect(await exchange(r, { t: 'sub', id: 20_007, channel: 'fresh2' })).toEqual([expect.objectContaining({ t: 'err', code: 42900 })]);
    // Per connection: a new connection of the same client subscribes normally.
    const other = await raw(capped, 'hoarder');
    expect(await exchange(other, { t: 'sub', id: 1, channel: 'many.5000' })).toEqual([expect.objectContaining({ t: 'ack', id: 1 })]);
    await b.check('10 000 subscribes');
  });
});
