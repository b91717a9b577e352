import { isDeepStrictEqual } from 'node:util';
import { onTestFinished, vi } from 'vitest';
import {
  ErrorCode,
  HubbubError,
  decodeServerRecords,
  encodeClientFrame,
  type AckFrame,
  type AuthFrame,
  type Capability,
  type ClientFrame,
  type ErrorFrame,
  type FetchResponseFrame,
  type HistoryResponseFrame,
  type ServerFrame,
} from '@hubbub/protocol';
import { dialects } from '../../src/compat/dialects.js';
import type { Engine } from '../../src/core/engine.js';
import type { Identity } from '../../src/core/identity.js';
import type { Log } from '../../src/core/log.js';
import { Router } from '../../src/core/router.js';
import { Session } from '../../src/core/session.js';
import { DEFAULT_LIMITS, type SessionLimits } from '../../src/core/session-limits.js';
import { SessionRegistry } from '../../src/core/session-registry.js';
import type { Wire } from '../../src/core/wire.js';
import { BusEngine, EngineBus } from '../../src/engine/bus.js';
import { MemoryEngine } from '../../src/engine/memory.js';

/**
 * A test kit for the core Session: real sessions, router, registry, engine and dialects over a
 * recording fake wire, with a fake clock. Time moves only through `kit.advance(ms)`; everything that
 * waits (`next`, `until`, `closed`, `sync`) waits for promise chains to settle, never for wall time.
 */

/** Where the clock starts: fixed, so timestamps and presence serials are the same on every run. */
export const KIT_EPOCH_MS = Date.UTC(2025, 0, 1);

/** The timers the kit fakes. setImmediate stays real: the session yields through it (core/cooperative.ts). */
const FAKED = ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] as const;

/** Event-loop turns a wait may take before it gives up: nothing in the kit needs wall time, so a frame not there by then never comes. */
const MAX_TURNS = 5_000;

export type DialectName = 'json' | 'binary';
type FrameOf<T extends ServerFrame['t']> = Extract<ServerFrame, { t: T }>;
/** A frame's `t` and any of its fields, each compared deeply. */
export type Pattern<T extends ServerFrame['t'] = ServerFrame['t']> = { t: T } & Partial<Omit<FrameOf<T>, 't'>>;
type Match = Pattern | ((frame: ServerFrame) => boolean);
/** A request without its id: the connection numbers them. */
export type Request = ClientFrame extends infer F ? (F extends { id: number } ? Omit<F, 'id'> : never) : never;
export type Reply = AckFrame | ErrorFrame | HistoryResponseFrame | FetchResponseFrame;

export interface KitOptions {
  /** Over DEFAULT_LIMITS. */
  limits?: Partial<SessionLimits>;
  /** 1: a MemoryEngine. 2 or more: BusEngines on one EngineBus, each node with its own router and registry. */
  nodes?: number;
}

export interface Credentials {
  clientId: string;
  app?: string;
  capability?: Capability;
  /** The token expires this long after it is minted; never when unset. */
  ttlMs?: number;
}

export interface ConnectOptions extends Credentials {
  dialect?: DialectName;
  /** Which node (0-based) the connection lands on. */
  node?: number;
  /** `auth.echo` (JSON only: the binary auth record has no slot for it). */
  echo?: boolean;
}

interface Node {
  engine: Engine;
  router: Router;
  sessions: SessionRegistry;
}

export interface SessionKit {
  readonly limits: SessionLimits;
  readonly nodes: readonly Node[];
  /** Error lines the sessions logged: the kit fails the test when any is left at its end. */
  readonly errors: string[];
  /** A token the kit's `authenticate` accepts, for `credentials`; its expiry counts from now. */
  token(credentials: Credentials): string;
  /** A connection that has sent nothing yet. */
  open(options?: { dialect?: DialectName; node?: number }): TestConnection;
  /** A connection that authenticated: `connected` has arrived (else this rejects with what came). */
  connect(options: ConnectOptions): Promise<TestConnection>;
  /** Move the fake clock, firing what falls due and letting each timer's promise chain settle. */
  advance(ms: number): Promise<void>;
}

