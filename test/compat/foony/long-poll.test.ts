/**
 * @foony/realtime 0.16.0's long-polling transport (`/lp/connect`, `/lp/send`, `/lp/poll`,
 * `/lp/disconnect`; 0.14.0 has none) against `hubbub serve`: forced with
 * `transport: 'long-polling'`, and reached on its own (`'auto'`) when a proxy refuses WebSocket
 * upgrades. Long-poll clients and WebSocket clients share channels and presence.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  Clients,
  UpgradeBlockingProxy,
  V16,
  attachCollect,
  channelName,
  connected,
  eventually,
  presenceEvents,
  recordReceived,
  recordSent,
  recordingFetch,
  splitKey,
  startFoonyServer,
  stateLog,
  within,
  type FoonyServer,
} from './support.js';

let srv: FoonyServer;
const clients = new Clients();
const v = V16;

beforeAll(async () => {
  // keepAliveMs = 1000: long-poll clients ping every second through /lp/send.
  srv = await startFoonyServer(['--heartbeat', '1s']);
});
afterAll(() => srv?.cleanup());
afterEach(() => clients.closeAll());

function lp(options: { clientId?: string; key?: string; token?: string } = {}) {
  const rec = recordingFetch();
  const auth = options.token ? { token: options.token } : { key: options.key ?? srv.key, ...(options.clientId ? { clientId: options.clientId } : {}) };
  const rt = clients.realtime(v, srv.ws, { ...auth, transport: 'long-polling', fetch: rec.fetch });
  return { rt, calls: rec.calls };
}

describe('@foony/realtime 0.16.0: long-polling (/lp/*)', () => {
  it('connects over /lp/connect with a key: connected, client id echoed, no WebSocket involved', async () => {
    const { rt, calls } = lp({ clientId: 'poller' });
    const log = stateLog(rt);
    await connected(rt, 'connected over long-polling', 15_000);
    expect(rt.getClientId()).toBe('poller');
    expect(rt.getConnectionId()).toEqual(expect.any(String));
    expect(calls[0]).toMatchObject({ path: '/lp/connect', status: 200 });
    await eventually(() => calls.some((c) => c.path === '/lp/poll'), 'the poll loop starts');
    expect(log.states.map((s) => s.state)).toEqual(['connecting', 'connected']);
  });

  it('a long-poll subscriber and a WebSocket publisher (and the reverse) exchange messages and batches', async () => {
    const ch = channelName('chat');
    const { rt: poller } = lp({ clientId: 'poller' });
    const ws = clients.realtime(v, srv.ws, { key: srv.key, clientId: 'socket' });
    const atPoller = await attachCollect(poller.channels.get(ch));
    const atWs = await attachCollect(ws.channels.get(ch));
    await within(ws.channels.get(ch).publish('to-poller', 1), 10_000, 'ws publish');
    await within(poller.channels.get(ch).publish('to-socket', 2), 10_000, 'lp publish ack');
    await within(poller.channels.get(ch).publish([{ name: 'b0', data: 0 }, { name: 'b1', data: 1 }]), 10_000, 'lp batch ack');
    await eventually(() => atPoller.length === 4 && atWs.length === 4, 'all four at both', 10_000);
    expect(atPoller.map((m) => [m.name, m.clientId])).toEqual([
      ['to-poller', 'socket'],
      ['to-socket', 'poller'],
      ['b0', 'poller'],
      ['b1', 'poller'],
    ]);
    expect(atWs.map((m) => m.name)).toEqual(atPoller.map((m) => m.name));
    const hist = await poller.channels.get(ch).history();
    expect(hist.messages.map((m) => m.name)).toEqual(['to-poller', 'to-socket', 'b0', 'b1']);
  });

  it('with the endpoint ws://host:port/ws it long-polls under /ws/lp/*', async () => {
    const rec = recordingFetch();
    const rt = clients.realtime(v, `${srv.ws}/ws`, { key: srv.key, clientId: 'pathed', transport: 'long-polling', fetch: rec.fetch });
    await connected(rt, 'connected', 15_000);
    expect(rec.calls[0]).toMatchObject({ path: '/ws/lp/connect', status: 200 });
  });

  it('works with a createJwt token', async () => {
    const token = await v.sdk.createJwt({ clientId: 'lp-token', capability: { 'chat:*': ['*'] } }, { key: srv.key });
    const { rt } = lp({ token });
    await connected(rt, 'connected', 15_000);
    expect(rt.getClientId()).toBe('lp-token');
  });

  it('presence: a long-poll member is seen by WebSocket watchers, and close() (→ /lp/disconnect) makes it leave at once', async () => {
    const ch = channelName('room');
    const watcher = clients.realtime(v, srv.ws, { key: srv.key, clientId: 'watcher' });
    const seen = presenceEvents(watcher.channels.get(ch));
    const { rt: poller, calls } = lp({ clientId: 'lp-member' });
    const atPoller = presenceEvents(poller.channels.get(ch));
    await within(poller.channels.get(ch).presence.enter({ via: 'lp' }), 15_000, 'enter over long-polling');
    await eventually(() => seen.some((e) => e.clientId === 'lp-member' && e.action === 'enter'), 'watcher sees the enter');
    await eventually(() => atPoller.some((e) => e.clientId === 'lp-member' && e.action === 'enter'), 'the poller sees its own enter');
    expect(seen.find((e) => e.clientId === 'lp-member')).toMatchObject({ connectionId: poller.getConnectionId(), data: { via: 'lp' } });
    const closedAt = Date.now();
    await poller.close();
    await eventually(() => seen.some((e) => e.clientId === 'lp-member' && e.action === 'leave'), 'leave after close', 5000);
    expect(Date.now() - closedAt).toBeLessThan(5000);
    expect(calls.some((c) => c.path === '/lp/disconnect')).toBe(true);
  });

  it('keep-alive: pings travel in /lp/send, pongs release the held poll, and the connection stays up', async () => {
    const { rt } = lp({ clientId: 'lp-pinger' });
    const log = stateLog(rt);
    await connected(rt, 'connected', 15_000);
    const sent = recordSent(rt);
    const received = recordReceived(rt);
    await eventually(() => sent.filter((f) => f.t === 'ping').length >= 4, 'four pings', 10_000);
    await eventually(() => received.filter((f) => f.t === 'pong').length >= 4, 'four pongs', 5000);
    expect(log.states.map((s) => s.state)).toEqual(['connecting', 'connected']);
  });

  it('a rejected handshake is a 200 with an err record: a bad key ends in failed (40101), not a transport error', async () => {
    const { rt, calls } = lp({ key: `${splitKey(srv.key).keyName}:wrong`, clientId: 'x' });
    await expect(within(rt.connect(), 15_000, 'the handshake answer')).rejects.toThrow(/auth failed: 40101/);
    await eventually(() => rt.getState() === 'failed', 'failed');
    expect(calls[0]).toMatchObject({ path: '/lp/connect', status: 200 });
  });
});

describe("@foony/realtime 0.16.0: 'auto' falls back to long-polling when WebSocket upgrades are blocked", () => {
  let proxy: UpgradeBlockingProxy;
  beforeAll(async () => {
    proxy = await UpgradeBlockingProxy.start(srv.port);
  });
  afterAll(() => proxy?.close());

  it('connects through a proxy that refuses upgrades, and messages and presence flow', async () => {
    const rt = new v.sdk.Realtime({ endpoint: proxy.ws, key: srv.key, clientId: 'behind-proxy' });
    clients.track(rt);
    const started = Date.now();
    await connected(rt, 'connected after the fallback', 20_000);
    expect(proxy.seen.upgrades).toBeGreaterThanOrEqual(1);
    expect(proxy.seen.paths).toContain('/lp/connect');
    expect((rt.connection as unknown as { activeTransport: string }).activeTransport).toBe('long-polling');
    expect(Date.now() - started).toBeLessThan(15_000);

    const ch = channelName('chat');
    const got = await attachCollect(rt.channels.get(ch));
    const ws = clients.realtime(v, srv.ws, { key: srv.key, clientId: 'direct' });
    await ws.channels.get(ch).publish('through', 1);
    await eventually(() => got.length === 1, 'delivery over long-polling');
    expect(got[0]).toMatchObject({ name: 'through', clientId: 'direct' });
  });
});
