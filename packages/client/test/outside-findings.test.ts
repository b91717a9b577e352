/**
 * What a tester using only the docs found in the SDK, each as the behaviour the docs promise.
 */
import { describe, expect, it } from 'vitest';
import type { PresenceMessage } from '../src/index.js';
import { handshake, realtimeClientRig, realtimeRig, settle, untilSocket } from './support/harness.js';
import { ackPresSub } from './support/presence-server.js';

const CH = 'room:1';

describe('backoff after a restart', () => {
  it('a reconnect-class close retries at once, and a failure after it backs off from the first step (1 s)', async () => {
    const rig = realtimeRig();
    rig.clock.randomValue = 0.5;
    await handshake(rig.sockets);
    const changes: Array<number | undefined> = [];
    rig.client.connection.on('disconnected', (c) => changes.push(c.retryIn));
    rig.sockets.latest.serverClose(1012);
    (await untilSocket(rig, 2)).failToOpen();
    await settle();
    expect(changes[0]).toBeLessThan(1000);
    expect(changes[1]).toBe(1000);
  });

  it('at the cap the delays spread below it instead of bunching on it', async () => {
    const rig = realtimeRig({ reconnectDelayMs: 100, reconnectMaxDelayMs: 400 });
    await handshake(rig.sockets);
    const delays: number[] = [];
    rig.client.connection.on('disconnected', (c) => delays.push(c.retryIn!));
    rig.sockets.latest.serverClose(1006);
    for (let n = 2; n <= 12; n++) {
      rig.clock.randomValue = (n % 5) / 5;
      (await untilSocket(rig, n)).failToOpen();
    }
    const atCap = delays.slice(4);
    expect(Math.max(...atCap)).toBeLessThanOrEqual(400);
    expect(new Set(atCap).size).toBeGreaterThan(2);
    expect(Math.min(...atCap)).toBeGreaterThanOrEqual(320);
  });
});

describe('presence listeners', () => {
  it('a listener added after the first sync is told who is already there, as present', async () => {
    const rig = realtimeRig();
    const socket = await handshake(rig.sockets);
    const presence = rig.client.channels.get(CH).presence;
    presence.on(() => {});
    await settle();
    ackPresSub(socket, CH, [{ clientId: 'bob', connectionId: 'b1', data: 'hi' }], 5);
    await settle();
    await presence.get();
    const late: PresenceMessage[] = [];
    presence.on((m) => late.push(m));
    await settle();
    expect(late).toEqual([{ action: 'present', clientId: 'bob', connectionId: 'b1', data: 'hi' }]);
  });
});

describe('authCallback mistakes', () => {
  for (const [what, returned, says] of [
    ['a fetch Response', { status: 200, json: async () => ({}) }, /fetch Response \(status 200\).*response\.json\(\)/],
    ['a token that is a number', { token: 123 }, /"token" is a number/],
    ['an error reply', { error: { code: 40101, message: 'bad key' } }, /an error: .*bad key/],
  ] as const) {
    it(`${what}: failed with a message that says so`, async () => {
      const rig = realtimeRig({ authCallback: async () => returned as never });
      await settle();
      expect(rig.client.connection.state).toBe('failed');
      expect(rig.client.connection.errorReason?.message).toMatch(says);
    });
  }

  it("a renewed token for another client id fails the connection instead of switching who it is", async () => {
    let call = 0;
    const rig = realtimeRig({ authCallback: async () => `tok-${++call}` });
    await handshake(rig.sockets, { clientId: 'alice' });
    rig.sockets.latest.serverClose(4102);
    await untilSocket(rig, 2);
    await handshake(rig.sockets, { clientId: 'someone-else' });
    expect(rig.client.connection.state).toBe('failed');
    expect(rig.client.connection.errorReason?.message).toMatch(/someone-else/);
  });

  it('an accepted in-band renewal clears the 40102 reason', async () => {
    const rig = realtimeRig({ authCallback: async () => 'fresh' });
    const socket = await handshake(rig.sockets, { clientId: 'alice' });
    socket.deliver({ t: 'err', code: 40102, message: 'token expired' });
    await settle();
    expect(rig.client.connection.errorReason?.code).toBe(40102);
    socket.deliver({ t: 'connected', connectionId: 'conn-1', clientId: 'alice', keepAliveMs: 15_000 });
    await settle();
    expect(rig.client.connection.state).toBe('connected');
    expect(rig.client.connection.errorReason).toBeUndefined();
  });

  it('tokens that expire within milliseconds do not make the SDK call authCallback in a loop', async () => {
    let calls = 0;
    const rig = realtimeRig({ authCallback: async () => `tok-${++calls}` });
    await handshake(rig.sockets, { clientId: 'alice', expiresAt: rig.clock.now() + 60 });
    await rig.clock.advance(3000);
    expect(calls).toBeLessThanOrEqual(4);
  });
});

describe('RealtimeClient', () => {
  it("a connection that gives up is reported as an 'error' event too", async () => {
    const rig = realtimeClientRig({ reconnectionAttempts: 1 });
    await handshake(rig.sockets);
    const errors: unknown[] = [];
    rig.client.on('error', (e) => errors.push(e));
    rig.sockets.latest.serverClose(1006);
    (await untilSocket(rig, 2)).failToOpen();
    await settle();
    await rig.clock.advance(60_000);
    expect(errors.length).toBeGreaterThan(0);
  });
});
