import { describe, expect, it } from 'vitest';
import type { ConnectionEvent, RealtimeEvent } from '../src/index.js';
import { handshake, openAndReadAuth, realtimeClientRig, settle, untilSocket } from './support/harness.js';

function evt(topic: string, id: string, seq: number | undefined, payload: unknown = { n: seq }) {
  return {
    t: 'evt',
    event: { id, topic, source: 'database', type: 'insert', payload, metadata: { timestamp: 1_700_000_000_000 } },
    ...(seq === undefined ? {} : { seq }),
  };
}

describe('RealtimeClient connection states', () => {
  it('connecting → connected → reconnecting (with a reason) → connected', async () => {
    const rig = realtimeClientRig({ autoConnect: false });
    const events: ConnectionEvent[] = [];
    rig.client.on('connection', (e: ConnectionEvent) => events.push(e));
    expect(rig.client.state).toBe('disconnected');
    expect(rig.sockets.count).toBe(0);
    rig.client.connect();
    expect(rig.client.state).toBe('connecting');
    await handshake(rig.sockets);
    expect(rig.client.state).toBe('connected');
    expect(rig.client.connected).toBe(true);
    rig.sockets.latest.serverClose(1006);
    await settle();
    expect(rig.client.state).toBe('reconnecting');
    await untilSocket(rig, 2);
    expect(rig.client.state).toBe('reconnecting');
    await handshake(rig.sockets);
    expect(rig.client.state).toBe('connected');
    expect(events.map((e) => e.state)).toEqual(['connecting', 'connected', 'reconnecting', 'connected']);
    expect(typeof events[2]!.reason).toBe('string');
  });

  it('the socket URL is the ws form of the HTTP url', async () => {
    const rig = realtimeClientRig();
    await settle();
    expect(rig.sockets.latest.url.startsWith('ws://hubbub.test')).toBe(true);
  });

  it('gives up after reconnectionAttempts (default 10) failures in a row: disconnected, no more sockets', async () => {
    const rig = realtimeClientRig();
    await handshake(rig.sockets);
    rig.sockets.latest.serverClose(1006);
    for (let n = 2; n <= 11; n++) {
      const socket = await untilSocket(rig, n, 600_000);
      expect(rig.client.state).toBe('reconnecting');
      socket.failToOpen();
    }
    await rig.clock.advance(600_000);
    expect(rig.sockets.count).toBe(11);
    expect(rig.client.state).toBe('disconnected');
  });

  it('reconnectionAttempts 2: two retries, then disconnected', async () => {
    const rig = realtimeClientRig({ reconnectionAttempts: 2 });
    await handshake(rig.sockets);
    rig.sockets.latest.serverClose(1011);
    for (let n = 2; n <= 3; n++) (await untilSocket(rig, n)).failToOpen();
    await rig.clock.advance(600_000);
    expect(rig.sockets.count).toBe(3);
    expect(rig.client.state).toBe('disconnected');
  });

  it('the attempt count resets once a connection has held for a while', async () => {
    const rig = realtimeClientRig({ reconnectionAttempts: 2 });
    await handshake(rig.sockets);
    for (let round = 0; round < 3; round++) {
      await rig.clock.advance(10_000);
      rig.sockets.latest.serverClose(1006);
      (await untilSocket(rig, rig.sockets.count + 1)).failToOpen();
      await untilSocket(rig, rig.sockets.count + 1);
      await handshake(rig.sockets);
      expect(rig.client.state).toBe('connected');
    }
  });

  it('backoff delays follow reconnectionDelay (doubling, jittered)', async () => {
    const rig = realtimeClientRig({ reconnectionDelay: 200 });
    rig.clock.randomValue = 0.999;
    await handshake(rig.sockets);
    rig.sockets.latest.serverClose(1006);
    const opened: number[] = [];
    let last = rig.clock.now();
    for (let n = 2; n <= 5; n++) {
      const socket = await untilSocket(rig, n);
      opened.push(rig.clock.now() - last);
      last = rig.clock.now();
      socket.failToOpen();
    }
    const nominal = [200, 400, 800, 1600];
    opened.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(0.8 * nominal[i]!);
      expect(d).toBeLessThanOrEqual(1.2 * nominal[i]! + 1);
    });
  });

  // toState() maps every Connection `disconnected` after `connected` to `reconnecting`, even when no retry is scheduled.
  it('reconnection false: a drop leaves it disconnected', async () => {
    const rig = realtimeClientRig({ reconnection: false });
    await handshake(rig.sockets);
    rig.sockets.latest.serverClose(1006);
    await rig.clock.advance(120_000);
    expect(rig.sockets.count).toBe(1);
    expect(rig.client.state).toBe('disconnected');
  });

  for (const code of [1000, 4009, 4103, 4300]) {
    it(`stop-class close ${code}: disconnected, no reconnect`, async () => {
      const rig = realtimeClientRig();
      await handshake(rig.sockets);
      rig.sockets.latest.serverClose(code);
      await rig.clock.advance(120_000);
      expect(rig.sockets.count).toBe(1);
      expect(rig.client.state).toBe('disconnected');
    });
  }

  it('renew-class close with an authCallback: asks again, reconnects with the new token', async () => {
    let n = 0;
    const rig = realtimeClientRig({ authCallback: () => ({ token: `tok-${++n}` }) });
    await handshake(rig.sockets);
    rig.sockets.latest.serverClose(4102);
    await untilSocket(rig, 2);
    expect((await openAndReadAuth(rig.sockets)).token).toBe('tok-2');
    await handshake(rig.sockets);
    expect(rig.client.state).toBe('connected');
  });

  it('renew-class close with a static token: disconnected at once', async () => {
    const rig = realtimeClientRig({ token: 'static' });
    await handshake(rig.sockets);
    rig.sockets.latest.serverClose(4101);
    await rig.clock.advance(120_000);
    expect(rig.sockets.count).toBe(1);
    expect(rig.client.state).toBe('disconnected');
  });

  it('disconnect() closes and does not reconnect', async () => {
    const rig = realtimeClientRig();
    await handshake(rig.sockets);
    rig.client.disconnect();
    await rig.clock.advance(120_000);
    expect(rig.sockets.count).toBe(1);
    expect(rig.client.state).toBe('disconnected');
  });
});

