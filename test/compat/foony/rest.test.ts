/**
 * @foony/realtime's `Rest` client against `hubbub serve` (endpoint `http://127.0.0.1:PORT`):
 * time, publish (single, with id, array = one batch, ephemeral), history pages through the Link
 * header, presence get, requestToken, token and authCallback auth, end-to-end encryption, and
 * RestError with code and statusCode.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  APP,
  CORE_VERSIONS,
  Clients,
  RESTRICTED_CAPABILITY,
  attachCollect,
  channelName,
  connected,
  eventually,
  foonyStyleJwt,
  nowSeconds,
  presenceEvents,
  splitKey,
  startFoonyServer,
  within,
  type FoonyServer,
} from './support.js';

let srv: FoonyServer;
const clients = new Clients();

beforeAll(async () => {
  srv = await startFoonyServer();
});
afterAll(() => srv?.cleanup());
afterEach(() => clients.closeAll());

/** Run `fn`, expecting a RestError; return it. */
async function restError(fn: () => Promise<unknown>): Promise<{ name: string; code: number; statusCode: number; message: string }> {
  try {
    await fn();
  } catch (err) {
    return err as { name: string; code: number; statusCode: number; message: string };
  }
  throw new Error('expected a RestError, the call succeeded');
}

describe.each(CORE_VERSIONS)('@foony/realtime $version: Rest', (v) => {
  const rest = (opts: Parameters<typeof clients.rest>[2] = { key: srv.key }) => clients.rest(v, srv.http, opts);
  const realtime = (clientId: string) => clients.realtime(v, srv.ws, { key: srv.key, clientId });

  it('time() answers the server clock, without credentials', async () => {
    const t = await within(rest({ key: `${APP}.whatever:wrong` }).time(), 10_000, 'GET /time');
    expect(Math.abs(t - Date.now())).toBeLessThan(60_000);
  });

  describe('publish', () => {
    it('publish(name, data) → { messageId, serial }, delivered to realtime subscribers under the Rest clientId', async () => {
      const ch = channelName('chat');
      const got = await attachCollect(realtime('sub').channels.get(ch));
      const r = rest({ key: srv.key, clientId: 'backend' });
      const first = await within(r.channels.get(ch).publish('greeting', { text: 'hi' }), 10_000, 'publish');
      const second = await r.channels.get(ch).publish('greeting', { text: 'again' });
      expect(first.messageId).toEqual(expect.any(String));
      expect(first.serial).toEqual(expect.any(Number));
      expect(second.serial).toBe(first.serial! + 1);
      await eventually(() => got.length === 2, 'two deliveries');
      expect(got[0]).toMatchObject({ name: 'greeting', data: { text: 'hi' }, clientId: 'backend', messageId: first.messageId, seq: first.serial });
    });

    it('publish({ id }) resent is collapsed: same messageId and serial, delivered and stored once', async () => {
      const ch = channelName('chat');
      const got = await attachCollect(realtime('sub').channels.get(ch));
      const r = rest();
      const a = await r.channels.get(ch).publish({ name: 'order', data: { n: 1 }, id: 'order-0001' });
      const b = await r.channels.get(ch).publish({ name: 'order', data: { n: 1 }, id: 'order-0001' });
      expect(a.messageId).toBe('order-0001');
      expect(b).toEqual(a);
      await r.channels.get(ch).publish('next', 2);
      await eventually(() => got.length === 2, 'deliveries');
      expect(got.map((m) => m.name)).toEqual(['order', 'next']);
      const page = await r.channels.get(ch).history();
      expect(page.items.map((m) => m.name)).toEqual(['next', 'order']);
    });

    it('publish([...]) is one batch: one messageId and serial; members delivered as <id>:<i>; history has one item per member', async () => {
      const ch = channelName('chat');
      const got = await attachCollect(realtime('sub').channels.get(ch));
      const r = rest({ key: srv.key, clientId: 'batcher' });
      const res = await within(
        r.channels.get(ch).publish([
          { name: 'a', data: 1 },
          { name: 'b', data: 2 },
          { name: 'c', data: 3 },
        ]),
        10_000,
        'array publish',
      );
      expect(res.messageId).toEqual(expect.any(String));
      expect(res.serial).toEqual(expect.any(Number));
      await eventually(() => got.length === 3, 'three members');
      expect(got.map((m) => [m.name, m.data, m.messageId, m.clientId])).toEqual([
        ['a', 1, `${res.messageId}:0`, 'batcher'],
        ['b', 2, `${res.messageId}:1`, 'batcher'],
        ['c', 3, `${res.messageId}:2`, 'batcher'],
      ]);
      const page = await r.channels.get(ch).history({ direction: 'forwards' });
      expect(page.items.map((m) => [m.id, m.name, m.data, m.serial])).toEqual([
        [res.messageId, 'a', 1, res.serial],
        [res.messageId, 'b', 2, res.serial],
        [res.messageId, 'c', 3, res.serial],
      ]);
    });

    it('publish({ ephemeral: true }) is delivered live, has no serial and is not stored', async () => {
      const ch = channelName('chat');
      const got = await attachCollect(realtime('sub').channels.get(ch));
      const r = rest({ key: srv.key, clientId: 'svc' });
      const res = await r.channels.get(ch).publish({ name: 'blip', data: 1, ephemeral: true });
      expect(res.serial).toBeUndefined();
      expect(res.messageId).toEqual(expect.any(String));
      await eventually(() => got.length === 1, 'live delivery');
      expect(got[0]).toMatchObject({ name: 'blip', ephemeral: true });
      const page = await r.channels.get(ch).history();
      expect(page.items).toEqual([]);
    });

    it('with key auth, publish({ clientId }) attributes the message to that client', async () => {
      const ch = channelName('chat');
      const got = await attachCollect(realtime('sub').channels.get(ch));
      await rest().channels.get(ch).publish({ name: 'as-user', data: 1, clientId: 'user-42' });
      await eventually(() => got.length === 1, 'delivery');
      expect(got[0].clientId).toBe('user-42');
    });
  });

  describe('history', () => {
    it('newest first by default, pages with next() through the Link header; forwards; before', async () => {
      const ch = channelName('chat');
      const r = rest();
      const serials: number[] = [];
      for (let i = 0; i < 5; i++) serials.push((await r.channels.get(ch).publish('h', i)).serial!);

      const p1 = await within(r.channels.get(ch).history({ limit: 2 }), 10_000, 'history page 1');
      expect(p1.items.map((m) => m.data)).toEqual([4, 3]);
      expect(p1.items[0]).toMatchObject({ name: 'h', serial: serials[4], id: expect.any(String), timestamp: expect.any(Number) });
      expect(p1.hasNext()).toBe(true);
      const p2 = await p1.next();
      expect(p2!.items.map((m) => m.data)).toEqual([2, 1]);
      const p3 = await p2!.next();
      expect(p3!.items.map((m) => m.data)).toEqual([0]);
      expect(p3!.isLast()).toBe(true);
      expect(await p3!.next()).toBeNull();

      const fwd = await r.channels.get(ch).history({ direction: 'forwards', limit: 3 });
      expect(fwd.items.map((m) => m.data)).toEqual([0, 1, 2]);
      const fwd2 = await fwd.next();
      expect(fwd2!.items.map((m) => m.data)).toEqual([3, 4]);

      const older = await r.channels.get(ch).history({ before: serials[2] });
      expect(older.items.map((m) => m.data)).toEqual([1, 0]);
      expect(older.isLast()).toBe(true);
    });

    it('a channel without messages answers an empty page', async () => {
      const page = await within(rest().channels.get(channelName('chat')).history(), 10_000, 'history');
      expect(page.items).toEqual([]);
      expect(page.isLast()).toBe(true);
    });
  });

  describe('presence', () => {
    it('presence.get lists current members (clientId, connectionId, action present, data, timestamp) and filters by clientId', async () => {
      const ch = channelName('room');
      const alice = realtime('alice');
      const bob = realtime('bob');
      await alice.channels.get(ch).presence.enter({ role: 'host' });
      await bob.channels.get(ch).presence.enter({ role: 'guest' });
      const r = rest();
      const page = await within(r.channels.get(ch).presence.get(), 10_000, 'presence get');
      const byClient = Object.fromEntries(page.items.map((m) => [m.clientId, m]));
      expect(Object.keys(byClient).sort()).toEqual(['alice', 'bob']);
      expect(byClient.alice).toMatchObject({ connectionId: alice.getConnectionId(), action: 'present', data: { role: 'host' }, timestamp: expect.any(Number) });
      const onlyBob = await r.channels.get(ch).presence.get({ clientId: 'bob' });
      expect(onlyBob.items.map((m) => m.clientId)).toEqual(['bob']);
      const byConn = await r.channels.get(ch).presence.get({ connectionId: alice.getConnectionId()! });
      expect(byConn.items.map((m) => m.clientId)).toEqual(['alice']);
      expect(page.isLast()).toBe(true);
      expect((await r.channels.get(channelName('room')).presence.get()).items).toEqual([]);
    });
  });

  describe('tokens', () => {
    it('auth.requestToken({ clientId, capability }) → TokenDetails; the token connects a Realtime client with that capability', async () => {
      const r = rest();
      const before = Date.now();
      const details = await within(
        r.auth.requestToken({ clientId: 'browser-user', capability: { 'chat:*': ['subscribe'] } }),
        10_000,
        'requestToken',
      );
      expect(details).toMatchObject({
        token: expect.any(String),
        keyName: splitKey(srv.key).keyName,
        clientId: 'browser-user',
        issued: expect.any(Number),
        expires: expect.any(Number),
        capability: expect.any(String),
      });
      expect(JSON.parse(details.capability)).toEqual({ 'chat:*': ['subscribe'] });
      expect(details.issued).toBeGreaterThanOrEqual(before - 5000);
      expect(details.expires - details.issued).toBeGreaterThanOrEqual(3_599_000);
      expect(details.expires - details.issued).toBeLessThanOrEqual(3_601_000);

      const rt = clients.realtime(v, srv.ws, { token: details.token });
      await connected(rt);
      expect(rt.getClientId()).toBe('browser-user');
      const ch = rt.channels.get(channelName('chat'));
      await within(ch.attach(), 10_000, 'attach');
      await expect(within(ch.publish('x', 1), 10_000, 'publish refusal')).rejects.toThrow(/server error 403\d\d/);
    });

    it('requestToken ttl is in milliseconds; the default capability is the key own', async () => {
      const r = rest({ key: srv.restrictedKey });
      const details = await r.auth.requestToken({ clientId: 'short', ttl: 120_000 });
      expect(details.expires - details.issued).toBeGreaterThanOrEqual(119_000);
      expect(details.expires - details.issued).toBeLessThanOrEqual(121_000);
      expect(JSON.parse(details.capability)).toEqual(RESTRICTED_CAPABILITY);
    });

    it('requestToken for a capability wider than the key is refused (403)', async () => {
      const err = await restError(() => rest({ key: srv.restrictedKey }).auth.requestToken({ clientId: 'x', capability: { '*': ['*'] } }));
      expect(err.name).toBe('RestError');
      expect(err.statusCode).toBe(403);
      expect(err.code).toBeGreaterThanOrEqual(40300);
      expect(err.code).toBeLessThan(40400);
    });

    it('a Rest client with a createJwt token publishes as the token subject; another clientId is refused', async () => {
      const ch = channelName('chat');
      const got = await attachCollect(realtime('sub').channels.get(ch));
      const token = await v.sdk.createJwt({ clientId: 'tok-user', capability: { 'chat:*': ['*'] } }, { key: srv.key });
      const r = rest({ token });
      await within(r.channels.get(ch).publish('mine', 1), 10_000, 'token publish');
      await eventually(() => got.length === 1, 'delivery');
      expect(got[0].clientId).toBe('tok-user');
      const err = await restError(() => r.channels.get(ch).publish({ name: 'spoof', data: 1, clientId: 'someone-else' }));
      expect(err.statusCode).toBe(403);
      expect(err.code).toBeGreaterThanOrEqual(40300);
      expect(err.code).toBeLessThan(40400);
    });

    it('authCallback: a 401 drops the cached token, calls the callback again and retries once', async () => {
      let calls = 0;
      const r = rest({
        authCallback: async () => {
          calls += 1;
          if (calls === 1) return foonyStyleJwt(srv.key, { sub: 'cb', cap: '{"*":["*"]}', iat: nowSeconds() - 7200, exp: nowSeconds() - 3600 });
          return v.sdk.createJwt({ clientId: 'cb', capability: { '*': ['*'] } }, { key: srv.key });
        },
      });
      const res = await within(r.channels.get(channelName('chat')).publish('after-refresh', 1), 10_000, 'publish');
      expect(res.serial).toEqual(expect.any(Number));
      expect(calls).toBe(2);
    });
  });

  describe('errors: RestError with code and statusCode', () => {
    it('a bad key → 401 / 40101', async () => {
      const err = await restError(() => rest({ key: `${splitKey(srv.key).keyName}:wrong` }).channels.get(channelName('chat')).publish('x', 1));
      expect(err).toMatchObject({ name: 'RestError', statusCode: 401, code: 40101 });
    });

    it('an expired token → 401 / 40102', async () => {
      const token = foonyStyleJwt(srv.key, { sub: 'late', cap: '{"*":["*"]}', iat: nowSeconds() - 7200, exp: nowSeconds() - 3600 });
      const err = await restError(() => rest({ token }).channels.get(channelName('chat')).history());
      expect(err).toMatchObject({ name: 'RestError', statusCode: 401, code: 40102 });
    });

    it('missing capability → 403 / 403xx', async () => {
      const token = await v.sdk.createJwt({ clientId: 'ro', capability: { 'chat:*': ['subscribe'] } }, { key: srv.key });
      const err = await restError(() => rest({ token }).channels.get(channelName('chat')).publish('x', 1));
      expect(err.name).toBe('RestError');
      expect(err.statusCode).toBe(403);
      expect(err.code).toBeGreaterThanOrEqual(40300);
      expect(err.code).toBeLessThan(40400);
    });

    it('an invalid channel name (Rest does not check names) → 400 / 40001', async () => {
      const err = await restError(() => rest().channels.get('bad name!').publish('x', 1));
      expect(err).toMatchObject({ name: 'RestError', statusCode: 400, code: 40001 });
    });

    it('a channel name with a slash (sent as %2F) is an invalid name too → 400 / 40001, for publish and history', async () => {
      const publish = await restError(() => rest().channels.get('chat/room').publish('x', 1));
      expect(publish).toMatchObject({ name: 'RestError', statusCode: 400, code: 40001 });
      const history = await restError(() => rest().channels.get('chat/room').history());
      expect(history).toMatchObject({ name: 'RestError', statusCode: 400, code: 40001 });
    });
  });

  describe('end-to-end encryption over REST', () => {
    it('a Rest cipher channel publishes ciphertext that Realtime (same key) decrypts; history decrypts or shows the encoding', async () => {
      const cipherKey = await v.sdk.generateRandomKey(256);
      const ch = channelName('secret');
      const got = await attachCollect(realtime('reader').channels.get(ch, { cipher: { key: cipherKey } }));
      const r = rest({ key: srv.key, clientId: 'writer' });
      await r.channels.get(ch, { cipher: { key: cipherKey } }).publish('sealed', { pin: 1234 });
      await eventually(() => got.length === 1, 'delivery');
      expect(got[0]).toMatchObject({ name: 'sealed', data: { pin: 1234 }, clientId: 'writer' });
      const plain = await r.channels.get(ch, { cipher: { key: cipherKey } }).history();
      expect(plain.items.map((m) => m.data)).toEqual([{ pin: 1234 }]);
      const other = clients.rest(v, srv.http, { key: srv.key });
      const sealed = await other.channels.get(ch).history();
      expect(sealed.items[0].encoding).toBe('cipher+aes-256-gcm/base64');
      expect(typeof sealed.items[0].data).toBe('string');
    });

    it('presence data entered encrypted comes back from presence.get decrypted with the key, sealed without it', async () => {
      const cipherKey = await v.sdk.generateRandomKey(128);
      const ch = channelName('secret');
      const alice = realtime('alice');
      const watcher = realtime('watcher');
      const seen = presenceEvents(watcher.channels.get(ch));
      await alice.channels.get(ch, { cipher: { key: cipherKey } }).presence.enter({ badge: 'gold' });
      await eventually(() => seen.length === 1, 'enter');
      const r = rest();
      const withKey = await r.channels.get(ch, { cipher: { key: cipherKey } }).presence.get();
      expect(withKey.items.map((m) => m.data)).toEqual([{ badge: 'gold' }]);
      const without = await clients.rest(v, srv.http, { key: srv.key }).channels.get(ch).presence.get();
      expect(without.items[0].encoding).toBe('cipher+aes-128-gcm/base64');
    });
  });
});
