import { expect } from 'vitest';
import { Realtime, RealtimeClient, type RealtimeClientOptions, type RealtimeOptions } from '../../src/index.js';
import { FakeClock, settle } from './fake-clock.js';
import { MockSockets, OPEN, type MockWebSocket, type SentFrame } from './mock-websocket.js';

export { FakeClock, settle } from './fake-clock.js';
export { MockSockets, MockWebSocket, type SentFrame } from './mock-websocket.js';

export const KEEP_ALIVE_MS = 15_000;

export interface Rig<T> {
  client: T;
  clock: FakeClock;
  sockets: MockSockets;
}

/** A `Realtime` on a fake clock and mock sockets; token auth unless the options say otherwise. */
export function realtimeRig(options: RealtimeOptions = {}): Rig<Realtime> {
  const clock = new FakeClock();
  const sockets = new MockSockets();
  const auth = options.token || options.authCallback || options.key ? {} : { token: 'token-1' };
  const client = new Realtime({ endpoint: 'ws://hubbub.test', ...auth, ...options, clock, WebSocket: sockets.WebSocket });
  return { client, clock, sockets };
}

export function realtimeClientRig(options: Partial<RealtimeClientOptions> = {}): Rig<RealtimeClient> {
  const clock = new FakeClock();
  const sockets = new MockSockets();
  const auth = options.token || options.authCallback ? {} : { token: 'token-1' };
  const client = new RealtimeClient({ url: 'http://hubbub.test', ...auth, ...options, clock, WebSocket: sockets.WebSocket });
  return { client, clock, sockets };
}

/**
 * Play the server's side of a handshake on the socket the client opened last: open it, check the
 * client's first frame is `auth`, answer `connected`. Returns the socket.
 */
export async function handshake(
  sockets: MockSockets,
  connected: Record<string, unknown> = {},
): Promise<MockWebSocket> {
  await settle();
  const socket = sockets.latest;
  if (socket.readyState !== OPEN) socket.open();
  await settle();
  const first = socket.frames[0];
  expect(first?.t, 'the first frame on a socket is auth').toBe('auth');
  socket.deliver({
    t: 'connected',
    connectionId: `conn-${sockets.count}`,
    clientId: 'alice',
    keepAliveMs: KEEP_ALIVE_MS,
    ...connected,
  });
  await settle();
  return socket;
}

/** Open the latest socket and return the auth frame the client sent on it. */
export async function openAndReadAuth(sockets: MockSockets): Promise<SentFrame> {
  await settle();
  const socket = sockets.latest;
  if (socket.readyState !== OPEN) socket.open();
  await settle();
  const auth = socket.frames[0];
  expect(auth?.t).toBe('auth');
  return auth!;
}

/** Run fake time until the client opens socket number `n` (1-based), or fail after `limitMs`. */
export async function untilSocket(rig: Rig<unknown>, n: number, limitMs = 120_000): Promise<MockWebSocket> {
  const start = rig.clock.now();
  await settle();
  while (rig.sockets.count < n) {
    const due = rig.clock.nextDue();
    if (due === undefined || rig.clock.now() + due - start > limitMs) {
      throw new Error(`the client opened ${rig.sockets.count} sockets, expected ${n} within ${limitMs} ms of fake time`);
    }
    await rig.clock.advance(due);
  }
  return rig.sockets.sockets[n - 1]!;
}

/** Record the outcome of a promise without letting a rejection go unhandled. */
export function outcome<T>(promise: Promise<T>): { settled: () => boolean; value: () => T | undefined; error: () => unknown; times: () => number } {
  let done = 0;
  let value: T | undefined;
  let error: unknown;
  promise.then(
    (v) => {
      done++;
      value = v;
    },
    (e) => {
      done++;
      error = e;
    },
  );
  return { settled: () => done > 0, value: () => value, error: () => error, times: () => done };
}
