/**
 * Pusher's HTTP API checks a request's credentials before it reads a byte of the body: the app and
 * `auth_key`, `auth_version`, `auth_timestamp` and the signature (which covers `body_md5`) are all in
 * the request line. An unknown key, a bad signature or an old timestamp with a declared large body is
 * answered while the client has sent only its headers, and thousands of such requests, each pushing
 * most of a large body, leave the server's memory flat (the outside attacker's a16 and a17).
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeClients } from '../support/clients.js';
import { createPusherApp, signedPath, type PusherApp } from '../support/pusher.js';
import { cleanup, startServer, type RunningServer } from '../support/server.js';
import { until } from '../support/wait.js';
import { bystander, collect, tcp, type Bystander } from './support.js';

const APP = 'hostile';
/** Just under the largest body the Pusher API reads (512 KiB, compat/pusher/defaults.ts): what every request here declares. */
const DECLARED = 500_000;
const SOCKETS = 1000;
/** Opened this many at a time, each kept open to the end: a server that kept the bodies would hold them all. */
const BATCH = 50;
const SENT_PER_SOCKET = 400 * 1024;
/** A quarter of what the sockets sent (about 390 MiB), all of which a server reading bodies first held. */
const MAX_RSS_GROWTH_MIB = 100;

let server: RunningServer;
let watch: Bystander;
let creds: PusherApp;
const sockets: Socket[] = [];

beforeAll(async () => {
  server = await startServer();
  watch = await bystander(server, APP);
  creds = await createPusherApp(server.dataDir, APP);
});
afterAll(async () => {
  closeClients();
  await cleanup(server);
});
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
});

const now = () => Math.floor(Date.now() / 1000);

/** A request line that fails one check each, with a body_md5 so only that check decides. */
function refusedPaths(): Record<string, string> {
  const md5 = 'd41d8cd98f00b204e9800998ecf8427e';
  const signed = signedPath(creds, { method: 'POST', path: '/events', body: 'x' });
  return {
    'unknown app': `/apps/nosuchapp/events?auth_key=${creds.key}&auth_timestamp=${now()}&auth_version=1.0&body_md5=${md5}&auth_signature=${'0'.repeat(64)}`,
    'unknown auth_key': `/apps/${APP}/events?auth_key=nokey&auth_timestamp=${now()}&auth_version=1.0&body_md5=${md5}&auth_signature=${'0'.repeat(64)}`,
    'bad signature': signed.replace(/auth_signature=[0-9a-f]+/, `auth_signature=${'0'.repeat(64)}`),
    'auth_version 2.0': `/apps/${APP}/events?auth_key=${creds.key}&auth_timestamp=${now()}&auth_version=2.0&body_md5=${md5}&auth_signature=${'0'.repeat(64)}`,
    'old auth_timestamp': signedPath(creds, { method: 'POST', path: '/events', body: 'x', agoS: 3600 }),
    'no auth_signature': `/apps/${APP}/events?auth_key=${creds.key}&auth_timestamp=${now()}&auth_version=1.0&body_md5=${md5}`,
  };
}

/** Headers of a POST declaring `DECLARED` bytes of body; no body byte follows. */
const headers = (path: string) => `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${DECLARED}\r\n\r\n`;

async function open(): Promise<Socket> {
  const socket = await tcp(server);
  sockets.push(socket);
  return socket;
}

function rssOf(): number {
  const status = readFileSync(`/proc/${server.proc.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

describe('Pusher HTTP API: credentials before the body', () => {
  it('answers 401 to a refused credential while the client has sent only its headers', async () => {
    for (const [what, path] of Object.entries(refusedPaths())) {
      const socket = await open();
      const got = collect(socket);
      socket.write(headers(path));
      await until(() => /\r\n\r\n\{.*\}$/s.test(got.text()), `an answer to ${what} before any body byte`);
      expect(got.text(), what).toMatch(/^HTTP\/1\.1 401 /);
      expect(got.text(), what).toContain('"code":40101');
    }
  });

  it('a signed request that declares a body without body_md5 is refused from its headers too', async () => {
    const path = signedPath(creds, { method: 'POST', path: '/events' });
    const socket = await open();
    const got = collect(socket);
    socket.write(headers(path));
    await until(() => /\r\n\r\n\{.*\}$/s.test(got.text()), 'an answer before the body');
    expect(got.text()).toMatch(/^HTTP\/1\.1 401 /);
    expect(got.text()).toContain('needs body_md5');
  });

  it('a correctly signed request is answered once its body is read, and checked against body_md5', async () => {
    const body = JSON.stringify({ name: 'e', channel: 'bodies', data: '{}' });
    const path = signedPath(creds, { method: 'POST', path: '/events', body });
    const socket = await open();
    const got = collect(socket);
    socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    // A round trip on another socket: the signed request is still waiting for its body.
    expect((await fetch(`${server.http}/healthz`)).status).toBe(200);
    expect(got.text()).toBe('');
    socket.write(body);
    await until(() => /\r\n\r\n\{.*\}$/s.test(got.text()), 'the answer once the body arrived');
    expect(got.text()).toMatch(/^HTTP\/1\.1 200 /);

    const tampered = await open();
    const refused = collect(tampered);
    const other = body.replace('bodies', 'bodiez');
    tampered.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${other.length}\r\n\r\n${other}`);
    await until(() => /\r\n\r\n\{.*\}$/s.test(refused.text()), 'the answer to a changed body');
    expect(refused.text()).toMatch(/^HTTP\/1\.1 401 /);
    expect(refused.text()).toContain('body_md5 does not match');
  });

  it(`${SOCKETS} refused requests each pushing ${SENT_PER_SOCKET / 1024} KiB of a declared body: all answered, memory flat, bystander fine`, async () => {
    const path = refusedPaths()['unknown auth_key'];
    const chunk = Buffer.alloc(SENT_PER_SOCKET, 'x');
    const before = rssOf();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf())), 10);
    try {
      const answered: boolean[] = [];
      for (let opened = 0; opened < SOCKETS; opened += BATCH) {
        answered.push(
          ...(await Promise.all(
            Array.from({ length: BATCH }, async () => {
              const socket = await open();
              const got = collect(socket);
              socket.write(headers(path));
              socket.write(chunk);
              await until(() => /\r\n\r\n\{.*\}$/s.test(got.text()), 'a 401 to the flood', 20_000);
              return got.text().startsWith('HTTP/1.1 401 ');
            }),
          )),
        );
      }
      expect(answered.length).toBe(SOCKETS);
      expect(answered.every(Boolean)).toBe(true);
      peak = Math.max(peak, rssOf());
    } finally {
      clearInterval(sampler);
    }
    expect((peak - before) / (1024 * 1024), 'server memory growth (MiB)').toBeLessThan(MAX_RSS_GROWTH_MIB);
    await watch.check('a flood of refused Pusher requests');
  }, 60_000);
});
