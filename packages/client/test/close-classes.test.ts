import { describe, expect, it } from 'vitest';
import { HubbubError } from '../src/index.js';
import { handshake, openAndReadAuth, outcome, realtimeRig, settle, untilSocket } from './support/harness.js';

describe('stop-class closes', () => {
  for (const code of [1000, 1008, 4009, 4103, 4300, 4050]) {
    it(`close ${code}: failed, no reconnect, in-flight requests rejected with the reason`, async () => {
      const rig = realtimeRig();
      const socket = await handshake(rig.sockets);
      const channel = rig.client.channels.get('room');
      const publish = outcome(channel.publish('greeting', 'hi'));
      const history = outcome(channel.history());
      await settle();
      expect(socket.framesOf('pub')).toHaveLength(1);
      expect(socket.framesOf('hist')).toHaveLength(1);
      socket.serverClose(code, 'stop now');
      await settle();
      expect(rig.client.connection.state).toBe('failed');
      const reason = rig.client.connection.errorReason;
      expect(reason).toBeInstanceOf(HubbubError);
      expect(publish.error()).toBeInstanceOf(HubbubError);
      expect((publish.error() as HubbubError).code).toBe(reason!.code);
      expect(history.error()).toBeInstanceOf(HubbubError);
      expect((history.error() as HubbubError).code).toBe(reason!.code);
      await rig.clock.advance(120_000);
      expect(rig.sockets.count).toBe(1);
    });
  }

  it('a stop close before connected rejects publishes queued and waiting to be resent', async () => {
    const rig = realtimeRig();
    const socket = await handshake(rig.sockets);
    const channel = rig.client.channels.get('room');
    const inFlight = outcome(channel.publish('a', 1));
    await settle();
    expect(socket.framesOf('pub')).toHaveLength(1);
    socket.serverClose(1006);
    await settle();
    const queued = outcome(channel.publish('b', 2));
    await untilSocket(rig, 2);
    const second = rig.sockets.latest;
    second.open();
    await settle();
    second.deliver({ t: 'err', code: 40300, message: 'key revoked' });
    second.serverClose(4103, 'key revoked');
    await settle();
    expect(rig.client.connection.state).toBe('failed');
    expect(second.framesOf('pub')).toHaveLength(0);
    expect(inFlight.error()).toBeInstanceOf(HubbubError);
    expect(queued.error()).toBeInstanceOf(HubbubError);
    expect((queued.error() as HubbubError).code).toBe(rig.client.connection.errorReason!.code);
  });

  it('a request made after failed is rejected at once', async () => {
    const rig = realtimeRig();
    const socket = await handshake(rig.sockets);
    socket.serverClose(4300);
    await settle();
    const late = outcome(rig.client.channels.get('room').publish('x', 1));
    await settle();
    expect(late.error()).toBeInstanceOf(HubbubError);
  });
});

describe('renew-class closes', () => {
  for (const code of [4101, 4102, 4150]) {
    it(`close ${code} with an authCallback: asks it again and reconnects with the new token`, async () => {
      let n = 0;
      const rig = realtimeRig({ authCallback: () => `tok-${++n}` });
      const first = await handshake(rig.sockets);
      expect(first.frames[0]).toMatchObject({ t: 'auth', token: 'tok-1' });
      first.serverClose(code);
      await untilSocket(rig, 2);
      const auth = await openAndReadAuth(rig.sockets);
      expect(n).toBe(2);
      expect(auth.token).toBe('tok-2');
      await handshake(rig.sockets);
      expect(rig.client.connection.state).toBe('connected');
    });
  }

  it('after 3 renewals in a row that do not reach connected → failed', async () => {
    let n = 0;
    const rig = realtimeRig({ authCallback: () => `tok-${++n}` });
    await handshake(rig.sockets);
    rig.sockets.latest.serverClose(4101);
    for (let renewal = 1; renewal <= 3; renewal++) {
      await untilSocket(rig, 1 + renewal);
      const auth = await openAndReadAuth(rig.sockets);
      expect(auth.token).toBe(`tok-${1 + renewal}`);
      rig.sockets.latest.deliver({ t: 'err', code: 40101, message: 'refused' });
      rig.sockets.latest.serverClose(renewal % 2 ? 4101 : 4102);
      await settle();
    }
    await rig.clock.advance(120_000);
    expect(rig.client.connection.state).toBe('failed');
    expect(rig.sockets.count).toBe(4);
    expect(n).toBe(4);
    expect(rig.client.connection.errorReason).toBeInstanceOf(HubbubError);
  });

  it('renewals reset once a connection has held for a while: renew-connect cycles that last never fail', async () => {
    let n = 0;
    const rig = realtimeRig({ authCallback: () => `tok-${++n}` });
    await handshake(rig.sockets);
    for (let i = 2; i <= 7; i++) {
      await rig.clock.advance(10_000); // the connection held: the renewal count starts again
      rig.sockets.latest.serverClose(4102);
      await untilSocket(rig, i);
      await handshake(rig.sockets);
      expect(rig.client.connection.state).toBe('connected');
    }
  });

  it('a server that accepts and closes with 4101 at once: after 3 renewals in a row → failed (no loop against the token backend)', async () => {
    let n = 0;
    const rig = realtimeRig({ authCallback: () => `tok-${++n}` });
    await handshake(rig.sockets);
    for (let i = 2; i <= 4; i++) {
      rig.sockets.latest.serverClose(4101);
      await untilSocket(rig, i);
      await handshake(rig.sockets);
    }
    rig.sockets.latest.serverClose(4101);
    await settle();
    expect(rig.client.connection.state).toBe('failed');
    await rig.clock.advance(120_000);
    expect(rig.sockets.count).toBe(4);
  });

  for (const auth of [{ token: 'static' }, { key: 'app.k:secret' }]) {
    it(`close 4101 without authCallback (${Object.keys(auth)[0]}) → failed at once`, async () => {
      const rig = realtimeRig(auth);
      const socket = await handshake(rig.sockets);
      socket.serverClose(4101);
      await settle();
      expect(rig.client.connection.state).toBe('failed');
      await rig.clock.advance(120_000);
      expect(rig.sockets.count).toBe(1);
    });
  }
});
