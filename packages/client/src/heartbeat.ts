import type { Clock } from './clock.js';

/** The liveness watch of one socket at a time (see `heartbeat`). */
export interface Heartbeat {
  /** A frame came in. */
  received(): void;
  /** A frame went out. */
  sent(): void;
  /** Watch a new socket (a `keepAliveMs` of 0 or none: the server asks for no heartbeat). */
  start(keepAliveMs: number): void;
  stop(): void;
}

/**
 * Liveness of a socket at the server's `keepAliveMs`: `ping` when this side has been quiet for half an
 * interval, `dead` when the server has been quiet for two. (A closure, not a class: its state then
 * minifies to short names, and the browser bundle has a size budget.)
 */
export function heartbeat(clock: Clock, ping: () => void, dead: () => void): Heartbeat {
  let timer: unknown;
  let lastReceived = 0;
  let lastSent = 0;
  const stop = () => {
    clock.clearTimeout(timer);
    timer = undefined;
  };
  const tick = (keepAliveMs: number) => {
    timer = clock.setTimeout(() => {
      const now = clock.now();
      // The server has gone quiet for two intervals: treat the socket as dead.
      if (now - lastReceived > 2 * keepAliveMs) return dead();
      if (now - lastSent >= keepAliveMs / 2) ping();
      tick(keepAliveMs);
    }, Math.max(50, Math.floor(keepAliveMs / 2)));
  };
  return {
    received: () => void (lastReceived = clock.now()),
    sent: () => void (lastSent = clock.now()),
    start(keepAliveMs) {
      stop();
      if (!(keepAliveMs > 0)) return;
      lastReceived = clock.now();
      tick(keepAliveMs);
    },
    stop,
  };
}