/** A kit for one test: the fake clock is on until the test ends, then everything is closed. */
export async function startKit(options: KitOptions = {}): Promise<SessionKit> {
  vi.useFakeTimers({ now: KIT_EPOCH_MS, toFake: [...FAKED] });
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const errors: string[] = [];
  // Errors are bugs no frame explains (core/log.ts): recorded, and the test fails on them at its end.
  const log: Log = { debug() {}, warn() {}, error: (fields, message) => void errors.push(`${message} ${String((fields as { err?: unknown }).err ?? '')}`) };
  const nodes = await startNodes(options.nodes ?? 1);
  const identities = new Map<string, Identity>();
  const connections: TestConnection[] = [];
  let tokens = 0;

  const authenticate = async (frame: AuthFrame): Promise<Identity> => {
    const identity = frame.token === undefined ? undefined : identities.get(frame.token);
    if (!identity) throw new HubbubError(ErrorCode.BadAuth, 'unknown token');
    if (identity.expiresAt !== undefined && identity.expiresAt <= Date.now()) throw new HubbubError(ErrorCode.AuthExpired, 'token expired');
    return identity;
  };

  const kit: SessionKit = {
    limits,
    nodes,
    errors,
    token({ clientId, app = 'app', capability, ttlMs }) {
      const token = `token-${++tokens}`;
      identities.set(token, { app, clientId, ...(capability && { capability }), ...(ttlMs !== undefined && { expiresAt: Date.now() + ttlMs }) });
      return token;
    },
    open({ dialect = 'json', node = 0 } = {}) {
      const { engine, router, sessions } = nodes[node]!;
      const connection = new TestConnection(`c${connections.length + 1}`, dialect, (wire) => new Session({ engine, router, sessions, dialects, limits, authenticate, log }, wire, '192.0.2.1'));
      connections.push(connection);
      return connection;
    },
    async connect({ dialect, node, echo, ...credentials }) {
      const connection = kit.open({ dialect, node });
      connection.send({ t: 'auth', token: kit.token(credentials), ...(echo !== undefined && { echo }) });
      const answer = await connection.next((f) => f.t === 'connected' || f.t === 'err');
      if (answer.t !== 'connected') throw new Error(`auth refused: ${JSON.stringify(answer)}`);
      return connection;
    },
    async advance(ms) {
      await vi.advanceTimersByTimeAsync(ms);
    },
  };

  onTestFinished(async () => {
    for (const connection of connections) connection.session.dispose();
    for (const node of nodes) await node.engine.close();
    vi.useRealTimers();
    if (errors.length > 0) throw new Error(`the sessions logged errors:\n${errors.join('\n')}`);
  });
  return kit;
}

async function startNodes(count: number): Promise<Node[]> {
  const bus = count > 1 ? new EngineBus() : undefined;
  const nodes: Node[] = [];
  for (let i = 0; i < count; i++) {
    const engine = bus ? new BusEngine(bus) : new MemoryEngine();
    const router = new Router(engine);
    await engine.start(router);
    nodes.push({ engine, router, sessions: new SessionRegistry() });
  }
  return nodes;
}

/**
 * One client's side of a session: what it sends is encoded in its dialect, what the session sends is
 * decoded into `frames`. The wire behaves as a transport's: once closed it drops what is sent.
 */
export class TestConnection {
  readonly session: Session;
  readonly frames: ServerFrame[] = [];
  /** Close codes, in order (a session closes once; more would be a bug worth seeing). */
  readonly closes: number[] = [];
  readonly closeReasons: string[] = [];
  /** Where `next` looks from: frames before it were taken by an earlier `next`. */
  private cursor = 0;
  private ids = 0;
  private messageIds = 0;

  constructor(
    /** Unique in its kit: it makes the message ids of `publish` unique too (a resend is a dedup hit). */
    readonly name: string,
    readonly dialect: DialectName,
    makeSession: (wire: Wire) => Session,
  ) {
    const received = (frames: ServerFrame[]) => {
      if (this.closes.length === 0) this.frames.push(...frames);
    };
    this.session = makeSession({
      sendText: (text) => received([JSON.parse(text) as ServerFrame]),
      sendBinary: (bytes) => received(decodeServerRecords(bytes)),
      close: (code, reason) => {
        this.closes.push(code);
        this.closeReasons.push(reason);
      },
    });
  }

  /** The id the server gave this connection (from its `connected` frame). */
  get connectionId(): string {
    const connected = this.all('connected');
    if (connected.length === 0) throw new Error('not connected');
    return connected[connected.length - 1]!.connectionId;
  }

