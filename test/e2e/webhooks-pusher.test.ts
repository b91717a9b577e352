/**
 * Webhooks in Pusher's format against the real `hubbub serve`: a Pusher app's endpoint (a local HTTP
 * server) checks every request with the `pusher` server SDK's `webhook().isValid()`, using the
 * credentials `hubbub keys create --format pusher` printed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebhookReceiver } from '@hubbub/client';
import { createServer } from 'node:http';
import { generateWebhookSecret } from '../../packages/server/src/service/webhooks/signature.js';
import { cleanup, devtoken, runCli, startServer, type RunningServer } from '../support/server.js';
import { client, closeClients } from '../support/clients.js';
import { freePort } from '../support/redis.js';
import { until } from '../support/wait.js';
import { runnableBlock } from '../docs/support/markdown.js';
import { parsePusherEnv, type PusherCredentials } from '../support/pusher.js';
import { pusherHookReceiver, pusherSdk, type PusherHookReceiver } from '../support/pusher-webhook-receiver.js';

const servers: RunningServer[] = [];
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  closeClients();
  for (const c of closers.splice(0)) await c();
  await Promise.all(servers.splice(0).map(cleanup));
});

/** A data dir holding a key of app foony, and that key as a Pusher app's credentials. */
async function pusherKey(): Promise<{ dataDir: string; credentials: PusherCredentials }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hubbub-pwh-'));
  const made = await runCli(['keys', 'create', '--app', 'foony', '--format', 'pusher', '--data-dir', dataDir]);
  expect(made.code, made.stderr).toBe(0);
  return { dataDir, credentials: parsePusherEnv(made.stdout) };
}

function writeConfig(dataDir: string, hooks: unknown[]): string {
  const config = join(dataDir, 'hubbub.config.json');
  writeFileSync(config, JSON.stringify({ webhooks: hooks }));
  return config;
}

async function hubbubWithPusherHooks(dataDir: string, credentials: PusherCredentials, url: string, extra: Record<string, unknown> = {}) {
  const config = writeConfig(dataDir, [{ app: 'foony', url, format: 'pusher', key: `foony.${credentials.key}`, ...extra }]);
  const s = await startServer(['--config', config, '--webhook-retry', '100ms', '--webhook-allow-private'], { dataDir });
  servers.push(s);
  return s;
}

async function receiver(credentials: PusherCredentials): Promise<{ rx: PusherHookReceiver; url: string }> {
  const port = await freePort();
  const rx = await pusherHookReceiver(credentials, port);
  closers.push(rx.close);
  return { rx, url: `http://127.0.0.1:${port}/pusher/webhooks` };
}

const named = (rx: PusherHookReceiver, name: string) => rx.events().filter((e) => e.name === name);

