/**
 * Pusher access is opt-in per key. A Pusher app key is public (every page running pusher-js shows
 * it), while a Hubbub key's id travels inside the tokens it mints: only a key made with
 * `hubbub keys create --format pusher` answers at `/app/{keyId}`, any other id is refused like an
 * unknown one, and a Pusher key's capability is what anyone holding its id may subscribe to. The HTTP
 * API needs the secret, so it answers every active key of the app.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { client as hubbub, closeClients } from '../../support/clients.js';
import {
  PusherClients,
  RawPusher,
  backend,
  connected,
  createHubbubKey,
  createPusherApp,
  nextEvent,
  startPusherServer,
  subscribed,
  until,
  type PusherApp,
} from '../../support/pusher.js';
import { cleanup, runCli, type RunningServer } from '../../support/server.js';

const APP = 'keyed';
let server: RunningServer;
let pusherKey: PusherApp;
let plainKey: PusherApp;
const clients = new PusherClients();

beforeAll(async () => {
  ({ server, app: pusherKey } = await startPusherServer([], { appId: APP }));
  plainKey = await createHubbubKey(server.dataDir, APP);
});
afterAll(() => cleanup(server));
afterEach(() => {
  clients.closeAll();
  closeClients();
});

const path = (key: string) => `/app/${key}?protocol=7&client=js&version=8.4.0`;

/** What the server says to a socket opened with this key id before it closes it. */
async function refusal(keyId: string): Promise<{ error: unknown; code: number; reason: string }> {
  const raw = await RawPusher.open(server.port, path(keyId));
  const error = await raw.next((e) => e.event === 'pusher:error', 'pusher:error');
  const closed = await raw.whenClosed();
  return { error: error.data, ...closed };
}

/** A refusal a subscription got, as pusher-js reports it. */
async function subscriptionError(promise: Promise<unknown>): Promise<{ status?: number }> {
  try {
    await promise;
  } catch (err) {
    return (err as { detail: { status?: number } }).detail;
  }
  throw new Error('the subscription succeeded');
}

describe('only a --format pusher key answers at /app/{keyId}', () => {
  it('a key made without --format pusher is refused with 4001, exactly like a key id no key has', async () => {
    const plain = await refusal(plainKey.key);
    expect(plain).toEqual({ error: { code: 4001, message: 'no app has this key' }, code: 4001, reason: 'no app has this key' });
    // Nothing tells the id of a real key from a made-up one.
    expect(await refusal('nosuchkey1')).toEqual(plain);
  });

  it('pusher-js with that valid key id gets 4001 and gives up; with the Pusher key it connects', async () => {
    const refused = clients.make(plainKey, server.port);
    const errors: string[] = [];
    refused.connection.bind('error', (e: unknown) => errors.push(JSON.stringify(e)));
    await until(() => errors.some((e) => e.includes('4001')), 'pusher-js told 4001');
    await until(() => refused.connection.state === 'failed' || refused.connection.state === 'disconnected', 'pusher-js gives up');
    expect(await connected(clients.make(pusherKey, server.port))).toMatch(/^\d+\.\d+$/);
  });

  it("the same plain key's HTTP API requests still work: the secret is the credential there", async () => {
    const listener = clients.make(pusherKey, server.port);
    const channel = await subscribed(listener, 'from-plain');
    const got = nextEvent<{ n: number }>(channel, 'hello');
    expect((await backend(plainKey, server.port).trigger('from-plain', 'hello', { n: 1 })).status).toBe(200);
    expect((await got).data).toEqual({ n: 1 });
  });

  it('keys list marks the Pusher key, and only it', async () => {
    const listed = await runCli(['keys', 'list', '--data-dir', server.dataDir]);
    const line = (name: string) => listed.stdout.split('\n').find((l) => l.startsWith(`${name}\t`)) ?? '';
    expect(line(pusherKey.keyName)).toMatch(/\tcreated .*\tpusher: key id public/);
    expect(line(plainKey.keyName)).toMatch(/\tcreated /);
    expect(line(plainKey.keyName)).not.toContain('pusher');
  });
});

describe("a narrow token's key id opens nothing (the outside attacker's a2)", () => {
  it('the key id read from a token (key claim, kid header) is refused at /app/{keyId}; the token itself stays narrow', async () => {
    const auth = { authorization: `Bearer ${plainKey.hubbubKey}`, 'content-type': 'application/json' };
    const narrow = { clientId: 'bob', capability: { 'chat:*': ['subscribe'] } };
    const minted = (await (await fetch(`${server.http}/auth/token`, { method: 'POST', headers: auth, body: JSON.stringify(narrow) })).json()) as { token: string };
    const claims = JSON.parse(Buffer.from(minted.token.split('.')[1], 'base64url').toString()) as { key: string };
    expect(claims.key).toBe(plainKey.keyName);
    const signed = (await (await fetch(`${server.http}/keys/${plainKey.keyName}/requestToken`, { method: 'POST', headers: auth, body: JSON.stringify(narrow) })).json()) as { token: string };
    const header = JSON.parse(Buffer.from(signed.token.split('.')[0], 'base64url').toString()) as { kid: string };
    expect(header.kid).toBe(plainKey.keyName);

    for (const keyId of [claims.key.split('.')[1], header.kid.split('.')[1]]) {
      const raw = await RawPusher.open(server.port, path(keyId));
      // What the attacker tried next: subscribe to channels the token may not read.
      raw.send('pusher:subscribe', { channel: 'admin-audit' });
      raw.send('pusher:subscribe', { channel: 'cache-admin-config' });
      expect((await raw.whenClosed()).code).toBe(4001);
      expect(raw.received.map((e) => e.event)).toEqual(['pusher:error']);
    }
    const sse = await fetch(`${server.http}/sse?channel=admin-audit&token=${minted.token}`);
    expect(sse.status).toBe(403);
    await sse.body?.cancel();
  });
});

describe("a Pusher key's capability is what its public id may subscribe to", () => {
  const PUBLIC_ONLY = {
    'private-*': ['subscribe', 'publish', 'presence'],
    'presence-*': ['subscribe', 'publish', 'presence'],
    'public-feed.*': ['subscribe'],
  };

  it('public channels outside it are refused (403); those inside it and signed private ones work', async () => {
    const limited = await createPusherApp(server.dataDir, APP, PUBLIC_ONLY);
    const signer = backend(limited, server.port);
    const anyone = clients.make(limited, server.port, { signer });
    const feed = await subscribed(anyone, 'public-feed.news');
    expect((await subscriptionError(subscribed(anyone, 'admin-audit'))).status).toBe(403);
    expect((await subscriptionError(subscribed(anyone, 'cache-admin-config'))).status).toBe(403);
    const room = await subscribed(anyone, 'private-room');

    // The app's backend publishes with its full Hubbub key; only what the Pusher key may read arrives.
    const publisher = hubbub(server.url, { key: plainKey.hubbubKey, clientId: 'backend' });
    const news = nextEvent<{ n: number }>(feed, 'headline');
    const inRoom = nextEvent<{ n: number }>(room, 'said');
    await publisher.channels.get('admin-audit').publish('secret', { ssn: '123-45-6789' });
    await publisher.channels.get('public-feed.news').publish('headline', { n: 1 });
    await publisher.channels.get('private-room').publish('said', { n: 2 });
    expect((await news).data).toEqual({ n: 1 });
    expect((await inRoom).data).toEqual({ n: 2 });
    expect(anyone.channel('admin-audit')?.subscribed ?? false).toBe(false);
  });
});