  /** One frame, in this connection's dialect (JSON text, or one binary record). */
  send(frame: ClientFrame): void {
    this.sendRaw(this.dialect === 'json' ? JSON.stringify(frame) : Buffer.from(encodeClientFrame(frame)));
  }

  /** One message as the transport would hand it over. */
  sendRaw(data: string | Buffer): void {
    this.session.receive(data);
  }

  /** Send a request with the next id and wait for its reply (ack, err, histRes or fetchRes). */
  async request(frame: Request): Promise<Reply> {
    const id = ++this.ids;
    this.send({ ...frame, id } as ClientFrame);
    return (await this.until((f) => 'id' in f && f.id === id && f.t !== 'pong')) as Reply;
  }

  /** Publish `data` as a message named `name` with a fresh message id (or the one given, to resend). */
  publish(channel: string, data: unknown, extra: { name?: string; messageId?: string } = {}): Promise<Reply> {
    const messageId = extra.messageId ?? `${this.name}-${++this.messageIds}`;
    return this.request({ t: 'pub', channel, name: extra.name ?? 'm', data, messageId });
  }

  /** A fresh `auth` frame on this connection; resolves with its answer (`connected` or `err`). */
  async renew(token: string): Promise<ServerFrame> {
    const from = this.frames.length;
    this.send({ t: 'auth', token });
    return this.waitFor('the answer to a renewal', () => this.frames.slice(from).find((f) => f.t === 'connected' || f.t === 'err'));
  }

  /** The first frame matching that no earlier `next` took; frames before it are skipped for later calls. */
  next<T extends ServerFrame['t']>(pattern: Pattern<T>): Promise<FrameOf<T>>;
  next(predicate: (frame: ServerFrame) => boolean): Promise<ServerFrame>;
  async next(match: Match): Promise<ServerFrame> {
    const test = matcher(match);
    return this.waitFor(describeMatch(match), () => {
      for (let i = this.cursor; i < this.frames.length; i++) {
        if (!test(this.frames[i]!)) continue;
        this.cursor = i + 1;
        return this.frames[i];
      }
      return undefined;
    });
  }

  /** The first frame matching among all received (the cursor of `next` is left alone). */
  until<T extends ServerFrame['t']>(pattern: Pattern<T>): Promise<FrameOf<T>>;
  until(predicate: (frame: ServerFrame) => boolean): Promise<ServerFrame>;
  async until(match: Match): Promise<ServerFrame> {
    const test = matcher(match);
    return this.waitFor(describeMatch(match), () => this.frames.find(test));
  }

  /** Resolves with the close code once the session closed the wire. */
  closed(): Promise<number> {
    return this.waitFor('a close', () => this.closes[0]);
  }

  /**
   * Every frame sent before this call has been handled: a ping is answered in turn, after them. (By
   * count, not id: the binary ping has no id.)
   */
  async sync(): Promise<void> {
    const pongs = this.frames.filter((f) => f.t === 'pong').length;
    this.send({ t: 'ping' });
    await this.waitFor('the pong of a sync', () => (this.frames.filter((f) => f.t === 'pong').length > pongs ? true : undefined));
  }

  /** Frames of kind `t` received so far. */
  all<T extends ServerFrame['t']>(t: T): Array<FrameOf<T>> {
    return this.frames.filter((f): f is FrameOf<T> => f.t === t);
  }

  /** The client went away cleanly (the transport saw the socket close). */
  close(): void {
    this.session.dispose(false);
  }

  private async waitFor<T>(what: string, found: () => T | undefined): Promise<T> {
    for (let turn = 0; turn < MAX_TURNS; turn++) {
      const value = found();
      if (value !== undefined) return value;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    throw new Error(`waited for ${what} in vain; received ${JSON.stringify(this.frames)}, closes ${JSON.stringify(this.closes)}`);
  }
}

function matcher(match: Match): (frame: ServerFrame) => boolean {
  if (typeof match === 'function') return match;
  const entries = Object.entries(match);
  return (frame) => entries.every(([key, value]) => isDeepStrictEqual((frame as unknown as Record<string, unknown>)[key], value));
}

function describeMatch(match: Match): string {
  return typeof match === 'function' ? `a frame matching ${match.toString()}` : JSON.stringify(match);
}
