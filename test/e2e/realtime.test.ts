import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, type Message, type PresenceMessage } from '@hubbub/client';
import { cleanup, devtoken, startServer, type RunningServer } from '../support/in-process.js';
import { RawClient, client, closeClients } from '../support/clients.js';
import { next, until } from '../support/wait.js';

let server: RunningServer;
let alice: string;
let bob: string;

beforeAll(async () => {
  server = await startServer();
  [alice, bob] = await Promise.all([devtoken('foony', 'alice'), devtoken('foony', 'bob')]);
});
afterAll(() => cleanup(server));
afterEach(() => closeClients());

describe('Realtime: channels and publish', () => {
  it('two clients exchange messages, each publish resolving on the ack', async () => {
    const a = client(server.url, { token: alice });
    const b = client(server.url, { token: bob });
    const atA: Message[] = [];
    const atB: Message[] = [];
    a.channels.get('chat:room-1').on((m) => atA.push(m));
    b.channels.get('chat:room-1').on('greeting', (m) => atB.push(m));
    await Promise.all([a.channels.get('chat:room-1').attach(), b.channels.get('chat:room-1').attach()]);

    await a.channels.get('chat:room-1').publish('greeting', { text: 'hi bob' });
    await b.channels.get('chat:room-1').publish('greeting', { text: 'hi alice' });
    await until(() => atA.length === 2 && atB.length === 2, 'both messages at both clients');

    expect(atB.map((m) => [m.clientId, m.data])).toEqual([
      ['alice', { text: 'hi bob' }],
      ['bob', { text: 'hi alice' }],
    ]);
    expect(atA[0].serial).toBe(1);
    expect(atA[1].serial).toBe(2);
    expect(atA[0].id).toBeTypeOf('string');
  });

  it('channels.get returns the same object, and on(name) filters by event name', async () => {
    const a = client(server.url, { token: alice });
    expect(a.channels.get('news')).toBe(a.channels.get('news'));
    const only: string[] = [];
    const off = a.channels.get('news').on('breaking', (m) => only.push(String(m.data)));
    await a.channels.get('news').attach();
    await a.channels.get('news').publish('weather', 'sunny');
    await a.channels.get('news').publish('breaking', 'stop press');
    await until(() => only.length === 1, 'the breaking message');
    off();
    await a.channels.get('news').publish('breaking', 'again');
    const last = await a.channels.get('news').history({ limit: 1 });
    expect(last[0].data).toBe('again');
    expect(only).toEqual(['stop press']);
  });

  it('keeps per-channel order for a burst of publishes', async () => {
    const a = client(server.url, { token: alice });
    const b = client(server.url, { token: bob });
    const got: number[] = [];
    b.channels.get('order').on((m) => got.push(m.data as number));
    await b.channels.get('order').attach();
    await Promise.all(Array.from({ length: 50 }, (_, i) => a.channels.get('order').publish('n', i)));
    await until(() => got.length === 50, '50 messages');
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('does not echo a publisher its own messages when echoMessages is false', async () => {
    const quiet = client(server.url, { token: alice, echoMessages: false });
    const b = client(server.url, { token: bob });
    const toQuiet: Message[] = [];
    const toB: Message[] = [];
    quiet.channels.get('echo').on((m) => toQuiet.push(m));
    b.channels.get('echo').on((m) => toB.push(m));
    await Promise.all([quiet.channels.get('echo').attach(), b.channels.get('echo').attach()]);
    await quiet.channels.get('echo').publish('mine', 1);
    await b.channels.get('echo').publish('theirs', 2);
    await until(() => toB.length === 2 && toQuiet.length === 1, 'deliveries');
    expect(toQuiet.map((m) => m.name)).toEqual(['theirs']);
  });

  it('rejects invalid channel names in the SDK before anything is sent', () => {
    const a = client(server.url, { token: alice });
    for (const bad of ['', '.chat', 'chat.', 'a..b', 'x'.repeat(256), 'café', 'a b', 'a/b']) {
      expect(() => a.channels.get(bad), bad).toThrow(expect.objectContaining({ code: ErrorCode.BadFrame }));
    }
    expect(() => a.channels.get('chat.rooms.42')).not.toThrow();
    expect(() => a.channels.get('chat:room-1')).not.toThrow();
    expect(() => a.channels.get('x'.repeat(255))).not.toThrow();
  });

  it('answers invalid names and malformed frames with 40001 and keeps the connection', async () => {
    const raw = await RawClient.connect(server.url);
    expect((await raw.auth(alice)).t).toBe('connected');
    raw.send('{not json');
    raw.send({ t: 'sub', id: 1, channel: '.hidden' });
    raw.send({ t: 'sub', id: 2, channel: 'x'.repeat(256) });
    raw.send({ t: 'launch', id: 3 });
    raw.send({ t: 'pub', id: 4, channel: 'ok' });
    raw.send({ t: 'sub', id: 5, channel: 'ok' });
    for (const id of [1, 2, 3, 4]) {
      expect(await raw.reply(id)).toMatchObject({ t: 'err', id, code: 40001 });
    }
    expect(raw.frames.find((f) => f.t === 'err' && f.id === undefined)).toMatchObject({ code: 40001 });
    expect(await raw.reply(5)).toMatchObject({ t: 'ack', id: 5 });
    expect(raw.closed).toBeUndefined();
    raw.close();
  });

  it('collapses a resent messageId: acked as success, delivered once', async () => {
    const sub = client(server.url, { token: bob });
    const got: Message[] = [];
    sub.channels.get('dedup').on((m) => got.push(m));
    await sub.channels.get('dedup').attach();
    const raw = await RawClient.connect(server.url);
    await raw.auth(alice);
    const frame = { t: 'pub', channel: 'dedup', name: 'once', data: 1, messageId: 'fixed-id-1' };
    raw.send({ ...frame, id: 1 });
    raw.send({ ...frame, id: 2 });
    expect(await raw.reply(1)).toMatchObject({ t: 'ack', seq: 1 });
    expect(await raw.reply(2)).toMatchObject({ t: 'ack', seq: 1, duplicate: true });
    raw.send({ ...frame, id: 3, messageId: 'fixed-id-2' });
    await raw.reply(3);
    await until(() => got.length === 2, 'the second message');
    expect(got.map((m) => m.id)).toEqual(['fixed-id-1', 'fixed-id-2']);
    raw.close();
  });

  it('keeps apps apart: another app never sees the channel', async () => {
    const other = await devtoken('otherapp', 'mallory');
    const spy = client(server.url, { token: other });
    const seen: Message[] = [];
    spy.channels.get('shared-name').on((m) => seen.push(m));
    await spy.channels.get('shared-name').attach();
    const a = client(server.url, { token: alice });
    const own: Message[] = [];
    a.channels.get('shared-name').on((m) => own.push(m));
    await a.channels.get('shared-name').publish('secret', 42);
    await until(() => own.length === 1, 'own delivery');
    await spy.channels.get('shared-name').publish('probe', 0);
    await until(() => seen.length === 1, 'spy sees only its own app');
    expect(seen.map((m) => m.name)).toEqual(['probe']);
    expect(await spy.channels.get('shared-name').presence.get()).toEqual([]);
  });
});

describe('Realtime: auth and capabilities', () => {
  it('refuses what the capability does not grant with 40301', async () => {
    const limited = await devtoken('foony', 'carol', ['--capability', '{"chat:*":["subscribe","publish"]}']);
    const c = client(server.url, { token: limited });
    await c.channels.get('chat:lobby').publish('hello', 1);
    await expect(c.channels.get('admin').publish('x', 1)).rejects.toMatchObject({ code: 40301 });
    await expect(c.channels.get('admin').attach()).rejects.toMatchObject({ code: 40301 });
    await expect(c.channels.get('chat:lobby').presence.enter()).rejects.toMatchObject({ code: 40301 });
    expect(c.connection.state).toBe('connected');
  });

  it('an expired token gets 40102 and authCallback supplies a fresh one', async () => {
    const expired = await devtoken('foony', 'dave', ['--ttl', '0s']);
    const fresh = await devtoken('foony', 'dave');
    const tokens = [expired, fresh];
    let calls = 0;
    const d = client(server.url, { authCallback: async () => tokens[Math.min(calls++, 1)] });
    await d.connection.once('connected');
    expect(calls).toBe(2);
    expect(d.connection.clientId).toBe('dave');
  });

  it('an expired token without authCallback fails the connection with 40102', async () => {
    const expired = await devtoken('foony', 'erin', ['--ttl', '0s']);
    const e = client(server.url, { token: expired });
    const change = await e.connection.once('failed');
    expect(change.reason?.code).toBe(40102);
    await expect(e.channels.get('x').publish('y', 1)).rejects.toMatchObject({ code: 40102 });
  });

  it('renews a token that expires while connected, without dropping the connection', async () => {
    let calls = 0;
    const f = client(server.url, {
      authCallback: async () => devtoken('foony', 'frank', ['--ttl', calls++ === 0 ? '2s' : '1h']),
    });
    await f.connection.once('connected');
    const id = f.connection.id;
    const states: string[] = [];
    f.connection.on((c) => states.push(c.current));
    await until(() => calls === 2, 'the renewal', 8000);
    await f.channels.get('renewed').publish('still', 'here');
    expect(f.connection.id).toBe(id);
    expect(states).toEqual([]);
  });

  it('rejects a token signed with another key with 40101', async () => {
    const raw = await RawClient.connect(server.url);
    const [h, p] = alice.split('.');
    const reply = await raw.auth(`${h}.${p}.c2lnbmF0dXJlLWZyb20tc29tZW9uZS1lbHNl`);
    expect(reply).toMatchObject({ t: 'err', code: 40101 });
    // Refused credentials end the connection with the close code of the "renew or stop" class.
    expect(await raw.waitClosed()).toMatchObject({ code: 4101 });
  });
});

describe('Realtime: presence', () => {
  it('shows members entering, updating and leaving, with data', async () => {
    const a = client(server.url, { token: alice });
    const b = client(server.url, { token: bob });
    const events: PresenceMessage[] = [];
    b.channels.get('room:p1').presence.on((p) => events.push(p));
    await b.channels.get('room:p1').presence.get();
    await a.channels.get('room:p1').presence.enter({ status: 'online' });
    await a.channels.get('room:p1').presence.update({ status: 'away' });
    await until(() => events.length === 2, 'enter and update');
    expect(await b.channels.get('room:p1').presence.get()).toEqual([
      expect.objectContaining({ action: 'present', clientId: 'alice', data: { status: 'away' } }),
    ]);
    await a.channels.get('room:p1').presence.leave();
    await until(() => events.length === 3, 'leave');
    expect(events.map((e) => [e.action, e.clientId])).toEqual([
      ['enter', 'alice'],
      ['update', 'alice'],
      ['leave', 'alice'],
    ]);
  });

  it('counts a client on two connections as one member, leaving only when the last goes', async () => {
    const watcher = client(server.url, { token: bob });
    const events: PresenceMessage[] = [];
    watcher.channels.get('room:p2').presence.on((p) => events.push(p));
    await watcher.channels.get('room:p2').presence.get();

    const phone = client(server.url, { token: alice });
    await phone.channels.get('room:p2').presence.enter({ device: 'phone' });
    await until(() => events.length === 1, 'enter');
    // Connect-then-replace: the laptop enters before the phone goes; no leave/enter flicker.
    const laptop = client(server.url, { token: alice });
    await laptop.channels.get('room:p2').presence.enter({ device: 'phone' });
    phone.close();
    await until(async () => (await watcher.channels.get('room:p2').presence.get()).length === 1, 'still one member');
    await laptop.channels.get('room:p2').publish('ping', 1);
    expect(events.map((e) => e.action)).toEqual(['enter']);
    expect(await watcher.channels.get('room:p2').presence.get()).toHaveLength(1);

    laptop.close();
    await until(() => events.length === 2, 'leave after the last connection');
    expect(events.map((e) => [e.action, e.clientId])).toEqual([
      ['enter', 'alice'],
      ['leave', 'alice'],
    ]);
  });

  it('sends current members first as present', async () => {
    const a = client(server.url, { token: alice });
    await a.channels.get('room:p3').presence.enter('hi');
    const b = client(server.url, { token: bob });
    const first = await next<PresenceMessage>((fn) => b.channels.get('room:p3').presence.on(fn));
    expect(first).toMatchObject({ action: 'present', clientId: 'alice', data: 'hi' });
  });
});

describe('Realtime: connection', () => {
  it('reports states and resolves once(connected)', async () => {
    const a = client(server.url, { token: alice });
    const states: string[] = [];
    a.connection.on((c) => states.push(c.current));
    await a.connection.once('connected');
    a.close();
    expect(states).toEqual(['connected', 'closed']);
    expect(a.connection.state).toBe('closed');
  });

  it('with queueMessages false, rejects a publish at once while not connected', async () => {
    const a = client(server.url, { token: alice, queueMessages: false });
    await expect(a.channels.get('q').publish('early', 1)).rejects.toMatchObject({ code: ErrorCode.Unavailable });
    await a.connection.once('connected');
    await a.channels.get('q').publish('later', 2);
  });

  it('queues publishes made while connecting and flushes them on connect', async () => {
    const a = client(server.url, { token: alice });
    const pending = [a.channels.get('q2').publish('one', 1), a.channels.get('q2').publish('two', 2)];
    expect(a.connection.state).toBe('connecting');
    await Promise.all(pending);
    const history = await a.channels.get('q2').history();
    expect(history.map((m) => m.name)).toEqual(['one', 'two']);
  });
});
