/**
 * @foony/realtime against `hubbub serve`: presence as the SDK uses it. enter/update/leave and the
 * events every watcher (the member itself included) receives, the snapshot a new watcher gets,
 * leave on close and on detach, members per connection, encrypted presence data, and a quick
 * reconnect with resumeConnectionId that keeps the member without leave/enter churn.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CORE_VERSIONS,
  Clients,
  TcpProxy,
  channelName,
  connected,
  eventually,
  presenceEvents,
  recordReceived,
  recordSent,
  startFoonyServer,
  stateLog,
  within,
  type FoonyServer,
  type PresenceEventFrame,
} from './support.js';

let srv: FoonyServer;
const clients = new Clients();

beforeAll(async () => {
  srv = await startFoonyServer();
});
afterAll(() => srv?.cleanup());
afterEach(() => clients.closeAll());

const summary = (events: PresenceEventFrame[]) => events.map((e) => [e.action, e.clientId, e.data]);

describe.each(CORE_VERSIONS)('@foony/realtime $version: presence', (v) => {
  const as = (clientId: string, endpoint = srv.ws) => clients.realtime(v, endpoint, { key: srv.key, clientId });

  it('enter, update and leave reach every watcher, the member itself included, with clientId, connectionId and data', async () => {
    const ch = channelName('room');
    const alice = as('alice');
    const bob = as('bob');
    const atBob = presenceEvents(bob.channels.get(ch));
    const atAlice = presenceEvents(alice.channels.get(ch));
    await Promise.all([connected(alice), connected(bob)]);
    // An attach ack means the presSub sent before it on the same connection was handled.
    await within(bob.channels.get(ch).attach(), 10_000, 'bob attach');
    await within(alice.channels.get(ch).attach(), 10_000, 'alice attach');

    await within(alice.channels.get(ch).presence.enter({ status: 'online' }), 10_000, 'enter ack');
    await eventually(() => atBob.length >= 1 && atAlice.length >= 1, 'enter seen by bob and by alice herself');
    await within(alice.channels.get(ch).presence.update({ status: 'away' }), 10_000, 'update ack');
    await within(alice.channels.get(ch).presence.leave(), 10_000, 'leave ack');
    await eventually(() => atBob.length >= 3 && atAlice.length >= 3, 'update and leave seen');

    const expected = [
      ['enter', 'alice', { status: 'online' }],
      ['update', 'alice', { status: 'away' }],
      ['leave', 'alice', { status: 'away' }],
    ];
    expect(summary(atBob)).toEqual(expected);
    expect(summary(atAlice)).toEqual(expected);
    for (const e of atBob) {
      expect(e.channel).toBe(ch);
      expect(e.connectionId).toBe(alice.getConnectionId());
      expect(e.timestamp).toBeGreaterThan(Date.now() - 60_000);
    }
  });

  it('a new watcher gets the current members as enter events (a snapshot, including itself), then live events', async () => {
    const ch = channelName('room');
    const alice = as('alice');
    const bob = as('bob');
    await within(alice.channels.get(ch).presence.enter({ n: 1 }), 10_000, 'alice enters');
    await within(bob.channels.get(ch).presence.enter({ n: 2 }), 10_000, 'bob enters');
    const sent = recordSent(bob);
    const atBob = presenceEvents(bob.channels.get(ch));
    await eventually(() => atBob.length >= 2, 'snapshot of two members');
    expect(sent.filter((f) => f.t === 'presSub')).toHaveLength(1);
    expect(summary(atBob).sort()).toEqual([
      ['enter', 'alice', { n: 1 }],
      ['enter', 'bob', { n: 2 }],
    ]);
    const carol = as('carol');
    await carol.channels.get(ch).presence.enter({ n: 3 });
    await eventually(() => atBob.length >= 3, 'a live enter after the snapshot');
    expect(summary(atBob)[2]).toEqual(['enter', 'carol', { n: 3 }]);
  });

  it('closing a client makes it leave at once, with its last data', async () => {
    const ch = channelName('room');
    const watcher = as('watcher');
    const atWatcher = presenceEvents(watcher.channels.get(ch));
    const dave = as('dave');
    await dave.channels.get(ch).presence.enter({ mood: 'fine' });
    await eventually(() => atWatcher.some((e) => e.clientId === 'dave' && e.action === 'enter'), 'dave entered');
    const closedAt = Date.now();
    await dave.close();
    await eventually(() => atWatcher.some((e) => e.clientId === 'dave' && e.action === 'leave'), 'dave left', 5000);
    expect(Date.now() - closedAt).toBeLessThan(5000);
    expect(atWatcher.find((e) => e.action === 'leave')).toMatchObject({ clientId: 'dave', data: { mood: 'fine' } });
  });

  it('two connections of one clientId are two members, told apart by connectionId', async () => {
    const ch = channelName('room');
    const watcher = as('watcher');
    const atWatcher = presenceEvents(watcher.channels.get(ch));
    const tab1 = as('erin');
    const tab2 = as('erin');
    await tab1.channels.get(ch).presence.enter({ tab: 1 });
    await tab2.channels.get(ch).presence.enter({ tab: 2 });
    const sentinel = as('sentinel');
    await sentinel.channels.get(ch).presence.enter({});
    await eventually(() => atWatcher.some((e) => e.clientId === 'sentinel'), 'a later event (both enters were fanned out before it)');
    const enters = atWatcher.filter((e) => e.clientId === 'erin');
    expect(enters.map((e) => [e.action, e.connectionId, e.data])).toEqual([
      ['enter', tab1.getConnectionId(), { tab: 1 }],
      ['enter', tab2.getConnectionId(), { tab: 2 }],
    ]);
    const rest = clients.rest(v, srv.http, { key: srv.key });
    const members = await rest.channels.get(ch).presence.get({ clientId: 'erin' });
    expect(members.items.map((m) => [m.clientId, m.connectionId, m.data]).sort()).toEqual(
      [
        ['erin', tab1.getConnectionId(), { tab: 1 }],
        ['erin', tab2.getConnectionId(), { tab: 2 }],
      ].sort(),
    );
    const tab1Id = tab1.getConnectionId();
    await tab1.close();
    await eventually(() => atWatcher.some((e) => e.action === 'leave'), 'tab 1 leaves', 5000);
    expect(atWatcher.find((e) => e.action === 'leave')).toMatchObject({ clientId: 'erin', connectionId: tab1Id, data: { tab: 1 } });
    const after = await rest.channels.get(ch).presence.get({ clientId: 'erin' });
    expect(after.items.map((m) => m.connectionId)).toEqual([tab2.getConnectionId()]);
  });

  it('detach ends the presence watcher: no presence events arrive for the channel afterwards', async () => {
    const ch = channelName('room');
    const alice = as('alice');
    const bob = as('bob');
    const atBob = presenceEvents(bob.channels.get(ch));
    presenceEvents(alice.channels.get(ch));
    await within(alice.channels.get(ch).attach(), 10_000, 'alice attach');
    await bob.channels.get(ch).presence.enter({ n: 1 });
    await eventually(() => atBob.some((e) => e.clientId === 'bob'), 'bob entered');
    const aliceFrames = recordReceived(alice);
    await within(alice.channels.get(ch).detach(), 10_000, 'detach');
    const atDetach = aliceFrames.length;
    await bob.channels.get(ch).presence.update({ n: 2 });
    await eventually(() => atBob.some((e) => e.action === 'update'), 'bob updated');
    // A round trip on alice's connection after bob's update was fanned out.
    await within(alice.channels.get(channelName('other')).attach(), 10_000, 'round trip');
    expect(aliceFrames.slice(atDetach).filter((f) => f.t === 'presEvt' && f.channel === ch)).toEqual([]);
  });

  it('detach ends the membership too: watchers see the member leave (the SDK stops re-entering it)', async () => {
    const ch = channelName('room');
    const alice = as('alice');
    const bob = as('bob');
    const atBob = presenceEvents(bob.channels.get(ch));
    await alice.channels.get(ch).presence.enter({ here: true });
    await eventually(() => atBob.some((e) => e.clientId === 'alice' && e.action === 'enter'), 'alice entered');
    await within(alice.channels.get(ch).detach(), 10_000, 'detach');
    // Everything alice's detach caused has reached bob once a later event from carol has.
    const carol = as('carol');
    await carol.channels.get(ch).presence.enter({});
    await eventually(() => atBob.some((e) => e.clientId === 'carol'), 'a later event');
    expect(summary(atBob.filter((e) => e.clientId === 'alice'))).toEqual([
      ['enter', 'alice', { here: true }],
      ['leave', 'alice', { here: true }],
    ]);
    const members = await clients.rest(v, srv.http, { key: srv.key }).channels.get(ch).presence.get();
    expect(members.items.map((m) => m.clientId)).not.toContain('alice');
  });

  it('removing the last presence listener sends presUnsub: no more presence events arrive', async () => {
    const ch = channelName('room');
    const watcher = as('watcher');
    const frames = recordReceived(watcher);
    const got: PresenceEventFrame[] = [];
    const off = watcher.channels.get(ch).presence.on((e) => got.push(e));
    const alice = as('alice');
    await alice.channels.get(ch).presence.enter({ n: 1 });
    await eventually(() => got.length === 1, 'first event');
    const sent = recordSent(watcher);
    off();
    await eventually(() => sent.some((f) => f.t === 'presUnsub'), 'presUnsub sent');
    await within(watcher.channels.get(channelName('other')).attach(), 10_000, 'round trip after presUnsub');
    const mark = frames.length;
    await alice.channels.get(ch).presence.update({ n: 2 });
    await within(watcher.channels.get(channelName('other2')).attach(), 10_000, 'round trip after the update');
    expect(frames.slice(mark).filter((f) => f.t === 'presEvt')).toEqual([]);
  });

  it('encrypted presence data passes through: same-key watchers read it, others see the encoding', async () => {
    const cipherKey = await v.sdk.generateRandomKey(256);
    const ch = channelName('secret');
    const friend = as('friend');
    const stranger = as('stranger');
    const atFriend = presenceEvents(friend.channels.get(ch, { cipher: { key: cipherKey } }));
    const atStranger = presenceEvents(stranger.channels.get(ch));
    const alice = as('alice');
    await alice.channels.get(ch, { cipher: { key: cipherKey } }).presence.enter({ secret: 'plan' });
    await eventually(() => atFriend.length === 1 && atStranger.length === 1, 'enter at both');
    expect(atFriend[0]).toMatchObject({ action: 'enter', clientId: 'alice', data: { secret: 'plan' } });
    expect(atFriend[0].encoding).toBeUndefined();
    expect(atStranger[0].encoding).toBe('cipher+aes-256-gcm/base64');
    expect(typeof atStranger[0].data).toBe('string');
  });
});

describe.each(CORE_VERSIONS)('@foony/realtime $version: presence across a quick reconnect (resumeConnectionId)', (v) => {
  let quick: FoonyServer;
  beforeAll(async () => {
    // Short heartbeat so a connection the server cannot see die is dropped within seconds.
    quick = await startFoonyServer(['--heartbeat', '2s']);
  });
  afterAll(() => quick?.cleanup());

  it(
    'a network blip the server did not notice: same connection id, the member stays, no leave/enter churn',
    async () => {
      const ch = channelName('room');
      const proxy = clients.track(await TcpProxy.start(quick.port));
      const roamer = clients.realtime(v, proxy.ws, { key: quick.key, clientId: 'roamer' });
      const observer = clients.realtime(v, quick.ws, { key: quick.key, clientId: 'observer' });
      const seen = presenceEvents(observer.channels.get(ch));
      await connected(observer);
      await within(roamer.channels.get(ch).presence.enter({ v: 1 }), 10_000, 'enter');
      await eventually(() => seen.some((e) => e.clientId === 'roamer'), 'observer sees roamer');
      const id = roamer.getConnectionId();
      const log = stateLog(roamer);
      const mark = seen.length;

      const staleGone = proxy.cut({ halfOpen: true });
      await eventually(() => log.count('disconnected') >= 1, 'roamer notices the drop');
      await eventually(() => roamer.getState() === 'connected', 'roamer reconnected', 10_000);
      expect.soft(roamer.getConnectionId(), 'the offered connection id was reused').toBe(id);
      await within(roamer.channels.get(ch).presence.update({ v: 2 }), 10_000, 'update after the reconnect');
      await eventually(() => seen.some((e) => e.clientId === 'roamer' && e.action === 'update'), 'observer sees the update');
      // The stale server-side connection goes away: taken over at once, or after the heartbeat.
      await within(Promise.all(staleGone), 15_000, 'the server to drop the stale connection');
      const ping = clients.realtime(v, quick.ws, { key: quick.key, clientId: 'late' });
      await ping.channels.get(ch).presence.enter({});
      await eventually(() => seen.some((e) => e.clientId === 'late'), 'a later event (everything before it has arrived)');

      const churn = seen.slice(mark).filter((e) => e.clientId === 'roamer' && e.action !== 'update');
      expect(churn, 'no leave or enter for roamer across the blip').toEqual([]);
      const rest = clients.rest(v, quick.http, { key: quick.key });
      const members = await rest.channels.get(ch).presence.get({ clientId: 'roamer' });
      expect(members.items.map((m) => [m.clientId, m.connectionId, m.data]), 'one member, the original connection').toEqual([['roamer', id, { v: 2 }]]);
    },
    40_000,
  );

  it('a drop the server did see: the reconnect reuses the connection id and the member is re-entered', async () => {
    const ch = channelName('room');
    const proxy = clients.track(await TcpProxy.start(quick.port));
    const roamer = clients.realtime(v, proxy.ws, { key: quick.key, clientId: 'roamer2' });
    await within(roamer.channels.get(ch).presence.enter({ v: 1 }), 10_000, 'enter');
    const id = roamer.getConnectionId();
    const log = stateLog(roamer);
    proxy.cut();
    await eventually(() => log.count('disconnected') >= 1, 'drop noticed');
    await eventually(() => roamer.getState() === 'connected', 'reconnected', 10_000);
    expect(roamer.getConnectionId()).toBe(id);
    const rest = clients.rest(v, quick.http, { key: quick.key });
    await eventually(async () => (await rest.channels.get(ch).presence.get()).items.length === 1, 're-entered', 10_000);
    const members = await rest.channels.get(ch).presence.get();
    expect(members.items.map((m) => [m.clientId, m.connectionId, m.data])).toEqual([['roamer2', id, { v: 1 }]]);
  });
});
