import { describe, expect, it } from 'vitest';
import { FakeClock } from './support/fake-clock.js';
import { MockSockets } from './support/mock-websocket.js';

describe('test support: FakeClock', () => {
  it('runs due timers in time order, ties in the order set, and not the ones cleared', async () => {
    const clock = new FakeClock(0);
    const ran: string[] = [];
    clock.setTimeout(() => ran.push('b@20'), 20);
    clock.setTimeout(() => ran.push('a@10'), 10);
    clock.setTimeout(() => ran.push('c@20'), 20);
    const cleared = clock.setTimeout(() => ran.push('cleared'), 5);
    clock.clearTimeout(cleared);
    await clock.advance(15);
    expect(ran).toEqual(['a@10']);
    expect(clock.now()).toBe(15);
    await clock.advance(5);
    expect(ran).toEqual(['a@10', 'b@20', 'c@20']);
  });

  it('runs a timer set by a timer within the same advance, at its own time', async () => {
    const clock = new FakeClock(0);
    const at: number[] = [];
    clock.setTimeout(() => {
      at.push(clock.now());
      clock.setTimeout(() => at.push(clock.now()), 10);
    }, 10);
    await clock.advance(100);
    expect(at).toEqual([10, 20]);
  });

  it('settles promises started by a timer before the next timer runs', async () => {
    const clock = new FakeClock(0);
    const order: string[] = [];
    clock.setTimeout(() => void Promise.resolve().then(() => order.push('promise of t1')), 1);
    clock.setTimeout(() => order.push('t2'), 2);
    await clock.advance(2);
    expect(order).toEqual(['promise of t1', 't2']);
  });

  it('random() returns the value or sequence it is given', () => {
    const clock = new FakeClock();
    clock.randomValue = 0.25;
    expect(clock.random()).toBe(0.25);
    const seq = [0.1, 0.9];
    clock.randomValue = () => seq.shift() ?? 0;
    expect([clock.random(), clock.random(), clock.random()]).toEqual([0.1, 0.9, 0]);
  });
});

describe('test support: MockWebSocket', () => {
  it('records frames sent when open, refuses sends while connecting, and reports closes', async () => {
    const sockets = new MockSockets();
    const ws = new sockets.WebSocket('ws://x');
    const closes: number[] = [];
    ws.onclose = (ev) => closes.push(ev.code);
    expect(() => ws.send('{"t":"auth"}')).toThrow(/CONNECTING/);
    sockets.latest.open();
    ws.send('{"t":"auth","token":"t"}');
    expect(sockets.latest.frames).toEqual([{ t: 'auth', token: 't' }]);
    sockets.latest.serverClose(4101, 'refused');
    expect(closes).toEqual([4101]);
    ws.send('{"t":"ping"}');
    expect(sockets.latest.sentWhileNotOpen).toHaveLength(2);
  });

  it('a close by the client is reported back as a close event', async () => {
    const sockets = new MockSockets();
    const ws = new sockets.WebSocket('ws://x');
    sockets.latest.open();
    const closes: number[] = [];
    ws.onclose = (ev) => closes.push(ev.code);
    ws.close(1000, 'bye');
    await Promise.resolve();
    expect(closes).toEqual([1000]);
    expect(sockets.latest.closedByClient).toEqual({ code: 1000, reason: 'bye' });
  });
});
