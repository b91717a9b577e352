import { describe, expect, it } from 'vitest';
import { HubbubError, type AttachedEvent, type Message } from '../src/index.js';
import { handshake, outcome, realtimeRig, settle, untilSocket, type MockWebSocket } from './support/harness.js';

function msg(channel: string, seq: number, extra: object = {}) {
  return { t: 'msg', channel, name: 'n', data: { seq }, messageId: `m-${seq}`, timestamp: 1_700_000_000_000 + seq, seq, ...extra };
}

function subsOf(socket: MockWebSocket, channel: string) {
  return socket.framesOf('sub').filter((f) => f.channel === channel);
}

describe('channel attach', () => {
  it('attach while connecting sends sub only once connected, and once', async () => {
    const rig = realtimeRig();
    const channel = rig.client.channels.get('room');
    const attached = outcome(channel.attach());
    void channel.attach();
    channel.on(() => {});
    await settle();
    const socket = rig.sockets.latest;
    socket.open();
    await settle();
    expect(socket.framesOf('sub')).toHaveLength(0);
    await handshake(rig.sockets);
    expect(subsOf(socket, 'room')).toHaveLength(1);
    expect(channel.state).toBe('attaching');
    socket.ack(socket.lastOf('sub')!.id, { seq: 0, epoch: 'e1' });
    await settle();
    expect(channel.state).toBe('attached');
    expect(attached.settled() && attached.error() === undefined).toBe(true);
  });

  it('channels.get returns the same object; attach() while attached sends nothing', async () => {
    const rig = realtimeRig();
    const socket = await handshake(rig.sockets);
    const channel = rig.client.channels.get('room');
    expect(rig.client.channels.get('room')).toBe(channel);
    const a = channel.attach();
    await settle();
    socket.ack(socket.lastOf('sub')!.id, { seq: 0, epoch: 'e1' });
    await a;
    await channel.attach();
    expect(socket.framesOf('sub')).toHaveLength(1);
  });

  it('after a reconnect exactly one sub per wanted channel goes out (acked, in flight, and asked while down)', async () => {
    const rig = realtimeRig();
    const first = await handshake(rig.sockets);
    const acked = rig.client.channels.get('acked');
    const inFlight = rig.client.channels.get('in-flight');
    const p1 = acked.attach();
    void outcome(inFlight.attach());
    await settle();
    first.ack(subsOf(first, 'acked')[0]!.id, { seq: 0, epoch: 'e1' });
    await p1;
    first.serverClose(1006);
    await settle();
    const down = rig.client.channels.get('asked-while-down');
    void outcome(down.attach());
    void outcome(acked.attach());
    const second = await untilSocket(rig, 2);
    second.open();
    await settle();
    expect(second.framesOf('sub'), 'no sub before connected').toHaveLength(0);
    await handshake(rig.sockets);
    void outcome(inFlight.attach());
    await settle();
    const channels = second.framesOf('sub').map((f) => f.channel).sort();
    expect(channels).toEqual(['acked', 'asked-while-down', 'in-flight']);
  });

  it('a connected frame for an in-band renewal does not re-send sub', async () => {
    const rig = realtimeRig({ authCallback: () => 'tok' });
    const socket = await handshake(rig.sockets);
    const channel = rig.client.channels.get('room');
    void outcome(channel.attach());
    await settle();
    // Sub still in flight when the renewal's connected arrives.
    socket.deliver({ t: 'err', code: 40102, message: 'renew' });
    await settle();
    socket.deliver({ t: 'connected', connectionId: 'conn-1', clientId: 'alice', keepAliveMs: 15_000 });
    await settle();
    expect(subsOf(socket, 'room')).toHaveLength(1);
  });

  it('after messages seq 1..5 and a drop, the re-sub carries lastSerial 5 and the epoch of the last ack', async () => {
    const rig = realtimeRig();
    const first = await handshake(rig.sockets);
    const channel = rig.client.channels.get('room');
    const got: Message[] = [];
    channel.on((m) => got.push(m));
    await settle();
    first.ack(first.lastOf('sub')!.id, { seq: 0, epoch: 'epoch-A' });
    await settle();
    for (let seq = 1; seq <= 5; seq++) first.deliver(msg('room', seq));
    await settle();
    expect(got.map((m) => m.serial)).toEqual([1, 2, 3, 4, 5]);
    expect(got[0]).toMatchObject({ id: 'm-1', channel: 'room', name: 'n', data: { seq: 1 } });
    first.serverClose(1006);
    const second = await untilSocket(rig, 2);
    await handshake(rig.sockets);
    const resub = second.lastOf('sub')!;
    expect(resub).toMatchObject({ channel: 'room', lastSerial: 5, epoch: 'epoch-A' });
    // The server's new epoch is the one sent next time.
    second.ack(resub.id, { seq: 5, epoch: 'epoch-B', resumed: true });
    await settle();
    second.serverClose(1006);
    const third = await untilSocket(rig, 3);
    await handshake(rig.sockets);
    expect(third.lastOf('sub')).toMatchObject({ channel: 'room', lastSerial: 5, epoch: 'epoch-B' });
  });

  it('a sub acked with a seq ahead of the cursor keeps the ack seq as the cursor when no message follows', async () => {
    const rig = realtimeRig();
    const first = await handshake(rig.sockets);
    const channel = rig.client.channels.get('room');
    channel.on(() => {});
    await settle();
    first.ack(first.lastOf('sub')!.id, { seq: 41, epoch: 'E' });
    await settle();
    first.serverClose(1006);
    const second = await untilSocket(rig, 2);
    await handshake(rig.sockets);
    expect(second.lastOf('sub')).toMatchObject({ lastSerial: 41, epoch: 'E' });
  });

  it('err 40301 to the sub → channel failed, attach() rejects with it', async () => {
    const rig = realtimeRig();
    const socket = await handshake(rig.sockets);
    const channel = rig.client.channels.get('secret');
    const attach = outcome(channel.attach());
    await settle();
    socket.refuse(socket.lastOf('sub')!.id, 40301, 'capability does not allow subscribe');
    await settle();
    expect(channel.state).toBe('failed');
    expect(attach.error()).toBeInstanceOf(HubbubError);
    expect((attach.error() as HubbubError).code).toBe(40301);
    expect(channel.errorReason?.code).toBe(40301);
    socket.serverClose(1006);
    const second = await untilSocket(rig, 2);
    await handshake(rig.sockets);
    expect(subsOf(second, 'secret'), 'a refused channel is not re-subscribed').toHaveLength(0);
  });

  it('onAttached: discontinuity false on the first attach and a full resume, true when the ack says resumed:false', async () => {
    const rig = realtimeRig();
    const first = await handshake(rig.sockets);
    const channel = rig.client.channels.get('room');
    const events: AttachedEvent[] = [];
    channel.onAttached((e) => events.push(e));
    channel.on(() => {});
    await settle();
    first.ack(first.lastOf('sub')!.id, { seq: 0, epoch: 'E' });
    first.deliver(msg('room', 1));
    await settle();
    first.serverClose(1006);
    const second = await untilSocket(rig, 2);
    await handshake(rig.sockets);
    second.ack(second.lastOf('sub')!.id, { seq: 3, epoch: 'E', resumed: true });
    await settle();
    second.serverClose(1006);
    const third = await untilSocket(rig, 3);
    await handshake(rig.sockets);
    third.ack(third.lastOf('sub')!.id, { seq: 900, epoch: 'E2', resumed: false });
    await settle();
    expect(events.map((e) => e.discontinuity)).toEqual([false, false, true]);
  });

  it('a message at or below the last serial while attached is dropped', async () => {
    const rig = realtimeRig();
    const socket = await handshake(rig.sockets);
    const channel = rig.client.channels.get('room');
    const got: number[] = [];
    channel.on((m) => got.push(m.serial!));
    await settle();
    socket.ack(socket.lastOf('sub')!.id, { seq: 0, epoch: 'E' });
    await settle();
    for (const seq of [1, 2, 3, 3, 2, 4, 1, 5]) socket.deliver(msg('room', seq));
    await settle();
    expect(got).toEqual([1, 2, 3, 4, 5]);
  });

  // Node's `ws` emits every message of one TCP read in the same tick (allowSynchronousEvents, default
  // true since ws 8.14), so the sub ack and the messages after it often arrive with no microtask between.
  it('a repeat that arrives in the same tick as the sub ack, after it, is dropped too', async () => {
    const rig = realtimeRig();
    const socket = await handshake(rig.sockets);
    const channel = rig.client.channels.get('room');
    const got: number[] = [];
    channel.on((m) => got.push(m.serial!));
    await settle();
    socket.ack(socket.lastOf('sub')!.id, { seq: 0, epoch: 'E' });
    for (const seq of [1, 2, 3, 3, 2, 4, 1, 5]) socket.deliver(msg('room', seq));
    await settle();
    expect(got).toEqual([1, 2, 3, 4, 5]);
  });

  it('a repeat in the same tick as the ack does not move the resume cursor back', async () => {
    const rig = realtimeRig();
    const first = await handshake(rig.sockets);
    const channel = rig.client.channels.get('room');
    channel.on(() => {});
    await settle();
    first.ack(first.lastOf('sub')!.id, { seq: 0, epoch: 'E' });
    for (const seq of [1, 2, 3, 4, 5, 2]) first.deliver(msg('room', seq));
    await settle();
    first.serverClose(1006);
    const second = await untilSocket(rig, 2);
    await handshake(rig.sockets);
    expect(second.lastOf('sub')).toMatchObject({ lastSerial: 5, epoch: 'E' });
  });

  it('after a reset stream (resumed:false) the cursor follows the new stream, even below the old one', async () => {
    const rig = realtimeRig();
    const first = await handshake(rig.sockets);
    const channel = rig.client.channels.get('room');
    const got: number[] = [];
    channel.on((m) => got.push(m.serial!));
    await settle();
    first.ack(first.lastOf('sub')!.id, { seq: 0, epoch: 'E1' });
    await settle();
    for (let seq = 1; seq <= 9; seq++) first.deliver(msg('room', seq));
    first.serverClose(1006);
    const second = await untilSocket(rig, 2);
    await handshake(rig.sockets);
    expect(second.lastOf('sub')).toMatchObject({ lastSerial: 9, epoch: 'E1' });
    second.ack(second.lastOf('sub')!.id, { seq: 2, epoch: 'E2', resumed: false });
    await settle();
    second.deliver(msg('room', 3));
    second.deliver(msg('room', 4));
    await settle();
    expect(got.slice(9)).toEqual([3, 4]);
    second.serverClose(1006);
    const third = await untilSocket(rig, 3);
    await handshake(rig.sockets);
    expect(third.lastOf('sub')).toMatchObject({ lastSerial: 4, epoch: 'E2' });
  });

  it('messages without seq (ephemeral) are always delivered', async () => {
    const rig = realtimeRig();
    const socket = await handshake(rig.sockets);
    const channel = rig.client.channels.get('room');
    const got: unknown[] = [];
    channel.on((m) => got.push(m.data));
    await settle();
    socket.ack(socket.lastOf('sub')!.id, { seq: 3, epoch: 'E' });
    socket.deliver({ t: 'msg', channel: 'room', name: 'typing', data: 'a', messageId: 'e1', timestamp: 1, ephemeral: true });
    socket.deliver({ t: 'msg', channel: 'room', name: 'typing', data: 'b', messageId: 'e2', timestamp: 2, ephemeral: true });
    await settle();
    expect(got).toEqual(['a', 'b']);
  });
});
