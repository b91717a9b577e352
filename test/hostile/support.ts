/**
 * Helpers shared by the hostile-input suites: quick HS256 tokens, a bystander client that must
 * stay unaffected by whatever the attacker does, and a few raw-socket utilities.
 */
import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { SignJWT, type JWTPayload } from 'jose';
import type { Message } from '@hubbub/client';
import type { ServerFrame } from '@hubbub/protocol';
import { expect } from 'vitest';
import { SIGNING_KEY, type RunningServer } from '../support/server.js';
import { RawClient, client } from '../support/clients.js';
import { until } from '../support/wait.js';

/** Every documented error code (docs/protocol.md). */
export const DOCUMENTED_CODES = [
  40001, 40101, 40102, 40300, 40301, 40302, 40400, 40500, 40900, 41300, 42900, 50000, 50001, 50300,
];

/** An HS256 token signed with the test server's key, like `hubbub devtoken` makes, minted in-process. */
export async function sign(app: string, sub: string, extra: JWTPayload = {}, ttlSeconds = 3600): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ app, ...extra })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSeconds)
    .sign(new TextEncoder().encode(SIGNING_KEY));
}

/** A raw socket that is already authenticated. */
export async function authedRaw(server: RunningServer, app: string, clientId: string): Promise<RawClient> {
  const raw = await RawClient.connect(server.url);
  const reply = await raw.auth(await sign(app, clientId));
  expect(reply, 'auth of a raw client').toMatchObject({ t: 'connected' });
  return raw;
}

export interface Bystander {
  readonly received: Message[];
  /** Connection states the bystander went through after it first connected. */
  readonly states: string[];
  /**
   * The server process still runs, the bystander never lost its connection, and a message
   * published now (through the HTTP API) reaches it.
   */
  check(label: string): Promise<void>;
}

/** A Realtime client of `app`, attached to `channel`, that a test checks after each attack. */
export async function bystander(server: RunningServer, app = 'hostile', channel = 'bystander'): Promise<Bystander> {
  const token = await sign(app, `bystander-${randomUUID().slice(0, 8)}`);
  const publisherToken = await sign(app, 'bystander-publisher');
  const rt = client(server.url, { token });
  const received: Message[] = [];
  const states: string[] = [];
  rt.channels.get(channel).on((m) => received.push(m));
  await rt.channels.get(channel).attach();
  rt.connection.on((change) => states.push(change.current));
  return {
    received,
    states,
    async check(label: string) {
      expect(server.proc.exitCode, `server process still running (${label})`).toBeNull();
      expect(server.proc.signalCode, `server process still running (${label})`).toBeNull();
      const marker = `${label}:${randomUUID()}`;
      const res = await fetch(`${server.http}/channels/${channel}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${publisherToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'alive', data: marker }),
      });
      expect(res.status, `REST publish for the bystander (${label})`).toBe(200);
      await until(() => received.some((m) => m.data === marker), `bystander to receive the message after ${label}`, 5000);
      expect(states, `bystander connection never dropped (${label})`).not.toContain('disconnected');
      expect(rt.connection.state).toBe('connected');
    },
  };
}

/** Err frames and their ids, for assertions on what a user sees. */
export function errOf(frame: ServerFrame): { t: 'err'; id?: number; code: number; message: string } {
  expect(frame.t, `expected an err frame, got ${JSON.stringify(frame)}`).toBe('err');
  return frame as { t: 'err'; id?: number; code: number; message: string };
}

/** Frames received after index `from` (exclusive of earlier ones). */
export function framesSince(raw: RawClient, from: number): ServerFrame[] {
  return raw.frames.slice(from);
}

/**
 * Send `frame` (a Buffer goes as a binary frame), then a ping with a sentinel id, and wait for that pong: replies come in the
 * order of requests, so every reply to `frame` is among the frames returned.
 */
let sentinel = 9_000_000_000_000_000 - 1_000_000;
export async function exchange(raw: RawClient, frame: unknown, timeoutMs = 5000): Promise<ServerFrame[]> {
  const from = raw.frames.length;
  const id = sentinel++;
  if (frame instanceof Uint8Array) raw.ws.send(frame, { binary: true });
  else raw.send(frame);
  raw.send({ t: 'ping', id });
  await raw.waitFor((f) => f.t === 'pong' && f.id === id, timeoutMs);
  const got = raw.frames.slice(from);
  return got.slice(0, got.findIndex((f) => f.t === 'pong' && f.id === id));
}

/** A raw TCP connection to the server's HTTP port. */
export async function tcp(server: RunningServer): Promise<Socket> {
  const socket = connect(server.port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return socket;
}

/** Everything a socket receives until it closes (or `timeoutMs`, whichever first). */
export function collect(socket: Socket): { text(): string; closed: Promise<void> } {
  let buffer = '';
  socket.on('data', (d) => (buffer += d.toString('latin1')));
  const closed = new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.once('error', () => resolve());
  });
  return { text: () => buffer, closed };
}
