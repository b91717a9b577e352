/**
 * The Pusher WebSocket endpoint of a real `hubbub serve`, protocol 7: the handshake, keep-alive both
 * ways, refusals with Pusher's codes in their classes, and a public channel fed by Hubbub's own SDK.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { client as hubbub, closeClients } from '../../support/clients.js';
import { PusherClients, RawPusher, connected, nextEvent, startPusherServer, subscribed, until, type PusherApp } from '../../support/pusher.js';
import { cleanup, runCli, type RunningServer } from '../../support/server.js';

let server: RunningServer;
let app: PusherApp;
const clients = new PusherClients();

beforeAll(async () => {
  ({ server, app } = await startPusherServer(['--heartbeat', '1s']));
});
afterAll(() => cleanup(server));
afterEach(() => {
  clients.closeAll();
  closeClients();
});

const path = (key: string, query = '?protocol=7&client=js&version=8.6.0') => `/app/${key}${query}`;

describe('Pusher protocol 7 handshake', () => {
  it('says connection_established with a socket id \\d+.\\d+ and an activity timeout, as a JSON string', async () => {
    const raw = await RawPusher.open(server.port, path(app.key));
    const first = await raw.next((e) => e.event === 'pusher:connection_established', 'established');
    expect(typeof first.data).toBe('string');
    const data = JSON.parse(first.data as string) as { socket_id: string; activity_timeout: number };
    expect(data.socket_id).toMatch(/^\d+\.\d+$/);
    expect(data.activity_timeout).toBe(1);
    raw.close();
  });

  it('pusher-js connects and gets its socket id', async () => {
    const pusher = clients.make(app, server.port);
    expect(await connected(pusher)).toMatch(/^\d+\.\d+$/);
  });

  it('answers pusher:ping with pusher:pong', async () => {
    const raw = await RawPusher.open(server.port, path(app.key));
    await raw.socketId();
    raw.send('pusher:ping', {});
    await raw.next((e) => e.event === 'pusher:pong', 'pong');
    raw.close();
  });

  it('pings an idle client, and closes with 4201 one that never answers', async () => {
    const raw = await RawPusher.open(server.port, path(app.key));
    await raw.socketId();
    await raw.next((e) => e.event === 'pusher:ping', 'server ping');
    // Answered: the connection stays, and the next quiet spell brings another ping.
    raw.send('pusher:pong', {});
    const answered = raw.received.length;
    await raw.next((e) => e.event === 'pusher:ping', 'second server ping', answered);
    expect(raw.closed).toBeUndefined();
    // Unanswered now: closed in the "reconnect" class.
    expect((await raw.whenClosed()).code).toBe(4201);
  });

  it('refuses an unknown key with pusher:error 4001 and close 4001 (pusher-js does not retry)', async () => {
    const raw = await RawPusher.open(server.port, path('nosuchkey'));
    const err = await raw.next((e) => e.event === 'pusher:error', 'error');
    expect((err.data as { code: number }).code).toBe(4001);
    expect((await raw.whenClosed()).code).toBe(4001);

    const pusher = clients.make({ ...app, key: 'nosuchkey' }, server.port);
    await until(() => pusher.connection.state === 'failed' || pusher.connection.state === 'disconnected', 'pusher-js gives up');
  });

  it('refuses an unsupported protocol with 4007, a missing one with 4008', async () => {
    const old = await RawPusher.open(server.port, path(app.key, '?protocol=5'));
    expect((await old.whenClosed()).code).toBe(4007);
    const none = await RawPusher.open(server.port, path(app.key, ''));
    expect((await none.whenClosed()).code).toBe(4008);
  });

  it('closes the connections of a key when it is revoked (4009), and refuses the key after', async () => {
    const open = await RawPusher.open(server.port, path(app.key));
    await open.socketId();
    const { code } = await runCli(['keys', 'revoke', `${app.appId}.${app.key}`, '--data-dir', server.dataDir]);
    expect(code).toBe(0);
    try {
      expect((await open.whenClosed()).code).toBe(4009);
      const raw = await RawPusher.open(server.port, path(app.key));
      expect((await raw.whenClosed()).code).toBe(4001);
    } finally {
      // The rest of the file needs a live key.
      ({ server, app } = await restartWithNewKey());
    }
  });
});

describe('public channels in one channel space', () => {
  it('a pusher-js subscriber gets what Hubbub SDK publishes, as {event, data text}', async () => {
    const pusher = clients.make(app, server.port);
    const channel = await subscribed(pusher, 'news');
    const got = nextEvent<{ headline: string }>(channel, 'breaking');
    const rt = hubbub(server.url, { key: app.hubbubKey, clientId: 'newsroom' });
    await rt.channels.get('news').publish('breaking', { headline: 'hello' });
    expect((await got).data).toEqual({ headline: 'hello' });
  });

  it('text that is not JSON arrives as that text', async () => {
    const pusher = clients.make(app, server.port);
    const channel = await subscribed(pusher, 'plain');
    const got = nextEvent<string>(channel, 'note');
    await hubbub(server.url, { key: app.hubbubKey }).channels.get('plain').publish('note', 'just text');
    expect((await got).data).toBe('just text');
  });
});

async function restartWithNewKey(): Promise<{ server: RunningServer; app: PusherApp }> {
  await cleanup(server);
  return startPusherServer(['--heartbeat', '1s']);
}
