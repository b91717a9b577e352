/**
 * Slowloris on the HTTP port: many sockets send their request headers one byte at a time. While
 * they drip, normal HTTP requests, new WebSocket clients and an existing subscriber keep working.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import { cleanup, startServer, type RunningServer } from '../support/server.js';
import { RawClient, closeClients } from '../support/clients.js';
import { bystander, exchange, sign, tcp, type Bystander } from './support.js';

const SLOW_SOCKETS = 60;
const DRIP_MS = 100;
const ATTACK_MS = 4000;

let server: RunningServer;
let watch: Bystander;

beforeAll(async () => {
  server = await startServer();
  watch = await bystander(server);
});
afterAll(async () => {
  closeClients();
  await cleanup(server);
});

it('normal HTTP requests and WebSocket clients are served while sockets drip their headers', async () => {
  const token = await sign('hostile', 'normal');
  const slow: Socket[] = [];
  const timers: NodeJS.Timeout[] = [];
  let dripped = 0;
  try {
    for (let i = 0; i < SLOW_SOCKETS; i++) {
      const s = await tcp(server);
      s.on('error', () => {});
      slow.push(s);
      // Half of them look like plain requests, half like WebSocket upgrades; none ever ends its headers.
      const head =
        i % 2 === 0
          ? `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow-${i}: ${'a'.repeat(2000)}`
          : `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Slow-${i}: ${'a'.repeat(2000)}`;
      let at = 0;
      timers.push(
        setInterval(() => {
          if (at < head.length && !s.destroyed) {
            s.write(head[at++]);
            dripped++;
          }
        }, DRIP_MS),
      );
    }

    const started = Date.now();
    let rounds = 0;
    while (Date.now() - started < ATTACK_MS) {
      rounds++;
      const t0 = Date.now();
      const res = await fetch(`${server.http}/healthz`, { signal: AbortSignal.timeout(2000) });
      expect(res.status, `GET /healthz in round ${rounds}`).toBe(200);
      const pub = await fetch(`${server.http}/channels/normal/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'n', data: rounds }),
        signal: AbortSignal.timeout(2000),
      });
      expect(pub.status, `POST in round ${rounds}`).toBe(200);

      const ws = await RawClient.connect(server.url);
      try {
        expect(await exchange(ws, { t: 'auth', token }, 2000), `WebSocket auth in round ${rounds}`).toEqual([expect.objectContaining({ t: 'connected' })]);
        expect(await exchange(ws, { t: 'sub', id: 1, channel: 'normal' }, 2000)).toEqual([expect.objectContaining({ t: 'ack' })]);
      } finally {
        ws.close();
      }
      await watch.check(`slowloris round ${rounds}`);
      expect(Date.now() - t0, `round ${rounds} took`).toBeLessThan(2000);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(rounds).toBeGreaterThan(3);
    // The attack really was in progress the whole time: every slow socket still open, still dripping.
    expect(slow.filter((s) => !s.destroyed).length).toBe(SLOW_SOCKETS);
    expect(dripped).toBeGreaterThan(SLOW_SOCKETS * 10);
  } finally {
    for (const t of timers) clearInterval(t);
    for (const s of slow) s.destroy();
  }
  expect(server.proc.exitCode).toBeNull();
}, 15_000);
