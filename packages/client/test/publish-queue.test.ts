import { describe, expect, it } from 'vitest';
import { HubbubError } from '../src/index.js';
import { handshake, outcome, realtimeRig, settle, untilSocket } from './support/harness.js';

describe('queued publishes', () => {
  it('publishes made while connecting go out after connected, in order', async () => {
    const rig = realtimeRig();
    const channel = rig.client.channels.get('room');
    const results = [1, 2, 3].map((i) => outcome(channel.publish('n', i)));
    await settle();
    const socket = rig.sockets.latest;
    socket.open();
    await settle();
    expect(socket.framesOf('pub')).toHaveLength(0);
    await handshake(rig.sockets);
    const pubs = socket.framesOf('pub');
    expect(pubs.map((p) => p.data)).toEqual([1, 2, 3]);
    expect(pubs.every((p) => p.channel === 'room' && p.name === 'n' && typeof p.messageId === 'string')).toBe(true);
    expect(new Set(pubs.map((p) => p.messageId)).size).toBe(3);
    pubs.forEach((p, i) => socket.ack(p.id, { seq: i + 1 }));
    await settle();
    expect(results.every((r) => r.settled() && r.error() === undefined)).toBe(true);
  });

  it('publishes made while disconnected go out after the reconnect, in order, after those in flight', async () => {
    const rig = realtimeRig();
    const socket = await handshake(rig.sockets);
    const channel = rig.client.channels.get('room');
    void outcome(channel.publish('n', 'in-flight'));
    await settle();
    socket.serverClose(1006);
    await settle();
    const later = [outcome(channel.publish('n', 'down-1')), outcome(channel.publish('n', 'down-2'))];
    const second = await untilSocket(rig, 2);
    await handshake(rig.sockets);
    expect(second.framesOf('pub').map((p) => p.data)).toEqual(['in-flight', 'down-1', 'down-2']);
    expect(later.some((r) => r.settled())).toBe(false);
  });

  it('autoReconnect false: a publish made after the drop rejects with 50300 instead of waiting for ever', async () => {
    const rig = realtimeRig({ autoReconnect: false });
    const socket = await handshake(rig.sockets);
    socket.serverClose(1006);
    await settle();
    expect(rig.client.connection.state).toBe('disconnected');
    const after = outcome(rig.client.channels.get('room').publish('n', 1));
    await settle();
    expect(after.error()).toBeInstanceOf(HubbubError);
    expect((after.error() as HubbubError).code).toBe(50300);
  });

  it('queueMessages false rejects a publish made while not connected at once with 50300', async () => {
    const rig = realtimeRig({ queueMessages: false });
    const early = outcome(rig.client.channels.get('room').publish('n', 1));
    await settle();
    expect(early.error()).toBeInstanceOf(HubbubError);
    expect((early.error() as HubbubError).code).toBe(50300);
    const socket = await handshake(rig.sockets);
    expect(socket.framesOf('pub')).toHaveLength(0);
    socket.serverClose(1006);
    await settle();
    const down = outcome(rig.client.channels.get('room').publish('n', 2));
    await settle();
    expect((down.error() as HubbubError).code).toBe(50300);
  });

  it('a publish in flight at a drop is resent with the same messageId and resolves once, on the resend ack', async () => {
    const rig = realtimeRig();
    const first = await handshake(rig.sockets);
    const publish = outcome(rig.client.channels.get('room').publish('n', 'payload'));
    await settle();
    const sent = first.lastOf('pub')!;
    first.serverClose(1006);
    await settle();
    expect(publish.settled()).toBe(false);
    const second = await untilSocket(rig, 2);
    await handshake(rig.sockets);
    const resent = second.lastOf('pub')!;
    expect(resent.messageId).toBe(sent.messageId);
    expect(resent.data).toBe('payload');
    expect(publish.settled()).toBe(false);
    // A stale ack for the first socket's id must not settle it twice; the resend's ack does it once.
    second.ack(resent.id, { seq: 7, duplicate: true });
    second.ack(resent.id, { seq: 7 });
    await settle();
    expect(publish.times()).toBe(1);
    expect(publish.error()).toBeUndefined();
  });

  it('a publish in flight survives two drops in a row and is sent once per socket', async () => {
    const rig = realtimeRig();
    const first = await handshake(rig.sockets);
    const publish = outcome(rig.client.channels.get('room').publish('n', 'x'));
    await settle();
    first.serverClose(1006);
    const second = await untilSocket(rig, 2);
    second.open();
    await settle();
    second.serverClose(1006);
    const third = await untilSocket(rig, 3);
    await handshake(rig.sockets);
    expect(second.framesOf('pub')).toHaveLength(0);
    expect(third.framesOf('pub')).toHaveLength(1);
    third.ack(third.lastOf('pub')!.id, { seq: 1 });
    await settle();
    expect(publish.times()).toBe(1);
  });

  it('a history request in flight at a drop rejects', async () => {
    const rig = realtimeRig();
    const socket = await handshake(rig.sockets);
    const history = outcome(rig.client.channels.get('room').history({ limit: 10 }));
    await settle();
    expect(socket.framesOf('hist')).toHaveLength(1);
    socket.serverClose(1006);
    await settle();
    expect(history.error()).toBeInstanceOf(HubbubError);
    const second = await untilSocket(rig, 2);
    await handshake(rig.sockets);
    expect(second.framesOf('hist')).toHaveLength(0);
  });

  it('a server error reply rejects the publish with its code', async () => {
    const rig = realtimeRig();
    const socket = await handshake(rig.sockets);
    const publish = outcome(rig.client.channels.get('room').publish('n', 1));
    await settle();
    socket.refuse(socket.lastOf('pub')!.id, 42900, 'slow down');
    await settle();
    expect((publish.error() as HubbubError).code).toBe(42900);
  });
});

