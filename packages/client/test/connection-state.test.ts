import { describe, expect, it } from 'vitest';
import { HubbubError, type ConnectionStateChange } from '../src/index.js';
import { handshake, outcome, realtimeRig, settle, untilSocket } from './support/harness.js';

describe('connection states', () => {
  it('stays initialized with autoConnect false and opens no socket', async () => {
    const rig = realtimeRig({ autoConnect: false });
    await settle();
    expect(rig.client.connection.state).toBe('initialized');
    expect(rig.sockets.count).toBe(0);
  });

  it('goes initialized → connecting → connected, with connection id and client id', async () => {
    const rig = realtimeRig({ autoConnect: false });
    const changes: ConnectionStateChange[] = [];
    rig.client.connection.on((c) => changes.push(c));
    rig.client.connect();
    await settle();
    expect(rig.client.connection.state).toBe('connecting');
    expect(rig.sockets.count).toBe(1);
    expect(rig.sockets.latest.url.startsWith('ws://hubbub.test')).toBe(true);
    await handshake(rig.sockets, { connectionId: 'c-1', clientId: 'alice' });
    expect(rig.client.connection.state).toBe('connected');
    expect(rig.client.connection.id).toBe('c-1');
    expect(rig.client.connection.clientId).toBe('alice');
    expect(changes.map((c) => [c.previous, c.current])).toEqual([
      ['initialized', 'connecting'],
      ['connecting', 'connected'],
    ]);
  });

  it('sends auth first with the token, and echo:false when echoMessages is false', async () => {
    const rig = realtimeRig({ token: 'jwt-abc', echoMessages: false });
    await settle();
    rig.sockets.latest.open();
    await settle();
    const auth = rig.sockets.latest.frames[0]!;
    expect(auth).toMatchObject({ t: 'auth', token: 'jwt-abc', echo: false });
    expect(auth.resumeConnectionId).toBeUndefined();
  });

  it('sends the key and asked client id when authenticating with a key', async () => {
    const rig = realtimeRig({ key: 'app.k1:secret', clientId: 'bob' });
    await settle();
    rig.sockets.latest.open();
    await settle();
    expect(rig.sockets.latest.frames[0]).toMatchObject({ t: 'auth', key: 'app.k1:secret', clientId: 'bob' });
  });

  it('once(state) resolves when the state comes, and at once when it already holds', async () => {
    const rig = realtimeRig();
    const connected = rig.client.connection.once('connected');
    let resolved = false;
    void connected.then(() => (resolved = true));
    await settle();
    expect(resolved).toBe(false);
    await handshake(rig.sockets);
    const change = await connected;
    expect(change.current).toBe('connected');
    await expect(rig.client.connection.once('connected')).resolves.toMatchObject({ current: 'connected' });
  });

  it('a drop gives disconnected with a HubbubError reason and retryIn, then connecting again', async () => {
    const rig = realtimeRig();
    await handshake(rig.sockets);
    const disconnected = rig.client.connection.once('disconnected');
    rig.sockets.latest.serverClose(1006);
    const change = await disconnected;
    expect(change.previous).toBe('connected');
    expect(change.reason).toBeInstanceOf(HubbubError);
    expect(typeof change.retryIn).toBe('number');
    expect(change.retryIn).toBeGreaterThan(0);
    expect(rig.client.connection.state).toBe('disconnected');
    await untilSocket(rig, 2);
    expect(rig.client.connection.state).toBe('connecting');
    await handshake(rig.sockets);
    expect(rig.client.connection.state).toBe('connected');
  });

  it('retries when a socket fails to open, with disconnected in between', async () => {
    const rig = realtimeRig({ autoConnect: false });
    const states: string[] = [];
    rig.client.connection.on((c) => states.push(c.current));
    rig.client.connect();
    await settle();
    rig.sockets.latest.failToOpen();
    await settle();
    expect(rig.client.connection.state).toBe('disconnected');
    await untilSocket(rig, 2);
    await handshake(rig.sockets);
    expect(states).toEqual(['connecting', 'disconnected', 'connecting', 'connected']);
  });

  it('close() goes to closed, closes the socket, and never reconnects', async () => {
    const rig = realtimeRig();
    const socket = await handshake(rig.sockets);
    rig.client.close();
    await settle();
    expect(rig.client.connection.state).toBe('closed');
    expect(socket.closedByClient).toBeDefined();
    await rig.clock.advance(120_000);
    expect(rig.sockets.count).toBe(1);
    expect(rig.client.connection.state).toBe('closed');
  });

  it('close() rejects requests in flight and queued, and later requests at once', async () => {
    const rig = realtimeRig();
    const socket = await handshake(rig.sockets);
    const channel = rig.client.channels.get('room');
    const inFlight = outcome(channel.publish('n', 1));
    const history = outcome(channel.history());
    await settle();
    expect(socket.framesOf('pub')).toHaveLength(1);
    rig.client.close();
    await settle();
    expect(inFlight.error()).toBeInstanceOf(HubbubError);
    expect(history.error()).toBeInstanceOf(HubbubError);
    const late = outcome(channel.publish('n', 2));
    await settle();
    expect(late.error()).toBeInstanceOf(HubbubError);
  });

  it('connect() after close() connects again', async () => {
    const rig = realtimeRig();
    await handshake(rig.sockets);
    rig.client.close();
    await settle();
    rig.client.connect();
    await handshake(rig.sockets);
    expect(rig.sockets.count).toBe(2);
    expect(rig.client.connection.state).toBe('connected');
  });

  it('close() while disconnected cancels the pending retry', async () => {
    const rig = realtimeRig();
    await handshake(rig.sockets);
    rig.sockets.latest.serverClose(1006);
    await settle();
    expect(rig.client.connection.state).toBe('disconnected');
    rig.client.close();
    await rig.clock.advance(120_000);
    expect(rig.sockets.count).toBe(1);
    expect(rig.client.connection.state).toBe('closed');
  });

  it('a refusal on connect (err 40101, close 4101) without a way to renew → failed with errorReason', async () => {
    const rig = realtimeRig({ token: 'bad' });
    await settle();
    const socket = rig.sockets.latest;
    socket.open();
    await settle();
    socket.deliver({ t: 'err', code: 40101, message: 'token signature invalid' });
    socket.serverClose(4101, 'auth refused');
    await settle();
    expect(rig.client.connection.state).toBe('failed');
    expect(rig.client.connection.errorReason).toBeInstanceOf(HubbubError);
    expect(rig.client.connection.errorReason!.code).toBe(40101);
    await rig.clock.advance(120_000);
    expect(rig.sockets.count).toBe(1);
  });

  it('an idle connection pings, and a server silent for two keep-alive intervals is dropped and reconnected', async () => {
    const rig = realtimeRig();
    rig.sockets.autoPong = false;
    const socket = await handshake(rig.sockets, { keepAliveMs: 10_000 });
    await rig.clock.advance(10_000);
    expect(socket.framesOf('ping').length).toBeGreaterThanOrEqual(1);
    expect(rig.client.connection.state).toBe('connected');
    await rig.clock.advance(15_000);
    expect(rig.client.connection.state).not.toBe('connected');
    expect(socket.closedByClient).toBeDefined();
    await untilSocket(rig, 2);
  });

  it('autoReconnect false: a drop does not reconnect', async () => {
    const rig = realtimeRig({ autoReconnect: false });
    await handshake(rig.sockets);
    rig.sockets.latest.serverClose(1006);
    await rig.clock.advance(120_000);
    expect(rig.sockets.count).toBe(1);
    expect(['disconnected', 'failed', 'closed']).toContain(rig.client.connection.state);
  });
});
