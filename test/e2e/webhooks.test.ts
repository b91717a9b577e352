import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebhookReceiver, WebhookVerificationError, verifyWebhook, RealtimeClient } from '@hubbub/client';
import { generateWebhookSecret, signWebhook } from '../../packages/server/src/service/webhooks/signature.js';
import { cleanup, devtoken, startServer, type RunningServer } from '../support/server.js';
import { client, closeClients } from '../support/clients.js';
import { freePort } from '../support/redis.js';
import { until } from '../support/wait.js';
import Database from 'better-sqlite3';

interface Received {
  type: string;
  app: string;
  data: any;
  id: string;
}

/** A real HTTP receiver that verifies every request with WebhookReceiver, as a user's app would. */
async function receiver(secret: string, port: number) {
  const verifier = new WebhookReceiver(secret);
  const got: Received[] = [];
  const rejected: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      try {
        const { event, id } = verifier.verify<Omit<Received, 'id'>>(Buffer.concat(chunks), req.headers);
        got.push({ ...event, id });
        res.writeHead(204).end();
      } catch (err) {
        rejected.push((err as WebhookVerificationError).code);
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return { got, rejected, server, close: () => closeServer(server) };
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

const servers: RunningServer[] = [];
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  closeClients();
  for (const c of closers.splice(0)) await c();
  await Promise.all(servers.splice(0).map(cleanup));
});

async function hubbubWithWebhook(url: string, secret: string, events?: string[], dataDir?: string) {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'hubbub-wh-'));
  const config = join(dir, 'hubbub.config.json');
  writeFileSync(config, JSON.stringify({ webhooks: [{ app: 'foony', url, secret, ...(events ? { events } : {}) }] }));
  const s = await startServer(['--config', config, '--webhook-retry', '100ms', '--webhook-allow-private'], { dataDir: dir });
  servers.push(s);
  return s;
}

describe('webhooks', () => {
  it('are signed per Standard Webhooks and verified by a real receiver', async () => {
    const secret = generateWebhookSecret();
    const port = await freePort();
    const rx = await receiver(secret, port);
    closers.push(rx.close);
    const s = await hubbubWithWebhook(`http://127.0.0.1:${port}/hooks`, secret, [
      'client.connected',
      'client.disconnected',
      'channel.occupied',
      'channel.vacated',
      'presence.enter',
      'presence.leave',
      'message.published',
      'document.changed',
    ]);
    const token = await devtoken('foony', 'alice');
    const a = client(s.url, { token });
    await a.channels.get('room').presence.enter({ hi: 1 });
    await a.channels.get('room').publish('said', 'hello');
    const platform = new RealtimeClient({ url: s.http, token, autoConnect: false });
    await platform.sync.create('doc1', { v: 1 });
    a.close();
    await until(
      () => ['client.disconnected', 'presence.leave', 'channel.vacated', 'document.changed'].every((t) => rx.got.some((e) => e.type === t)),
      'all event types',
    );
    const types = rx.got.map((e) => e.type);
    for (const t of ['client.connected', 'channel.occupied', 'presence.enter', 'message.published']) expect(types).toContain(t);
    expect(rx.got.find((e) => e.type === 'message.published')!.data).toMatchObject({ channel: 'room', name: 'said', data: 'hello', clientId: 'alice' });
    expect(rx.got.find((e) => e.type === 'presence.enter')!.data).toMatchObject({ channel: 'room', clientId: 'alice' });
    expect(rx.got.every((e) => e.app === 'foony')).toBe(true);
    expect(rx.rejected).toEqual([]);
  });

  it('rejects a tampered body, a wrong secret, an old timestamp and a replay', () => {
    const secret = generateWebhookSecret();
    const body = JSON.stringify({ type: 'client.connected', data: { clientId: 'a' } });
    const now = Math.floor(Date.now() / 1000);
    const headers = (ts = now, s = secret, id = 'msg_1') => ({
      'webhook-id': id,
      'webhook-timestamp': String(ts),
      'webhook-signature': signWebhook(s, id, ts, body),
    });
    const rx = new WebhookReceiver(secret);
    expect(rx.verify(body, headers()).event).toMatchObject({ type: 'client.connected' });
    expect(() => rx.verify(body, headers())).toThrow(expect.objectContaining({ code: 'replayed' }));
    expect(() => verifyWebhook(secret, body.replace('"a"', '"b"'), headers(now, secret, 'msg_2'))).toThrow(WebhookVerificationError);
    expect(() => verifyWebhook(secret, body, headers(now, generateWebhookSecret(), 'msg_3'))).toThrow(expect.objectContaining({ code: 'bad_signature' }));
    expect(() => verifyWebhook(secret, body, headers(now - 3600, secret, 'msg_4'))).toThrow(expect.objectContaining({ code: 'timestamp_out_of_tolerance' }));
    expect(() => verifyWebhook(secret, body, {})).toThrow(expect.objectContaining({ code: 'missing_headers' }));
  });

  it('a receiver that is down for a while still gets every event, and the outbox survives a restart', async () => {
    const secret = generateWebhookSecret();
    const port = await freePort();
    const s = await hubbubWithWebhook(`http://127.0.0.1:${port}/hooks`, secret, ['document.changed']);
    const token = await devtoken('foony', 'writer');
    const platform = new RealtimeClient({ url: s.http, token, autoConnect: false });
    for (let i = 1; i <= 5; i++) await platform.sync.create(`doc-${i}`, { i });
    // Hubbub is killed while all five wait in the outbox; the new process must deliver them.
    await s.stop('SIGKILL');
    servers.pop();
    const again = await hubbubWithWebhook(`http://127.0.0.1:${port}/hooks`, secret, ['document.changed'], s.dataDir);
    const platform2 = new RealtimeClient({ url: again.http, token, autoConnect: false });
    await platform2.sync.create('doc-6', { i: 6 });
    // Wait until deliveries have really failed against the closed port (attempts recorded in the outbox).
    const outbox = new Database(join(s.dataDir, 'hubbub.db'), { readonly: true });
    await until(() => (outbox.prepare('SELECT min(attempts) AS n FROM hubbub_webhook_outbox').get() as { n: number }).n >= 2, 'failed attempts');
    outbox.close();
    const rx = await receiver(secret, port);
    closers.push(rx.close);
    await until(() => new Set(rx.got.map((e) => e.data.topic)).size === 6, 'all six document events', 15_000);
    const topics = [...new Set(rx.got.map((e) => e.data.topic))].sort();
    expect(topics).toEqual(['sync.doc-1', 'sync.doc-2', 'sync.doc-3', 'sync.doc-4', 'sync.doc-5', 'sync.doc-6']);
    expect(rx.rejected).toEqual([]);
  });
});