describe('maxFrameBytes', () => {
  it('a request larger than maxFrameBytes is rejected locally with 41300 and not sent', async () => {
    const rig = realtimeRig();
    const socket = await handshake(rig.sockets, { maxFrameBytes: 1024 });
    const big = outcome(rig.client.channels.get('room').publish('n', 'x'.repeat(2000)));
    const small = outcome(rig.client.channels.get('room').publish('n', 'x'.repeat(100)));
    await settle();
    expect(big.error()).toBeInstanceOf(HubbubError);
    expect((big.error() as HubbubError).code).toBe(41300);
    expect(socket.framesOf('pub').map((p) => (p.data as string).length)).toEqual([100]);
    expect(small.settled()).toBe(false);
    expect(rig.client.connection.state).toBe('connected');
  });

  it('counts bytes, not characters: multi-byte text over the limit is refused', async () => {
    const rig = realtimeRig();
    const socket = await handshake(rig.sockets, { maxFrameBytes: 1024 });
    // 400 × 3-byte characters: 400 characters, 1200 bytes.
    const wide = outcome(rig.client.channels.get('room').publish('n', '€'.repeat(400)));
    await settle();
    expect((wide.error() as HubbubError | undefined)?.code).toBe(41300);
    expect(socket.framesOf('pub')).toHaveLength(0);
  });

  it('a publish queued before connected is refused with 41300 on flush when over the limit, the others go', async () => {
    const rig = realtimeRig();
    const channel = rig.client.channels.get('room');
    const big = outcome(channel.publish('n', 'x'.repeat(5000)));
    const small = outcome(channel.publish('n', 'ok'));
    const socket = await handshake(rig.sockets, { maxFrameBytes: 1024 });
    expect((big.error() as HubbubError | undefined)?.code).toBe(41300);
    expect(socket.framesOf('pub').map((p) => p.data)).toEqual(['ok']);
    expect(small.settled()).toBe(false);
    expect(socket.readyState).toBe(1);
  });
});

describe('resume', () => {
  it('the second auth carries resumeConnectionId = the first connection id', async () => {
    const rig = realtimeRig();
    const first = await handshake(rig.sockets, { connectionId: 'first-conn' });
    expect(first.frames[0]!.resumeConnectionId).toBeUndefined();
    first.serverClose(1006);
    const second = await untilSocket(rig, 2);
    await handshake(rig.sockets, { connectionId: 'second-conn' });
    expect(second.frames[0]).toMatchObject({ t: 'auth', resumeConnectionId: 'first-conn' });
    second.serverClose(1012);
    const third = await untilSocket(rig, 3);
    third.open();
    await settle();
    expect(third.frames[0]).toMatchObject({ t: 'auth', resumeConnectionId: 'second-conn' });
  });
});