describe('webhooks in Pusher format', () => {
  it('member_added, client_event, member_removed and occupancy, each verified by pusher.webhook().isValid()', async () => {
    const { dataDir, credentials } = await pusherKey();
    const { rx, url } = await receiver(credentials);
    const s = await hubbubWithPusherHooks(dataDir, credentials, url);
    const alice = client(s.url, { token: await devtoken('foony', 'alice') });
    const room = alice.channels.get('presence-room');
    await room.presence.enter({ name: 'Alice' });
    await room.publish('said', 'not a client event');
    await room.publish('client-typing', { typing: true });
    await until(() => named(rx, 'client_event').length === 1, 'the client_event');
    alice.close();
    await until(() => named(rx, 'member_removed').length === 1 && named(rx, 'channel_vacated').length === 1, 'member_removed and channel_vacated');

    expect(rx.requests.every((r) => r.valid)).toBe(true);
    for (const r of rx.requests) {
      expect(r.headers['x-pusher-key']).toBe(credentials.key);
      expect(r.headers['content-type']).toBe('application/json');
      const body = JSON.parse(r.rawBody);
      expect(Number.isInteger(body.time_ms)).toBe(true);
      expect(Math.abs(body.time_ms - Date.now())).toBeLessThan(60_000);
      expect(body.events).toHaveLength(1);
    }
    expect(named(rx, 'member_added')).toEqual([{ name: 'member_added', channel: 'presence-room', user_id: 'alice' }]);
    expect(named(rx, 'member_removed')).toEqual([{ name: 'member_removed', channel: 'presence-room', user_id: 'alice' }]);
    expect(named(rx, 'channel_occupied')).toEqual([{ name: 'channel_occupied', channel: 'presence-room' }]);
    expect(named(rx, 'channel_vacated')).toEqual([{ name: 'channel_vacated', channel: 'presence-room' }]);
    // Data goes as text, as Pusher sends a client event's data; the sender is named on a presence channel.
    expect(named(rx, 'client_event')).toEqual([{ name: 'client_event', channel: 'presence-room', event: 'client-typing', data: '{"typing":true}', user_id: 'alice' }]);
    // Only client- messages are Pusher client events, and Hubbub's other events have no Pusher form.
    expect(rx.events().map((e) => e.name).sort()).toEqual(['channel_occupied', 'channel_vacated', 'client_event', 'member_added', 'member_removed']);
  });

  it('a client event published over REST on a private channel carries no user_id; events lists narrow what is sent', async () => {
    const { dataDir, credentials } = await pusherKey();
    const { rx, url } = await receiver(credentials);
    const s = await hubbubWithPusherHooks(dataDir, credentials, url, { events: ['message.published'] });
    const auth = { authorization: `Bearer foony.${credentials.key}:${credentials.secret}`, 'content-type': 'application/json' };
    const sent = await fetch(`${s.http}/channels/private-orders/messages`, { method: 'POST', headers: auth, body: JSON.stringify({ name: 'client-ping', data: 'plain text' }) });
    expect(sent.status).toBe(200);
    await until(() => named(rx, 'client_event').length === 1, 'the client_event');
    expect(named(rx, 'client_event')).toEqual([{ name: 'client_event', channel: 'private-orders', event: 'client-ping', data: 'plain text' }]);
    expect(rx.requests.every((r) => r.valid)).toBe(true);
    expect(rx.events()).toHaveLength(1);
  });

  it('a wrong secret or a changed body does not verify', async () => {
    const { dataDir, credentials } = await pusherKey();
    const { rx, url } = await receiver(credentials);
    const s = await hubbubWithPusherHooks(dataDir, credentials, url);
    const bob = client(s.url, { token: await devtoken('foony', 'bob') });
    await bob.channels.get('presence-lobby').presence.enter();
    await until(() => named(rx, 'member_added').length === 1, 'member_added');
    const { headers, rawBody } = rx.requests.find((r) => r.rawBody.includes('member_added'))!;
    expect(pusherSdk(credentials).webhook({ headers, rawBody }).isValid()).toBe(true);
    expect(pusherSdk({ ...credentials, secret: `${credentials.secret}x` }).webhook({ headers, rawBody }).isValid()).toBe(false);
    expect(pusherSdk({ ...credentials, key: 'another-key' }).webhook({ headers, rawBody }).isValid()).toBe(false);
    expect(pusherSdk(credentials).webhook({ headers, rawBody: rawBody.replace('bob', 'eve') }).isValid()).toBe(false);
  });

  it('a receiver answering 500 gets the same signed body again from the outbox, until it takes it', async () => {
    const { dataDir, credentials } = await pusherKey();
    const { rx, url } = await receiver(credentials);
    rx.failNext(2);
    const s = await hubbubWithPusherHooks(dataDir, credentials, url, { events: ['presence.enter'] });
    const carol = client(s.url, { token: await devtoken('foony', 'carol') });
    await carol.channels.get('presence-retry').presence.enter();
    await until(() => named(rx, 'member_added').length === 1, 'member_added after two refusals');
    expect(rx.requests.map((r) => r.status)).toEqual([500, 500, 200]);
    // One event: each retry is the very body first written to the outbox, still signed for the SDK.
    expect(new Set(rx.requests.map((r) => r.rawBody)).size).toBe(1);
    expect(rx.requests.every((r) => r.valid)).toBe(true);
    expect(s.logs.filter((l) => l.includes('webhook attempt failed') && l.includes('HTTP 500'))).toHaveLength(2);
  });

  it('one app can have a Standard Webhooks endpoint and a Pusher one: each gets its own form of the same event', async () => {
    const { dataDir, credentials } = await pusherKey();
    const { rx, url } = await receiver(credentials);
    const secret = generateWebhookSecret();
    const verifier = new WebhookReceiver(secret);
    const standard: Array<{ type: string; data: any }> = [];
    const standardPort = await freePort();
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        standard.push(verifier.verify<{ type: string; data: any }>(Buffer.concat(chunks), req.headers).event);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(standardPort, '127.0.0.1', () => resolve()));
    closers.push(() => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    });
    const config = writeConfig(dataDir, [
      { app: 'foony', url: `http://127.0.0.1:${standardPort}/hooks`, secret, events: ['presence.enter', 'client.connected'] },
      { app: 'foony', url, format: 'pusher', key: `foony.${credentials.key}`, events: ['presence.enter'] },
    ]);
    const s = await startServer(['--config', config, '--webhook-retry', '100ms', '--webhook-allow-private'], { dataDir });
    servers.push(s);
    const dave = client(s.url, { token: await devtoken('foony', 'dave') });
    await dave.channels.get('presence-both').presence.enter({ v: 1 });
    await until(() => named(rx, 'member_added').length === 1 && standard.some((e) => e.type === 'presence.enter'), 'both forms of the enter');
    await until(() => standard.some((e) => e.type === 'client.connected'), 'client.connected');
    expect(standard.find((e) => e.type === 'presence.enter')!.data).toMatchObject({ channel: 'presence-both', clientId: 'dave', data: { v: 1 } });
    expect(named(rx, 'member_added')).toEqual([{ name: 'member_added', channel: 'presence-both', user_id: 'dave' }]);
    expect(rx.requests.every((r) => r.valid)).toBe(true);
    expect(rx.events()).toHaveLength(1);
  });

  it('serve refuses to start with a key that does not exist or belongs to another app', async () => {
    const { dataDir, credentials } = await pusherKey();
    const url = 'http://127.0.0.1:9/hooks';
    const missing = writeConfig(dataDir, [{ app: 'foony', url, format: 'pusher', key: 'foony.nosuchkey' }]);
    const run = (config: string) => runCli(['serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--config', config]);
    const noKey = await run(missing);
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toContain('webhooks[0] (http://127.0.0.1:9/hooks): unknown key id "foony.nosuchkey"');
    const otherApp = writeConfig(dataDir, [{ app: 'other', url, format: 'pusher', key: `foony.${credentials.key}` }]);
    expect((await run(otherApp)).stderr).toContain('names a key of app foony, not of other');
    const revoked = writeConfig(dataDir, [{ app: 'foony', url, format: 'pusher', key: `foony.${credentials.key}` }]);
    expect((await runCli(['keys', 'revoke', `foony.${credentials.key}`, '--data-dir', dataDir])).code).toBe(0);
    const afterRevoke = await run(revoked);
    expect(afterRevoke.code).toBe(1);
    expect(afterRevoke.stderr).toContain('names a revoked API key');
  });

  it('config check names what a Pusher-format endpoint lacks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hubbub-pwh-'));
    const config = writeConfig(dir, [
      { app: 'foony', url: 'https://example.com/a', format: 'pusher', secret: 'whsec_ZXhhbXBsZS1zZWNyZXQ=' },
      { app: 'foony', url: 'https://example.com/b', format: 'pusher', key: 'foony.k1', events: ['document.changed'] },
      { app: 'foony', url: 'https://example.com/c', format: 'soketi', secret: 'whsec_ZXhhbXBsZS1zZWNyZXQ=' },
      { app: 'foony', url: 'https://example.com/d', key: 'foony.k1', secret: 'whsec_ZXhhbXBsZS1zZWNyZXQ=' },
    ]);
    const checked = await runCli(['config', 'check', config]);
    expect(checked.code).toBe(1);
    expect(checked.stderr).toContain('"webhooks[0].key" must name an API key of the app, APP.KEYID');
    expect(checked.stderr).toContain('"webhooks[0].secret" is not used by "format": "pusher"');
    expect(checked.stderr).toContain('"webhooks[1].events" must be an array of channel.occupied, channel.vacated, presence.enter, presence.leave, message.published (for the pusher format)');
    expect(checked.stderr).toContain('"webhooks[2].format" must be one of standard, pusher');
    expect(checked.stderr).toContain('"webhooks[3].key" is for "format": "pusher" endpoints');
    const good = writeConfig(dir, [{ app: 'foony', url: 'https://example.com/a', format: 'pusher', key: 'foony.k1', events: ['presence.enter', 'message.published'] }]);
    expect(await runCli(['config', 'check', good])).toMatchObject({ code: 0 });
    const documented = join(dir, 'documented.json');
    writeFileSync(documented, runnableBlock('config-example-pusher-webhook').text);
    expect(await runCli(['config', 'check', documented])).toMatchObject({ code: 0 });
  });
});
