import { describe, expect, it } from 'vitest';
import { HubbubError, type ConnectionStateChange } from '../src/index.js';
import { handshake, openAndReadAuth, realtimeRig, settle, untilSocket } from './support/harness.js';

describe('authCallback results', () => {
  it('a string is the token', async () => {
    const rig = realtimeRig({ authCallback: () => 'jwt-string' });
    expect((await openAndReadAuth(rig.sockets)).token).toBe('jwt-string');
  });

  it('an async { token, expiresAt, clientId } gives its token', async () => {
    const rig = realtimeRig({
      authCallback: async () => ({ token: 'jwt-object', expiresAt: Date.now() + 3_600_000, clientId: 'alice' }) as { token: string },
    });
    expect((await openAndReadAuth(rig.sockets)).token).toBe('jwt-object');
    await handshake(rig.sockets);
    expect(rig.client.connection.state).toBe('connected');
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['a number', 42, /42|number/],
    ['an empty object', {}, /\{\}|object|token/],
    ['an object without token', { jwt: 'x' }, /jwt/],
    ['null', null, /null/],
    ['an empty string', '', /empty|""|''/],
  ];
  for (const [what, value, named] of bad) {
    it(`${what} → failed with HubbubError 40101 naming what was returned`, async () => {
      const rig = realtimeRig({ authCallback: (() => value) as () => string });
      await settle();
      await rig.clock.advance(120_000);
      expect(rig.client.connection.state).toBe('failed');
      const reason = rig.client.connection.errorReason;
      expect(reason).toBeInstanceOf(HubbubError);
      expect(reason!.code).toBe(40101);
      expect(reason!.message).toMatch(named);
      expect(rig.sockets.sockets.flatMap((s) => s.framesOf('auth'))).toHaveLength(0);
    });
  }

  it('a callback that throws is retried with backoff 3 times, then failed', async () => {
    const calls: number[] = [];
    const rig = realtimeRig({
      autoConnect: false,
      authCallback: () => {
        calls.push(rig.clock.now());
        throw new Error('auth server down');
      },
    });
    const states: ConnectionStateChange[] = [];
    rig.client.connection.on((c) => states.push(c));
    rig.client.connect();
    await settle();
    await rig.clock.advance(300_000);
    expect(rig.client.connection.state).toBe('failed');
    expect(calls).toHaveLength(4);
    const gaps = calls.slice(1).map((t, i) => t - calls[i]!);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(800);
    expect(gaps[1]!).toBeGreaterThan(gaps[0]!);
    expect(rig.client.connection.errorReason).toBeInstanceOf(HubbubError);
    expect(rig.client.connection.errorReason!.message).toContain('auth server down');
    expect(states.filter((s) => s.current === 'disconnected').length).toBe(3);
  });

  it('a callback that throws once then answers connects', async () => {
    let n = 0;
    const rig = realtimeRig({
      authCallback: () => {
        if (++n === 1) throw new Error('flaky');
        return 'tok-ok';
      },
    });
    await settle();
    expect(rig.client.connection.state).toBe('disconnected');
    await untilSocket(rig, 1);
    expect((await openAndReadAuth(rig.sockets)).token).toBe('tok-ok');
    await handshake(rig.sockets);
    expect(rig.client.connection.state).toBe('connected');
  });
});

describe('token renewal on a live connection', () => {
  it('err 40102 without id: asks the callback and sends auth with the new token on the same socket; connected again keeps state', async () => {
    let n = 0;
    const rig = realtimeRig({ authCallback: () => `tok-${++n}` });
    const socket = await handshake(rig.sockets, { connectionId: 'c-1' });
    const changes: ConnectionStateChange[] = [];
    rig.client.connection.on((c) => changes.push(c));
    socket.deliver({ t: 'err', code: 40102, message: 'token expires soon' });
    await settle();
    expect(n).toBe(2);
    const auths = socket.framesOf('auth');
    expect(auths).toHaveLength(2);
    expect(auths[1]!.token).toBe('tok-2');
    socket.deliver({ t: 'connected', connectionId: 'c-1', clientId: 'alice', keepAliveMs: 15_000 });
    await settle();
    expect(rig.client.connection.state).toBe('connected');
    expect(changes).toEqual([]);
    expect(rig.sockets.count).toBe(1);
    expect(socket.closedByClient).toBeUndefined();
  });

  it('renewal in band keeps channels attached: no new sub goes out', async () => {
    let n = 0;
    const rig = realtimeRig({ authCallback: () => `tok-${++n}` });
    const socket = await handshake(rig.sockets, { connectionId: 'c-1' });
    const channel = rig.client.channels.get('room');
    const attached = channel.attach();
    await settle();
    socket.ack(socket.lastOf('sub')!.id, { seq: 0, epoch: 'e1' });
    await attached;
    socket.deliver({ t: 'err', code: 40102, message: 'renew' });
    await settle();
    socket.deliver({ t: 'connected', connectionId: 'c-1', clientId: 'alice', keepAliveMs: 15_000 });
    await settle();
    expect(socket.framesOf('sub')).toHaveLength(1);
    expect(channel.state).toBe('attached');
  });

  for (const lifeMs of [3_600_000, 100_000]) {
    it(`renews before expiresAt: at most 30 s and at most a tenth of the life before it (life ${lifeMs} ms)`, async () => {
      let n = 0;
      const rig = realtimeRig({ authCallback: () => `tok-${++n}` });
      const expiresAt = rig.clock.now() + lifeMs;
      const socket = await handshake(rig.sockets, { expiresAt });
      const earliest = expiresAt - Math.min(30_000, lifeMs / 10);
      await rig.clock.advance(earliest - rig.clock.now() - 1);
      expect(n, 'no renewal too early').toBe(1);
      await rig.clock.advance(expiresAt - rig.clock.now() - 1);
      expect(n, 'renewed before expiry').toBe(2);
      expect(socket.framesOf('auth').at(-1)!.token).toBe('tok-2');
      expect(rig.sockets.count).toBe(1);
    });
  }

  it('the next connected with a new expiresAt schedules the next renewal', async () => {
    let n = 0;
    const rig = realtimeRig({ authCallback: () => `tok-${++n}` });
    const socket = await handshake(rig.sockets, { expiresAt: rig.clock.now() + 600_000 });
    await rig.clock.advance(600_000 - 1);
    expect(n).toBe(2);
    socket.deliver({ t: 'connected', connectionId: 'conn-1', clientId: 'alice', keepAliveMs: 15_000, expiresAt: rig.clock.now() + 600_000 });
    await settle();
    await rig.clock.advance(600_000 - 1);
    expect(n).toBe(3);
  });
});
