/**
 * Support for the `@foony/realtime` compatibility suite: the published SDK (0.14.0 and 0.16.0,
 * installed as npm aliases) driven against a real `hubbub serve`, with the only change a user
 * makes: the endpoint.
 *
 * - `VERSIONS` / `CORE_VERSIONS` for `describe.each`.
 * - `startFoonyServer()` runs `hubbub keys create` in a fresh data dir, then `hubbub serve` on it,
 *   and can kill and restart it on the same port with the same keys.
 * - `Clients` makes Realtime / Rest clients and closes them after each test.
 * - `TcpProxy` puts a cuttable TCP hop between a client and the server (network drops, half-open
 *   links, an outage that refuses connections); `UpgradeBlockingProxy` is an HTTP proxy that
 *   refuses WebSocket upgrades (a network that forces the long-polling fallback).
 * - A few ways to look at what the SDK sends and receives (its own decoded frames) without
 *   changing what it does.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type Server as HttpServer } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as sdk14 from 'foony-realtime-0.14';
import * as sdk16 from 'foony-realtime-0.16';
import { runCli, startServer, type RunningServer } from '../../support/server.js';
import { until } from '../../support/wait.js';

export { devtoken, SIGNING_KEY } from '../../support/server.js';
export { until } from '../../support/wait.js';

// ---------------------------------------------------------------------------------------------
// The SDK versions under test

/** The SDK module's public surface (0.16.0 is a superset of 0.14.0's). */
export type Sdk = typeof sdk16;
export type Realtime = sdk16.Realtime;
export type RealtimeOptions = sdk16.RealtimeOptions;
export type Rest = sdk16.Rest;
export type RestOptions = sdk16.RestOptions;
export type MessageFrame = sdk16.MessageFrame;
export type PresenceEventFrame = sdk16.PresenceEventFrame;
export type Channel = sdk16.Channel;
export type ChannelStateChange = sdk16.ChannelStateChange;

export interface SdkVersion {
  /** The installed version, checked against the package's own package.json. */
  readonly version: '0.14.0' | '0.16.0';
  /** The npm alias it is installed under. */
  readonly alias: string;
  readonly sdk: Sdk;
  /** 0.15.0+: `transport` option and the `/lp/*` long-polling fallback. */
  readonly longPolling: boolean;
  /** 0.16.0+: `channel.resumeFrom(serial)`. */
  readonly resumeFrom: boolean;
  /** 0.15.3+: `realtime.suspend()`. */
  readonly suspend: boolean;
}

export const VERSIONS: readonly SdkVersion[] = [
  { version: '0.14.0', alias: 'foony-realtime-0.14', sdk: sdk14 as unknown as Sdk, longPolling: false, resumeFrom: false, suspend: false },
  { version: '0.16.0', alias: 'foony-realtime-0.16', sdk: sdk16, longPolling: true, resumeFrom: true, suspend: true },
];

/** `describe.each` table: `describe.each(CORE_VERSIONS)('@foony/realtime $version', (v) => …)`. */
export const CORE_VERSIONS = VERSIONS.map((v) => ({ ...v }));

export const V16 = VERSIONS[1];

/** The version field of an installed alias (proves which package the alias resolved to). */
export function installedVersion(alias: string): { name: string; version: string } {
  const file = fileURLToPath(new URL(`../../../node_modules/${alias}/package.json`, import.meta.url));
  const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name: string; version: string };
  return { name: pkg.name, version: pkg.version };
}

// ---------------------------------------------------------------------------------------------
// The server

/** The app (tenant) every key and dev token in the suite belongs to. */
export const APP = 'compat';

/** What the restricted key may do; tokens minted from it must stay inside. */
export const RESTRICTED_CAPABILITY = { 'chat:*': ['subscribe', 'publish', 'presence', 'history'] };

export interface FoonyServer {
  /** The running `hubbub serve` (replaced by `restart()`). */
  server: RunningServer;
  readonly dataDir: string;
  readonly args: readonly string[];
  /** An unrestricted API key `compat.<id>:<secret>` made by `hubbub keys create`. */
  readonly key: string;
  /** A key limited to RESTRICTED_CAPABILITY. */
  readonly restrictedKey: string;
  /** Realtime endpoint, exactly as a user writes it: `ws://127.0.0.1:PORT`. */
  readonly ws: string;
  /** Rest endpoint: `http://127.0.0.1:PORT`. */
  readonly http: string;
  readonly port: number;
  /** SIGKILL the server (nothing flushed, no goodbye to clients). */
  kill(): Promise<void>;
  /** Start it again on the same port with the same data dir (keys survive). */
  start(): Promise<void>;
  /** Kill, then start. */
  restart(): Promise<void>;
  /** Kill and remove the data dir. */
  cleanup(): Promise<void>;
}

