/**
 * A sender that trickles its request headers (slowloris) is answered 408 and closed once the 10 s
 * headers timeout of SECURITY.md has passed, not up to 30 s later (Node checks its timeouts every
 * `connectionsCheckingInterval`); the server keeps serving meanwhile.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, startServer, type RunningServer } from '../support/server.js';
import { collect, tcp } from './support.js';

describe('slow request headers', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => cleanup(server));

  it('a request whose headers trickle in is closed with 408 within about 10 s; /healthz answers meanwhile', async () => {
    const sockets = await Promise.all(Array.from({ length: 20 }, () => tcp(server)));
    const started = Date.now();
    const received = sockets.map((socket) => {
      socket.write('GET /sse?channel=a HTTP/1.1\r\nHost: x\r\n');
      return collect(socket);
    });
    // One more header line every second: the socket is never idle, the headers never end.
    let n = 0;
    const trickle = setInterval(() => {
      for (const socket of sockets) if (!socket.destroyed) socket.write(`X-Slow-${n}: ${n}\r\n`);
      n++;
    }, 1000);
    try {
      const health = await fetch(`${server.http}/healthz`);
      expect(health.status).toBe(200);
      await Promise.all(received.map((r) => r.closed));
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(9_000);
      expect(took).toBeLessThan(14_000);
      for (const r of received) expect(r.text()).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      clearInterval(trickle);
      for (const socket of sockets) socket.destroy();
    }
  }, 40_000);
});