describe('RealtimeClient topic subscriptions', () => {
  it('a subscription made before connected goes out once connected, once, with its filter', async () => {
    const rig = realtimeClientRig();
    const sid = rig.client.subscribe({ topic: 'db.orders', filter: { status: 'open' } });
    await settle();
    rig.sockets.latest.open();
    await settle();
    expect(rig.sockets.latest.framesOf('tsub')).toHaveLength(0);
    const socket = await handshake(rig.sockets);
    const tsubs = socket.framesOf('tsub');
    expect(tsubs).toHaveLength(1);
    expect(tsubs[0]).toMatchObject({ sid, topic: 'db.orders', filter: { status: 'open' } });
    expect(tsubs[0]!.lastSerial).toBeUndefined();
  });

  it('after a reconnect each subscription is re-sent once with its cursor (last evt seq and the ack epoch)', async () => {
    const rig = realtimeClientRig();
    const first = await handshake(rig.sockets);
    const orders = rig.client.subscribe({ topic: 'db.orders', filter: { status: 'open' } });
    const docs = rig.client.subscribe({ topic: 'sync.doc1' });
    await settle();
    const [t1, t2] = first.framesOf('tsub');
    first.ack(t1!.id, { seq: 10, epoch: 'T1' });
    first.ack(t2!.id, { seq: 3, epoch: 'D1' });
    await settle();
    const got: string[] = [];
    rig.client.on('event', (e: RealtimeEvent) => got.push(e.id));
    first.deliver(evt('db.orders', 'e11', 11));
    first.deliver(evt('db.orders', 'e12', 12));
    await settle();
    first.serverClose(1006);
    const second = await untilSocket(rig, 2);
    await handshake(rig.sockets);
    const resent = second.framesOf('tsub');
    expect(resent).toHaveLength(2);
    expect(resent.find((f) => f.sid === orders)).toMatchObject({ topic: 'db.orders', filter: { status: 'open' }, lastSerial: 12, epoch: 'T1' });
    expect(resent.find((f) => f.sid === docs)).toMatchObject({ topic: 'sync.doc1', lastSerial: 3, epoch: 'D1' });
    expect(got).toEqual(['e11', 'e12']);
  });

  // sendSubscribe sets the cursor in a `.then` of the ack; an evt handled before that runs (same tick, as
  // Node's ws delivers one TCP read) finds no cursor to advance, so the re-tsub asks for a replay already seen.
  it('the cursor follows events that arrive in the same tick as the tsub ack', async () => {
    const rig = realtimeClientRig();
    const first = await handshake(rig.sockets);
    rig.client.subscribe({ topic: 'db.orders' });
    await settle();
    first.ack(first.lastOf('tsub')!.id, { seq: 10, epoch: 'T1' });
    first.deliver(evt('db.orders', 'e11', 11));
    await settle();
    first.serverClose(1006);
    const second = await untilSocket(rig, 2);
    await handshake(rig.sockets);
    expect(second.lastOf('tsub')).toMatchObject({ lastSerial: 11, epoch: 'T1' });
  });

  it('a replay that overlaps what was delivered shows each event once', async () => {
    const rig = realtimeClientRig();
    const first = await handshake(rig.sockets);
    rig.client.subscribe({ topic: 'db.orders' });
    await settle();
    first.ack(first.lastOf('tsub')!.id, { seq: 0, epoch: 'T1' });
    const got: string[] = [];
    rig.client.on('event:db.orders', (e: RealtimeEvent) => got.push(e.id));
    first.deliver(evt('db.orders', 'e1', 1));
    first.deliver(evt('db.orders', 'e2', 2));
    first.serverClose(1006);
    const second = await untilSocket(rig, 2);
    await handshake(rig.sockets);
    second.deliver(evt('db.orders', 'e2', 2));
    second.deliver(evt('db.orders', 'e3', 3));
    await settle();
    expect(got).toEqual(['e1', 'e2', 'e3']);
  });

  it('an unsubscribed topic is not re-sent after a reconnect', async () => {
    const rig = realtimeClientRig();
    const first = await handshake(rig.sockets);
    const sid = rig.client.subscribe({ topic: 'db.orders' });
    await settle();
    first.ack(first.lastOf('tsub')!.id, { seq: 0, epoch: 'T1' });
    rig.client.unsubscribe(sid);
    await settle();
    expect(first.lastOf('tunsub')).toMatchObject({ sid });
    first.serverClose(1006);
    const second = await untilSocket(rig, 2);
    await handshake(rig.sockets);
    expect(second.framesOf('tsub')).toHaveLength(0);
  });

  it('channels joined through socketClient are re-subscribed once after a reconnect', async () => {
    const rig = realtimeClientRig();
    const first = await handshake(rig.sockets);
    const joined = rig.client.socketClient.join('chat');
    await settle();
    first.ack(first.lastOf('sub')!.id, { seq: 0, epoch: 'C' });
    await joined;
    first.serverClose(1006);
    const second = await untilSocket(rig, 2);
    await handshake(rig.sockets);
    expect(second.framesOf('sub').map((f) => f.channel)).toEqual(['chat']);
  });
});