async function createKey(dataDir: string, capability?: unknown): Promise<string> {
  const args = ['keys', 'create', '--app', APP, '--data-dir', dataDir];
  if (capability !== undefined) args.push('--capability', JSON.stringify(capability));
  const { code, stdout, stderr } = await runCli(args);
  if (code !== 0) throw new Error(`hubbub keys create failed (${code}): ${stderr}`);
  const key = stdout.trim();
  if (!/^[^.:]+\.[^:]+:.+$/.test(key)) throw new Error(`hubbub keys create printed ${JSON.stringify(key)}, not appSlug.publicKeyId:privateKey`);
  return key;
}

/** Make two API keys with the real CLI, then run `hubbub serve` (extra serve flags in `args`). */
export async function startFoonyServer(args: string[] = [], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<FoonyServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hubbub-foony-'));
  const key = await createKey(dataDir);
  const restrictedKey = await createKey(dataDir, RESTRICTED_CAPABILITY);
  let server = await startServer(args, { dataDir, env: opts.env });
  const port = server.port;
  const handle: FoonyServer = {
    server,
    dataDir,
    args,
    key,
    restrictedKey,
    ws: `ws://127.0.0.1:${port}`,
    http: `http://127.0.0.1:${port}`,
    port,
    async kill() {
      await handle.server.stop('SIGKILL');
    },
    async start() {
      server = await startServer(args, { port, dataDir, env: opts.env });
      handle.server = server;
    },
    async restart() {
      await handle.kill();
      await handle.start();
    },
    async cleanup() {
      await handle.server.stop('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return handle;
}

/** `compat.k1:secret` → `{ keyName: 'compat.k1', secret: 'secret' }` (split at the first colon). */
export function splitKey(key: string): { keyName: string; secret: string } {
  const i = key.indexOf(':');
  return { keyName: key.slice(0, i), secret: key.slice(i + 1) };
}

// ---------------------------------------------------------------------------------------------
// Tokens

/**
 * A JWT in exactly the `createJwt` format (header alg/typ/kid, payload sub/cap/iat/exp, HS256
 * with the key's secret), but with claims the SDK will not produce itself: already expired, a
 * wrong secret, and so on. For valid tokens the tests use the SDK's own `createJwt`.
 */
export function foonyStyleJwt(
  key: string,
  claims: { sub?: string; cap?: string; iat?: number; exp?: number; [k: string]: unknown },
  opts: { secret?: string; kid?: string } = {},
): string {
  const { keyName, secret } = splitKey(key);
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const header = { alg: 'HS256', typ: 'JWT', kid: opts.kid ?? keyName };
  const input = `${b64(header)}.${b64(claims)}`;
  const sig = createHmac('sha256', opts.secret ?? secret).update(input).digest('base64url');
  return `${input}.${sig}`;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

// ---------------------------------------------------------------------------------------------
// Clients

/** Makes SDK clients and closes every one of them after the test. */
export class Clients {
  private readonly open = new Set<{ close(): Promise<void> | void }>();

  /**
   * A Realtime client of version `v` on `endpoint`. Defaults kept except: short reconnect backoff
   * (tests drop connections on purpose), and on 0.15+ `transport: 'websocket'` unless the test
   * asks for another transport, so a WebSocket problem can never hide behind the fallback.
   */
  realtime(v: SdkVersion, endpoint: string, options: Omit<RealtimeOptions, 'endpoint'>): Realtime {
    const opts: RealtimeOptions = {
      initialReconnectDelayMs: 100,
      maxReconnectDelayMs: 1000,
      ...(v.longPolling && options.transport === undefined ? { transport: 'websocket' as const } : {}),
      ...options,
      endpoint,
    };
    const rt = new v.sdk.Realtime(opts);
    this.open.add(rt);
    return rt;
  }

  rest(v: SdkVersion, endpoint: string, options: Omit<RestOptions, 'endpoint'>): Rest {
    return new v.sdk.Rest({ ...options, endpoint });
  }

  /** Anything else with a close() (proxies) that must go when the test ends. */
  track<T extends { close(): Promise<void> | void }>(thing: T): T {
    this.open.add(thing);
    return thing;
  }

  async closeAll(): Promise<void> {
    const all = [...this.open];
    this.open.clear();
    await Promise.all(all.map(async (c) => {
      try {
        await c.close();
      } catch {
        // already closed
      }
    }));
  }
}

// ---------------------------------------------------------------------------------------------
// Waiting and observing

/** Reject after `ms` with a message naming what did not happen. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Connect and fail the test with the SDK's own error, or a timeout, if it does not. */
export async function connected(rt: Realtime, what = 'connected', ms = 10_000): Promise<void> {
  await within(rt.connect(), ms, what);
  if (rt.getState() !== 'connected') throw new Error(`${what}: state is ${rt.getState()}`);
}

/** Every message the channel's listeners get, in order (subscribing attaches the channel). */
export function collect(channel: Channel, name?: string): MessageFrame[] {
  const got: MessageFrame[] = [];
  if (name === undefined) channel.subscribe((m) => got.push(m));
  else channel.subscribe(name, (m) => got.push(m));
  return got;
}

/** Subscribe and wait for the attach to be confirmed by the server. */
export async function attachCollect(channel: Channel, name?: string): Promise<MessageFrame[]> {
  const got = collect(channel, name);
  await within(channel.attach(), 10_000, `attach ${channel.name}`);
  return got;
}

/** Every presence event the channel's presence listeners get. */
export function presenceEvents(channel: Channel): PresenceEventFrame[] {
  const got: PresenceEventFrame[] = [];
  channel.presence.on((e) => got.push(e));
  return got;
}

export interface StateLog {
  readonly states: Array<{ state: string; reason?: string; at: number }>;
  /** Reasons of errors reported on the connection without a state change (unscoped `err`). */
  readonly reasons: string[];
  count(state: string): number;
}

/** Connection state changes from now on. */
export function stateLog(rt: Realtime): StateLog {
  const log: StateLog = {
    states: [],
    reasons: [],
    count: (state) => log.states.filter((s) => s.state === state).length,
  };
  rt.connection.on((state, reason) => {
    log.states.push({ state, ...(reason ? { reason: reason.message } : {}), at: Date.now() });
    if (reason) log.reasons.push(reason.message);
  });
  return log;
}

/** Channel state events (attached/update/suspended/…) from now on. */
export function channelLog(channel: Channel): Array<{ event: string } & ChannelStateChange> {
  const log: Array<{ event: string } & ChannelStateChange> = [];
  for (const event of ['initialized', 'attaching', 'attached', 'detaching', 'detached', 'suspended', 'failed', 'update'] as const) {
    channel.on(event, (change) => log.push({ event, ...change }));
  }
  return log;
}

/** A unique channel name under `prefix` (tests share one server per file). */
export function channelName(prefix: string): string {
  return `${prefix}:${randomBytes(4).toString('hex')}`;
}

/** The SDK connection's private parts the suite looks at (never changes its behaviour). */
interface ConnectionInternals {
  sendRaw(frame: { t: string; [k: string]: unknown }): void;
  handleFrame(frame: { t: string; [k: string]: unknown }): void;
  socket: unknown;
  activeTransport?: string;
  requestFetch(frame: { t: 'fetch'; channel: string; fromSerial: number }): Promise<{
    t: 'fetchRes';
    id: number;
    channel: string;
    resumed: boolean;
    messages: MessageFrame[];
  }>;
}

export function internals(rt: Realtime): ConnectionInternals {
  return rt.connection as unknown as ConnectionInternals;
}

export type Frame = { t: string; [k: string]: unknown };

/** Record every frame the SDK sends from now on (as the SDK's own frame objects, before encoding). */
export function recordSent(rt: Realtime): Frame[] {
  const conn = internals(rt);
  const sent: Frame[] = [];
  const original = conn.sendRaw.bind(conn);
  conn.sendRaw = (frame) => {
    original(frame);
    sent.push(structuredClone(frame));
  };
  return sent;
}

/** Record every frame the SDK decodes from the server from now on (after the handshake frame). */
export function recordReceived(rt: Realtime): Frame[] {
  const conn = internals(rt);
  const received: Frame[] = [];
  const original = conn.handleFrame.bind(conn);
  conn.handleFrame = (frame) => {
    received.push(frame);
    original(frame);
  };
  return received;
}

/**
 * Make the SDK lose inbound frames that `drop` picks (as a lossy network or a server shedding a
 * slow consumer would). Returns a function that stops dropping.
 */
export function dropInbound(rt: Realtime, drop: (frame: Frame) => boolean): () => void {
  const conn = internals(rt);
  const original = conn.handleFrame;
  let active = true;
  conn.handleFrame = function (this: ConnectionInternals, frame) {
    if (active && drop(frame)) return;
    original.call(this, frame);
  };
  return () => {
    active = false;
  };
}

/** A deferred promise. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Count how often each value occurs. */
export function counts<T>(values: T[]): Map<T, number> {
  const m = new Map<T, number>();
  for (const v of values) m.set(v, (m.get(v) ?? 0) + 1);
  return m;
}

/** A settled-state probe for a promise. */
export function track<T>(p: Promise<T>): { promise: Promise<T>; settled: () => boolean; error: () => unknown } {
  let done = false;
  let err: unknown;
  p.then(
    () => (done = true),
    (e) => {
      done = true;
      err = e;
    },
  );
  return { promise: p, settled: () => done, error: () => err };
}

// ---------------------------------------------------------------------------------------------
// Network helpers

interface ProxiedPair {
  client: Socket;
  upstream: Socket;
  upstreamClosed: Promise<void>;
}

/**
 * A TCP hop between SDK clients and the server. `ws://127.0.0.1:<proxy port>` is the endpoint the
 * client uses; the server sees one upstream connection per client connection.
 */
export class TcpProxy {
  private readonly pairs = new Set<ProxiedPair>();
  /** Upstream sockets orphaned by `cut({ halfOpen: true })`, kept open and silent. */
  private readonly orphans = new Set<Socket>();
  private blocked = false;
  private server!: Server;
  port = 0;

  private constructor(private readonly targetPort: number) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort);
    proxy.server = createServer((client) => proxy.accept(client));
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', () => resolve()));
    proxy.port = (proxy.server.address() as { port: number }).port;
    return proxy;
  }

  get ws(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  get connections(): number {
    return this.pairs.size;
  }

  private accept(client: Socket): void {
    if (this.blocked) {
      client.destroy();
      return;
    }
    const upstream = connect(this.targetPort, '127.0.0.1');
    const upstreamClosed = new Promise<void>((resolve) => upstream.once('close', () => resolve()));
    const pair: ProxiedPair = { client, upstream, upstreamClosed };
    this.pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => {
      this.pairs.delete(pair);
      if (!this.orphans.has(upstream)) upstream.destroy();
      client.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
  }

  /**
   * Break every current connection. The client side is reset at once (the SDK sees a drop).
   * With `halfOpen`, the server side is left open and silent, as when a network path dies
   * without a FIN: the server only learns through its own heartbeat, or when the client's
   * reconnect takes the connection over. Resolves with one promise per orphaned server side
   * that settles when the server closes it.
   */
  cut(opts: { halfOpen?: boolean } = {}): Array<Promise<void>> {
    const closed: Array<Promise<void>> = [];
    for (const pair of [...this.pairs]) {
      this.pairs.delete(pair);
      pair.client.unpipe(pair.upstream);
      pair.upstream.unpipe(pair.client);
      if (opts.halfOpen) {
        this.orphans.add(pair.upstream);
        pair.upstream.removeAllListeners('data');
        pair.upstream.on('data', () => {}); // swallow what the server still writes
        pair.upstream.on('error', () => {});
        pair.upstream.once('close', () => this.orphans.delete(pair.upstream));
        pair.upstream.resume(); // unpipe() paused it: keep reading so the server's FIN is seen
        closed.push(pair.upstreamClosed);
      } else {
        pair.upstream.destroy();
      }
      pair.client.resetAndDestroy();
    }
    return closed;
  }

  /** Refuse new connections (an outage) until `unblock()`. Existing ones are cut. */
  block(): void {
    this.blocked = true;
    this.cut();
  }

  unblock(): void {
    this.blocked = false;
  }

  async close(): Promise<void> {
    this.cut();
    for (const o of this.orphans) o.destroy();
    this.orphans.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * An HTTP proxy that forwards plain requests to the server and refuses every WebSocket upgrade
 * (closes the socket without a response), as some corporate proxies do. Counts what it saw.
 */
export class UpgradeBlockingProxy {
  readonly seen: { upgrades: number; paths: string[] } = { upgrades: 0, paths: [] };
  private server!: HttpServer;
  port = 0;

  private constructor(private readonly targetPort: number) {}

  static async start(targetPort: number): Promise<UpgradeBlockingProxy> {
    const proxy = new UpgradeBlockingProxy(targetPort);
    proxy.server = createHttpServer((req, res) => {
      proxy.seen.paths.push(req.url ?? '');
      const upstream = httpRequest(
        { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    proxy.server.on('upgrade', (_req, socket: Socket) => {
      proxy.seen.upgrades += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', () => resolve()));
    proxy.port = (proxy.server.address() as { port: number }).port;
    return proxy;
  }

  get ws(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A `fetch` that records every long-poll request path (for `options.fetch`). */
export function recordingFetch(): { fetch: typeof fetch; calls: Array<{ path: string; status?: number; at: number }> } {
  const calls: Array<{ path: string; status?: number; at: number }> = [];
  const wrapped: typeof fetch = async (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const call: { path: string; status?: number; at: number } = { path: url.pathname, at: Date.now() };
    calls.push(call);
    const res = await fetch(input, init);
    call.status = res.status;
    return res;
  };
  return { fetch: wrapped, calls };
}

/** Wait until `check` holds (10 ms polling), with a default of 10 s. */
export function eventually(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  return until(check, what, ms);
}
