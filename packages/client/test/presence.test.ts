import { describe, expect, it } from 'vitest';
import { handshake, outcome, realtimeRig, settle, untilSocket, type MockWebSocket } from './support/harness.js';
import { ackPresSub, ackSubs, EventView, normalize, presEvt, type Member } from './support/presence-server.js';

const CH = 'room';
const bob: Member = { clientId: 'bob', connectionId: 'b1', data: 'b' };
const carol: Member = { clientId: 'carol', connectionId: 'c1', data: 'c' };
const dave: Member = { clientId: 'dave', connectionId: 'd1', data: 'd' };

function presSubs(socket: MockWebSocket) {
  return socket.framesOf('presSub').filter((f) => f.channel === CH);
}

/** A connected Realtime watching presence of `room`, its presSub not yet answered. */
async function watching(options: Parameters<typeof realtimeRig>[0] = {}) {
  const rig = realtimeRig(options);
  const socket = await handshake(rig.sockets, { connectionId: 'a1', clientId: 'alice' });
  const channel = rig.client.channels.get(CH);
  const view = new EventView();
  channel.presence.on(view.listener);
  await settle();
  ackSubs(socket);
  return { rig, socket, channel, presence: channel.presence, view };
}

describe('presence sync', () => {
  it('sends presSub once per connection, whatever the app calls', async () => {
    const { rig, socket, presence } = await watching();
    presence.on('enter', () => {});
    const got = outcome(presence.get());
    void outcome(presence.get());
    await settle();
    expect(presSubs(socket)).toHaveLength(1);
    ackPresSub(socket, CH, [bob], 1);
    await settle();
    expect(got.settled()).toBe(true);
    void outcome(presence.get());
    presence.on(() => {});
    await settle();
    expect(presSubs(socket)).toHaveLength(1);
    socket.serverClose(1006);
    const second = await untilSocket(rig, 2);
    await handshake(rig.sockets, { connectionId: 'a2', clientId: 'alice' });
    void outcome(presence.get());
    await settle();
    expect(presSubs(second)).toHaveLength(1);
  });

  it('no presSub goes out before connected', async () => {
    const rig = realtimeRig();
    const presence = rig.client.channels.get(CH).presence;
    presence.on(() => {});
    void outcome(presence.get());
    await settle();
    rig.sockets.latest.open();
    await settle();
    expect(presSubs(rig.sockets.latest)).toHaveLength(0);
    await handshake(rig.sockets);
    expect(presSubs(rig.sockets.latest)).toHaveLength(1);
  });

  it('members of the snapshot arrive as present on the first sync, and get() lists them', async () => {
    const { socket, presence, view } = await watching();
    ackPresSub(socket, CH, [bob, carol], 4);
    await settle();
    expect(view.actions().sort()).toEqual(['present:bob', 'present:carol']);
    expect(normalize(await presence.get())).toEqual(normalize([bob, carol]));
  });

  it('events before the presSub ack apply after the snapshot; those with pseq ≤ the ack pseq are dropped', async () => {
    const { socket, presence, view } = await watching();
    socket.deliver(presEvt(CH, 'enter', bob, 3)); // already in the snapshot
    socket.deliver(presEvt(CH, 'update', { ...bob, data: 'b-old' }, 4)); // also in it: the snapshot has a later state
    socket.deliver(presEvt(CH, 'enter', carol, 6)); // after the snapshot
    socket.deliver(presEvt(CH, 'update', { ...bob, data: 'b-new' }, 7)); // after the snapshot
    await settle();
    expect(view.log, 'nothing is shown before the snapshot').toEqual([]);
    ackPresSub(socket, CH, [{ ...bob, data: 'b-snap' }], 5);
    await settle();
    expect(view.actions()).toEqual(['present:bob', 'enter:carol', 'update:bob']);
    expect(normalize(await presence.get())).toEqual(normalize([{ ...bob, data: 'b-new' }, carol]));
  });

  it('events after the snapshot ack apply at once', async () => {
    const { socket, presence, view } = await watching();
    ackPresSub(socket, CH, [], 2);
    await settle();
    socket.deliver(presEvt(CH, 'enter', bob, 3));
    socket.deliver(presEvt(CH, 'leave', bob, 4));
    socket.deliver(presEvt(CH, 'enter', carol, 5));
    await settle();
    expect(view.actions()).toEqual(['enter:bob', 'leave:bob', 'enter:carol']);
    expect(normalize(await presence.get())).toEqual(normalize([carol]));
  });

  it('a late event (lower pseq than the last applied for that member) changes nothing', async () => {
    const { socket, presence, view } = await watching();
    ackPresSub(socket, CH, [], 1);
    await settle();
    socket.deliver(presEvt(CH, 'enter', bob, 5));
    socket.deliver(presEvt(CH, 'update', { ...bob, data: 'new' }, 7));
    socket.deliver(presEvt(CH, 'update', { ...bob, data: 'old' }, 6));
    await settle();
    expect(view.actions()).toEqual(['enter:bob', 'update:bob']);
    expect(normalize(await presence.get())).toEqual(normalize([{ ...bob, data: 'new' }]));
    // A late enter after a leave does not bring the member back.
    socket.deliver(presEvt(CH, 'leave', bob, 9));
    socket.deliver(presEvt(CH, 'enter', bob, 8));
    await settle();
    expect(view.actions()).toEqual(['enter:bob', 'update:bob', 'leave:bob']);
    expect(await presence.get()).toEqual([]);
  });

  // Events that arrive while the presSub is in flight are buffered and applied only after the
  // snapshot, so the snapshot reconciliation does not see them as "newer than the snapshot".
  it('a member absent from the snapshot is not a leave when an event newer than the snapshot is known of it', async () => {
    const { rig, socket, presence, view } = await watching();
    ackPresSub(socket, CH, [bob, carol], 3);
    await settle();
    socket.serverClose(1006);
    const second = await untilSocket(rig, 2);
    await handshake(rig.sockets, { connectionId: 'a2', clientId: 'alice' });
    ackSubs(second);
    view.clear();
    // carol (known from the first sync) entered again after the snapshot was read: the event is newer.
    second.deliver(presEvt(CH, 'enter', { ...carol, data: 'c2' }, 12));
    second.deliver(presEvt(CH, 'enter', dave, 11));
    ackPresSub(second, CH, [bob], 10);
    await settle();
    expect(view.actions().filter((a) => a.startsWith('leave'))).toEqual([]);
    expect(normalize(await presence.get())).toEqual(normalize([bob, { ...carol, data: 'c2' }, dave]));
  });

  it('a member absent from the snapshot whose newer event came after the ack is not a leave either (no buffering)', async () => {
    const { rig, socket, presence, view } = await watching();
    ackPresSub(socket, CH, [bob, carol], 3);
    await settle();
    socket.serverClose(1006);
    const second = await untilSocket(rig, 2);
    await handshake(rig.sockets, { connectionId: 'a2', clientId: 'alice' });
    ackSubs(second);
    view.clear();
    ackPresSub(second, CH, [bob, carol], 10);
    await settle();
    second.deliver(presEvt(CH, 'leave', carol, 11));
    await settle();
    expect(view.actions()).toEqual(['leave:carol']);
    expect(normalize(await presence.get())).toEqual(normalize([bob]));
  });

  it('autoReenterPresence: our re-enter acked before a snapshot that does not list us is not reported as leave', async () => {
    const { rig, socket, presence, view } = await watching({ autoReenterPresence: true });
    ackPresSub(socket, CH, [bob], 1);
    await settle();
    const entered = presence.enter('me');
    await settle();
    socket.ack(socket.lastOf('pres')!.id, { pseq: 2, action: 'enter' });
    await entered;
    socket.serverClose(1006);
    const second = await untilSocket(rig, 2);
    await handshake(rig.sockets, { connectionId: 'a2', clientId: 'alice' });
    ackSubs(second);
    view.clear();
    second.ack(second.lastOf('pres')!.id, { pseq: 12, action: 'enter' });
    ackPresSub(second, CH, [bob], 11); // read just before our re-enter landed
    await settle();
    expect(view.actions().filter((a) => a.startsWith('leave'))).toEqual([]);
    expect(normalize(await presence.get()).map((m) => m.clientId)).toContain('alice');
  });

  it("this client's own acked enter survives a snapshot that does not list it yet", async () => {
    const { socket, presence, view } = await watching();
    const entered = outcome(presence.enter('hello'));
    await settle();
    const pres = socket.lastOf('pres')!;
    expect(pres).toMatchObject({ channel: CH, action: 'enter', data: 'hello' });
    socket.ack(pres.id, { pseq: 8, action: 'enter' });
    await settle();
    expect(entered.settled()).toBe(true);
    ackPresSub(socket, CH, [bob], 7); // read before alice entered
    await settle();
    const members = normalize(await presence.get());
    expect(members).toEqual(normalize([bob, { clientId: 'alice', connectionId: 'a1', data: 'hello' }]));
    expect(view.log.some((m) => m.action === 'leave')).toBe(false);
  });

  it('own enter() resolved ⇒ own member in get() at once, without waiting for the server event', async () => {
    const { socket, presence, view } = await watching();
    ackPresSub(socket, CH, [bob], 2);
    await settle();
    const entered = presence.enter({ mood: 'ok' });
    await settle();
    socket.ack(socket.lastOf('pres')!.id, { pseq: 3, action: 'enter' });
    await entered;
    expect(normalize(await presence.get())).toContainEqual({ clientId: 'alice', connectionId: 'a1', data: { mood: 'ok' } });
    // The server's event for the same change then changes nothing.
    view.clear();
    socket.deliver(presEvt(CH, 'enter', { clientId: 'alice', connectionId: 'a1', data: { mood: 'ok' } }, 3));
    await settle();
    expect(view.log).toEqual([]);
  });

  // Presence.send drops the acked change when nobody watches presence yet (`!this.wanted`).
  it('own enter() before any sync: get() syncs and lists the own member even if the snapshot predates it', async () => {
    const rig = realtimeRig();
    const socket = await handshake(rig.sockets, { connectionId: 'a1', clientId: 'alice' });
    const presence = rig.client.channels.get(CH).presence;
    const entered = presence.enter('x');
    await settle();
    ackSubs(socket);
    socket.ack(socket.lastOf('pres')!.id, { pseq: 5, action: 'enter' });
    await entered;
    const got = outcome(presence.get());
    await settle();
    const presSub = presSubs(socket);
    expect(presSub).toHaveLength(1);
    ackPresSub(socket, CH, [bob], 4); // e.g. read from a lagging node
    await settle();
    expect(normalize(got.value() ?? [])).toEqual(normalize([bob, { clientId: 'alice', connectionId: 'a1', data: 'x' }]));
  });

  it('a leave of our own client acked without action (another connection still holds it) keeps it locally', async () => {
    const { socket, presence } = await watching();
    ackPresSub(socket, CH, [], 1);
    await settle();
    const entered = presence.enter('here');
    await settle();
    socket.ack(socket.lastOf('pres')!.id, { pseq: 2, action: 'enter' });
    await entered;
    const left = presence.leave();
    await settle();
    expect(socket.lastOf('pres')).toMatchObject({ action: 'leave' });
    socket.ack(socket.lastOf('pres')!.id, { pseq: 3 });
    await left;
    expect(normalize(await presence.get()).map((m) => m.clientId)).toContain('alice');
  });

  it('a leave of our own client acked with action leave removes it locally', async () => {
    const { socket, presence } = await watching();
    ackPresSub(socket, CH, [], 1);
    await settle();
    const entered = presence.enter('here');
    await settle();
    socket.ack(socket.lastOf('pres')!.id, { pseq: 2, action: 'enter' });
    await entered;
    const left = presence.leave();
    await settle();
    socket.ack(socket.lastOf('pres')!.id, { pseq: 3, action: 'leave' });
    await left;
    expect(normalize(await presence.get()).map((m) => m.clientId)).not.toContain('alice');
  });

  it('after a drop and reconnect the next snapshot reports only the difference', async () => {
    const { rig, socket, presence, view } = await watching();
    ackPresSub(socket, CH, [bob, carol, dave], 5);
    await settle();
    expect(view.actions().sort()).toEqual(['present:bob', 'present:carol', 'present:dave']);
    view.clear();
    socket.serverClose(1006);
    await settle();
    expect(view.log, 'a drop alone reports nothing').toEqual([]);
    const second = await untilSocket(rig, 2);
    await handshake(rig.sockets, { connectionId: 'a2', clientId: 'alice' });
    ackSubs(second);
    const erin: Member = { clientId: 'erin', connectionId: 'e1', data: 'e' };
    ackPresSub(second, CH, [bob, { ...carol, data: 'c2' }, erin], 9);
    await settle();
    expect(view.actions().sort()).toEqual(['enter:erin', 'leave:dave', 'update:carol']);
    expect(normalize(await presence.get())).toEqual(normalize([bob, { ...carol, data: 'c2' }, erin]));
  });

  it('get() while disconnected waits for the next sync rather than answering stale members', async () => {
    const { rig, socket, presence } = await watching();
    ackPresSub(socket, CH, [bob], 1);
    await settle();
    socket.serverClose(1006);
    await settle();
    const got = outcome(presence.get());
    const second = await untilSocket(rig, 2);
    await handshake(rig.sockets, { connectionId: 'a2', clientId: 'alice' });
    ackSubs(second);
    await settle();
    expect(got.settled()).toBe(false);
    ackPresSub(second, CH, [carol], 4);
    await settle();
    expect(normalize(got.value() ?? [])).toEqual(normalize([carol]));
  });

  it('autoReenterPresence true: after a reconnect the pres enter goes out before the presSub', async () => {
    const { rig, socket, presence } = await watching({ autoReenterPresence: true });
    ackPresSub(socket, CH, [], 1);
    await settle();
    const entered = presence.enter('again');
    await settle();
    socket.ack(socket.lastOf('pres')!.id, { pseq: 2, action: 'enter' });
    await entered;
    socket.serverClose(1006);
    const second = await untilSocket(rig, 2);
    await handshake(rig.sockets, { connectionId: 'a2', clientId: 'alice' });
    const order = second.frames.filter((f) => f.t === 'pres' || f.t === 'presSub').map((f) => `${f.t}:${String(f.action ?? '')}`);
    expect(order).toEqual(['pres:enter', 'presSub:']);
    expect(second.lastOf('pres')).toMatchObject({ channel: CH, action: 'enter', data: 'again' });
  });

  it('autoReenterPresence true: a client that left is not entered again', async () => {
    const { rig, socket, presence } = await watching({ autoReenterPresence: true });
    ackPresSub(socket, CH, [], 1);
    await settle();
    const entered = presence.enter('x');
    await settle();
    socket.ack(socket.lastOf('pres')!.id, { pseq: 2, action: 'enter' });
    await entered;
    const left = presence.leave();
    await settle();
    socket.ack(socket.lastOf('pres')!.id, { pseq: 3, action: 'leave' });
    await left;
    socket.serverClose(1006);
    const second = await untilSocket(rig, 2);
    await handshake(rig.sockets, { connectionId: 'a2', clientId: 'alice' });
    expect(second.framesOf('pres')).toHaveLength(0);
  });

  it('autoReenterPresence default (false): no pres enter after a reconnect', async () => {
    const { rig, socket, presence } = await watching();
    ackPresSub(socket, CH, [], 1);
    await settle();
    const entered = presence.enter('x');
    await settle();
    socket.ack(socket.lastOf('pres')!.id, { pseq: 2, action: 'enter' });
    await entered;
    socket.serverClose(1006);
    const second = await untilSocket(rig, 2);
    await handshake(rig.sockets, { connectionId: 'a2', clientId: 'alice' });
    expect(second.framesOf('pres')).toHaveLength(0);
    expect(presSubs(second)).toHaveLength(1);
  });
});
