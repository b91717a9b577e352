/**
 * @foony/realtime against `hubbub serve`: connecting (binary handshake, keep-alive, reconnect with
 * resumeConnectionId) and every way the SDK authenticates: API keys, `createJwt` tokens, tokens
 * from `hubbub devtoken`, `authCallback` (including renewal after 40102), and the handshake errors
 * that must stop (40101/40102) or keep retrying.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  APP,
  CORE_VERSIONS,
  Clients,
  RESTRICTED_CAPABILITY,
  TcpProxy,
  V16,
  attachCollect,
  channelName,
  connected,
  devtoken,
  eventually,
  foonyStyleJwt,
  installedVersion,
  nowSeconds,
  recordReceived,
  recordSent,
  splitKey,
  startFoonyServer,
  stateLog,
  within,
  type FoonyServer,
} from './support.js';
import { runCli } from '../../support/server.js';

let srv: FoonyServer;
const clients = new Clients();

beforeAll(async () => {
  srv = await startFoonyServer();
});
afterAll(() => srv?.cleanup());
afterEach(() => clients.closeAll());

const code403 = (e: unknown) => {
  const code = (e as { code?: number }).code;
  return typeof code === 'number' && code >= 40300 && code < 40400;
};

describe.each(CORE_VERSIONS)('@foony/realtime $version: connection and auth', (v) => {
  it('is the published package it claims to be', () => {
    expect(installedVersion(v.alias)).toEqual({ name: '@foony/realtime', version: v.version });
  });

  describe('API keys (appSlug.publicKeyId:privateKey)', () => {
    it('connects with a key and a clientId: the binary handshake completes and echoes the client id', async () => {
      const rt = clients.realtime(v, srv.ws, { key: srv.key, clientId: 'alice' });
      const log = stateLog(rt);
      await connected(rt);
      expect(rt.getClientId()).toBe('alice');
      expect(rt.getConnectionId()).toEqual(expect.any(String));
      expect(rt.getConnectionId()!.length).toBeGreaterThan(0);
      expect(log.states.map((s) => s.state)).toEqual(['connecting', 'connected']);
    });

    it('also connects with the endpoint path /ws (ws://host:port/ws)', async () => {
      const rt = clients.realtime(v, `${srv.ws}/ws`, { key: srv.key, clientId: 'pathed' });
      await connected(rt);
      expect(rt.getClientId()).toBe('pathed');
    });

    it('connects with a key and no clientId: the server assigns a non-empty client id', async () => {
      const rt = clients.realtime(v, srv.ws, { key: srv.key });
      await connected(rt);
      expect(rt.getClientId()).toEqual(expect.any(String));
      expect(rt.getClientId()!.length).toBeGreaterThan(0);
    });

    it('two key clients exchange messages, stamped with the publisher client id', async () => {
      const alice = clients.realtime(v, srv.ws, { key: srv.key, clientId: 'alice' });
      const bob = clients.realtime(v, srv.ws, { key: srv.key, clientId: 'bob' });
      const ch = channelName('chat');
      const atBob = await attachCollect(bob.channels.get(ch));
      const before = Date.now();
      await within(alice.channels.get(ch).publish('greeting', { text: 'hi bob' }), 10_000, 'publish ack');
      await eventually(() => atBob.length === 1, 'bob receives the greeting');
      const m = atBob[0];
      expect(m).toMatchObject({ channel: ch, name: 'greeting', data: { text: 'hi bob' }, clientId: 'alice' });
      // Every non-ephemeral publish is an auto-batch: a member id is "<batch messageId>:<index>".
      expect(m.messageId).toMatch(/^\d+-[0-9a-f]{8}:0$/);
      expect(m.timestamp).toBeGreaterThanOrEqual(before - 5000);
      expect(m.timestamp).toBeLessThanOrEqual(Date.now() + 5000);
    });

    it('a wrong secret is refused with 40101 and the client stops (state failed, no retry loop)', async () => {
      const { keyName } = splitKey(srv.key);
      const rt = clients.realtime(v, srv.ws, { key: `${keyName}:not-the-secret`, clientId: 'mallory' });
      const log = stateLog(rt);
      await expect(within(rt.connect(), 10_000, 'the handshake answer')).rejects.toThrow(/auth failed: 40101/);
      await eventually(() => rt.getState() === 'failed', 'state failed');
      expect(log.count('connecting')).toBe(1);
      expect(log.states.at(-1)?.reason).toMatch(/40101/);
    });

    it('an unknown key name is refused with 40101', async () => {
      const rt = clients.realtime(v, srv.ws, { key: `${APP}.nosuchkey:whatever`, clientId: 'mallory' });
      await expect(within(rt.connect(), 10_000, 'the handshake answer')).rejects.toThrow(/auth failed: 40101/);
      await eventually(() => rt.getState() === 'failed', 'state failed');
    });

    it('a key revoked with `hubbub keys revoke` is refused with 40101 on the next connect', async () => {
      const created = await runCli(['keys', 'create', '--app', APP, '--data-dir', srv.dataDir]);
      const key = created.stdout.trim();
      const ok = clients.realtime(v, srv.ws, { key, clientId: 'soon-revoked' });
      await connected(ok);
      const revoked = await runCli(['keys', 'revoke', splitKey(key).keyName, '--data-dir', srv.dataDir]);
      expect(revoked.code).toBe(0);
      const rt = clients.realtime(v, srv.ws, { key, clientId: 'soon-revoked' });
      await expect(within(rt.connect(), 10_000, 'the handshake answer')).rejects.toThrow(/auth failed: 40101/);
    });
  });

  describe('JWTs minted by createJwt (kid = key name, HS256 with the key secret)', () => {
    it('connects with a createJwt token: client id from sub, publishes carry it', async () => {
      const token = await v.sdk.createJwt({ clientId: 'carol', capability: { '*': ['*'] } }, { key: srv.key });
      const [h] = token.split('.');
      expect(JSON.parse(Buffer.from(h, 'base64url').toString())).toEqual({ alg: 'HS256', typ: 'JWT', kid: splitKey(srv.key).keyName });
      const carol = clients.realtime(v, srv.ws, { token });
      const watcher = clients.realtime(v, srv.ws, { key: srv.key, clientId: 'watcher' });
      await connected(carol);
      expect(carol.getClientId()).toBe('carol');
      const ch = channelName('chat');
      const got = await attachCollect(watcher.channels.get(ch));
      await carol.channels.get(ch).publish('hello', 1);
      await eventually(() => got.length === 1, 'the token client publish');
      expect(got[0]).toMatchObject({ name: 'hello', data: 1, clientId: 'carol' });
    });

    it('realtime.auth.createJwt signs with the client key by default', async () => {
      const keyClient = clients.realtime(v, srv.ws, { key: srv.key, clientId: 'backend' });
      const token = await keyClient.auth.createJwt({ clientId: 'dave', capability: { 'chat:*': ['subscribe', 'publish'] } });
      const dave = clients.realtime(v, srv.ws, { token });
      await connected(dave);
      expect(dave.getClientId()).toBe('dave');
    });

    it('authCallback returning a createJwt token is called once per connect', async () => {
      let calls = 0;
      const rt = clients.realtime(v, srv.ws, {
        authCallback: async () => {
          calls += 1;
          return v.sdk.createJwt({ clientId: 'erin', capability: { 'chat:*': ['subscribe', 'publish', 'presence'] } }, { key: srv.key });
        },
      });
      await connected(rt);
      expect(rt.getClientId()).toBe('erin');
      expect(calls).toBe(1);
    });

    it('enforces the token capability: publish refused with 403xx, a channel outside it fails to attach', async () => {
      const token = await v.sdk.createJwt({ clientId: 'reader', capability: { 'chat:*': ['subscribe'] } }, { key: srv.key });
      const rt = clients.realtime(v, srv.ws, { token });
      const allowed = rt.channels.get(channelName('chat'));
      await within(allowed.attach(), 10_000, 'attach inside the capability');
      expect(allowed.state).toBe('attached');

      const publish = allowed.publish('nope', 1);
      await expect(within(publish, 10_000, 'publish refusal')).rejects.toThrow(/server error 403\d\d/);

      const denied = rt.channels.get(channelName('news'));
      const err = await within(denied.attach(), 10_000, 'attach refusal').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, 'attach outside the capability is refused').toBeDefined();
      expect(code403(err), `error code 403xx, got ${JSON.stringify((err as { code?: number }).code)}`).toBe(true);
      expect(denied.state).toBe('failed');
      expect(rt.getState()).toBe('connected');
    });

    it('accepts operation names it does not know (the SDK treats them as free-form), e.g. "history"', async () => {
      const token = await v.sdk.createJwt(
        { clientId: 'lenient', capability: { 'chat:*': ['subscribe', 'history', 'custom-op'] } },
        { key: srv.key },
      );
      const rt = clients.realtime(v, srv.ws, { token });
      await connected(rt);
      expect(rt.getClientId()).toBe('lenient');
    });

    it('a token within the restricted key capability works; one wider than it is refused with 40101', async () => {
      const inside = await v.sdk.createJwt({ clientId: 'in', capability: { 'chat:*': ['subscribe'] } }, { key: srv.restrictedKey });
      const ok = clients.realtime(v, srv.ws, { token: inside });
      await connected(ok);

      const wider = await v.sdk.createJwt({ clientId: 'out', capability: { '*': ['subscribe', 'publish'] } }, { key: srv.restrictedKey });
      const rt = clients.realtime(v, srv.ws, { token: wider });
      await expect(within(rt.connect(), 10_000, 'the handshake answer')).rejects.toThrow(/auth failed: 40101/);
      await eventually(() => rt.getState() === 'failed', 'state failed');
    });

    it('an expired token is refused with 40102 and a static-token client stops (failed)', async () => {
      const now = nowSeconds();
      const token = foonyStyleJwt(srv.key, { sub: 'late', cap: JSON.stringify({ '*': ['*'] }), iat: now - 3600, exp: now - 600 });
      const rt = clients.realtime(v, srv.ws, { token });
      await expect(within(rt.connect(), 10_000, 'the handshake answer')).rejects.toThrow(/auth failed: 40102/);
      await eventually(() => rt.getState() === 'failed', 'state failed');
    });

    it('a token signed with the wrong secret, or naming an unknown key, is refused with 40101', async () => {
      const now = nowSeconds();
      const claims = { sub: 'forger', cap: JSON.stringify({ '*': ['*'] }), iat: now, exp: now + 600 };
      for (const token of [
        foonyStyleJwt(srv.key, claims, { secret: 'guessed-secret' }),
        foonyStyleJwt(srv.key, claims, { kid: `${APP}.unknownkey` }),
      ]) {
        const rt = clients.realtime(v, srv.ws, { token });
        await expect(within(rt.connect(), 10_000, 'the handshake answer')).rejects.toThrow(/auth failed: 40101/);
      }
    });
  });

  describe('tokens from `hubbub devtoken` (JWT_SIGNING_KEY) beside API keys', () => {
    it('a devtoken client and a key client of the same app talk both ways', async () => {
      const token = await devtoken(APP, 'dev-user');
      const dev = clients.realtime(v, srv.ws, { token });
      const keyed = clients.realtime(v, srv.ws, { key: srv.key, clientId: 'key-user' });
      await connected(dev);
      expect(dev.getClientId()).toBe('dev-user');
      const ch = channelName('chat');
      const atDev = await attachCollect(dev.channels.get(ch));
      const atKeyed = await attachCollect(keyed.channels.get(ch));
      await dev.channels.get(ch).publish('from-dev', 1);
      await keyed.channels.get(ch).publish('from-key', 2);
      await eventually(() => atDev.length === 2 && atKeyed.length === 2, 'both messages at both clients');
      expect(atKeyed.map((m) => [m.name, m.clientId])).toEqual([
        ['from-dev', 'dev-user'],
        ['from-key', 'key-user'],
      ]);
    });

    it('a devtoken with a capability is enforced like any token', async () => {
      const token = await devtoken(APP, 'dev-reader', ['--capability', JSON.stringify({ 'chat:*': ['subscribe'] })]);
      const rt = clients.realtime(v, srv.ws, { token });
      const ch = rt.channels.get(channelName('chat'));
      await within(ch.attach(), 10_000, 'attach');
      await expect(within(ch.publish('x', 1), 10_000, 'publish refusal')).rejects.toThrow(/server error 403\d\d/);
    });
  });

  describe('authCallback', () => {
    it('retries (does not fail) when the callback hands out a rejected token, and connects once it is good', async () => {
      let calls = 0;
      const rt = clients.realtime(v, srv.ws, {
        authCallback: async () => {
          calls += 1;
          if (calls < 3) return foonyStyleJwt(srv.key, { sub: 'x', cap: '{}', iat: nowSeconds(), exp: nowSeconds() + 600 }, { secret: 'wrong' });
          return v.sdk.createJwt({ clientId: 'third-time', capability: { '*': ['*'] } }, { key: srv.key });
        },
      });
      const log = stateLog(rt);
      rt.connect().catch(() => {});
      await eventually(() => rt.getState() === 'connected', 'connected after the callback recovers', 15_000);
      expect(calls).toBe(3);
      expect(rt.getClientId()).toBe('third-time');
      expect(log.states.map((s) => s.state)).not.toContain('failed');
    });

    it(
      'renews: when the token expires the server ends the connection (40102) and the reconnect calls authCallback again; messages keep flowing',
      async () => {
        let calls = 0;
        const expiries: number[] = [];
        const rt = clients.realtime(v, srv.ws, {
          authCallback: async () => {
            calls += 1;
            // First token lives ~2 s; later ones an hour.
            const ttlMs = calls === 1 ? 2000 : 3_600_000;
            const token = await v.sdk.createJwt({ clientId: 'renewer', capability: { 'chat:*': ['*'] }, ttlMs }, { key: srv.key });
            expiries.push(JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).exp * 1000);
            return token;
          },
        });
        const log = stateLog(rt);
        const ch = channelName('chat');
        const got = await attachCollect(rt.channels.get(ch));
        const publisher = clients.realtime(v, srv.ws, { key: srv.key, clientId: 'pub' });
        await publisher.channels.get(ch).publish('before', 1);
        await eventually(() => got.length === 1, 'first message');

        await eventually(() => calls >= 2 && rt.getState() === 'connected', 'a renewed connection after the first token expired', 30_000);
        const renewedAt = Date.now();
        expect(renewedAt).toBeGreaterThanOrEqual(expiries[0] - 1000);
        expect(log.states.map((s) => s.state)).toContain('disconnected');
        expect(log.states.map((s) => s.state)).not.toContain('failed');
        // The SDK is told why (an unscoped err, or the close that follows it).
        expect(log.reasons.join('\n')).toMatch(/40102|closed/);

        await publisher.channels.get(ch).publish('after', 2);
        await eventually(() => got.some((m) => m.name === 'after'), 'a message after the renewal');
        expect(got.map((m) => m.name)).toEqual(['before', 'after']);
      },
      45_000,
    );
  });

  describe('reconnect', () => {
    it('after a network drop it reconnects on its own, offering resumeConnectionId, and keeps the connection id', async () => {
      const proxy = clients.track(await TcpProxy.start(srv.port));
      const rt = clients.realtime(v, proxy.ws, { key: srv.key, clientId: 'roamer' });
      await connected(rt);
      const id = rt.getConnectionId();
      const log = stateLog(rt);
      await within(rt.channels.get(channelName('chat')).attach(), 10_000, 'attach');
      proxy.cut();
      await eventually(() => log.count('disconnected') >= 1, 'the SDK notices the drop');
      await eventually(() => rt.getState() === 'connected', 'reconnected', 10_000);
      expect(rt.getConnectionId(), 'the server reused the offered connection id').toBe(id);
    });
  });
});

describe.each(CORE_VERSIONS)('@foony/realtime $version: keep-alive', (v) => {
  let fast: FoonyServer;
  beforeAll(async () => {
    fast = await startFoonyServer(['--heartbeat', '1s']);
  });
  afterAll(() => fast?.cleanup());

  it('pings every keepAliveMs and every ping is answered with a pong in time (no keep-alive timeout)', async () => {
    const rt = clients.realtime(v, fast.ws, { key: fast.key, clientId: 'pinger' });
    const log = stateLog(rt);
    await connected(rt);
    const sent = recordSent(rt);
    const received = recordReceived(rt);
    await eventually(() => sent.filter((f) => f.t === 'ping').length >= 4, 'four pings (keepAliveMs = 1000)', 10_000);
    await eventually(() => received.filter((f) => f.t === 'pong').length >= 4, 'four pongs', 5000);
    expect(log.states.map((s) => s.state)).toEqual(['connecting', 'connected']);
    expect(rt.getState()).toBe('connected');
  });
});

describe('@foony/realtime 0.16.0 only', () => {
  it("the default transport ('auto') connects over WebSocket within the 5 s fallback deadline", async () => {
    const rt = new V16.sdk.Realtime({ endpoint: srv.ws, key: srv.key, clientId: 'auto' });
    clients.track(rt);
    const started = Date.now();
    await connected(rt);
    expect(Date.now() - started).toBeLessThan(5000);
    expect((rt.connection as unknown as { activeTransport: string }).activeTransport).toBe('websocket');
  });

  it('suspend() then connect() comes back with the same connection id and the channel resumed', async () => {
    const rt = clients.realtime(V16, srv.ws, { key: srv.key, clientId: 'sleeper' });
    const ch = channelName('chat');
    const got = await attachCollect(rt.channels.get(ch));
    const publisher = clients.realtime(V16, srv.ws, { key: srv.key, clientId: 'pub' });
    await publisher.channels.get(ch).publish('one', 1);
    await eventually(() => got.length === 1, 'first message');
    const id = rt.getConnectionId();
    await rt.suspend();
    expect(rt.getState()).toBe('suspended');
    await publisher.channels.get(ch).publish('while-suspended', 2);
    const resumed = new Promise<boolean>((resolve) => rt.channels.get(ch).once('attached', (c) => resolve(c.resumed)));
    await connected(rt);
    expect(await within(resumed, 10_000, 'attached after connect()')).toBe(true);
    await eventually(() => got.length === 2, 'the message published while suspended');
    expect(got.map((m) => m.name)).toEqual(['one', 'while-suspended']);
    expect(rt.getConnectionId()).toBe(id);
  });
});
