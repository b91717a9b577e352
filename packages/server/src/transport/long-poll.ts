import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, encodeServerFrame } from '@hubbub/protocol';
import { DEFAULT_LIMITS } from '../core/session-limits.js';
import type { Wire } from '../core/wire.js';
import type { WsPeer } from './ws.js';
import { Admission, type AdmissionTicket, type Evictable, pendingMessageBound } from './admission.js';

/**
 * The long-polling fallback of Foony's `@foony/realtime` SDK (docs/internal/foony-wire-notes.md §7):
 * the same binary records as on a WebSocket, carried in HTTP bodies.
 *
 *   POST {prefix}/lp/connect     body: the `auth` record → 200 + `foony-lp-session` + `connected`…
 *                                (a refused handshake: 200, no session header, body = the `err` record;
 *                                a body over `maxConnectBodyBytes`: 413, unread)
 *   POST {prefix}/lp/send        body: client records → 204; replies go out through polls
 *   POST {prefix}/lp/poll        held until something is queued or `pollHoldMs` pass → 200 + records
 *   POST {prefix}/lp/disconnect  ends the session now (presence released)
 *
 * A dead session (unknown token, idle expiry, queue overflow, server close) answers 410.
 */

export interface LongPollOptions {
  /** Path prefixes to serve `/lp/*` under. The SDK derives `http://h/p/lp/…` from `ws://h/p`. */
  prefixes: string[];
  /** Largest `send` or `poll` body accepted (413 above it, unread). */
  maxBodyBytes: number;
  /** Largest `connect` body (the `auth` record) accepted (413 above it, unread). */
  maxConnectBodyBytes: number;
  /** How long a poll is held with nothing to send; must stay under the SDK's 40 s request timeout. */
  pollHoldMs: number;
  /** A session with no poll open or arriving for this long is expired, like a dropped socket. */
  sessionIdleMs: number;
  /** Unpolled bytes past which a session is a slow consumer and is ended. */
  maxQueuedBytes: number;
  /** When set, requests from other origins get 403 (requests without `Origin` pass, as on ws). */
  allowedOrigins?: string[];
  /**
   * The budget shared with the other transports: a session is pending until its session calls
   * `wire.authenticated()`, and a connect whose auth succeeds with every place taken is answered
   * with `err` 50300. Unset: no limit.
   */
  admission?: Admission;
}

export const LONG_POLL_DEFAULTS: LongPollOptions = {
  prefixes: ['', '/ws'],
  maxBodyBytes: 1024 * 1024,
  maxConnectBodyBytes: pendingMessageBound(DEFAULT_LIMITS.maxAuthFrameBytes),
  pollHoldMs: 25_000,
  sessionIdleMs: 60_000,
  maxQueuedBytes: 4 * 1024 * 1024,
};

export interface LongPollHandlers {
  open(wire: Wire, req: IncomingMessage): WsPeer;
}

const SESSION_HEADER = 'foony-lp-session';

type State = 'connecting' | 'open' | 'closing' | 'ended';

/** One long-poll client: its outbound queue, the request waiting for it, and its timers. */
class LpSession implements Evictable {
  state: State = 'connecting';
  peer!: WsPeer;
  /** The `/lp/connect` response, until the session's first reply answers it. */
  connectRes?: ServerResponse;
  /** The held `/lp/poll` response, if any (at most one). */
  poll?: ServerResponse;
  private pollTimer?: NodeJS.Timeout;
  private idleTimer?: NodeJS.Timeout;
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private releaseScheduled = false;
  /** Its place in the connection budget; authenticated once the session's first auth succeeded. */
  ticket!: AdmissionTicket;
  /** The first auth succeeded but every place was taken: the connect is refused. */
  private overBudget = false;

  constructor(
    readonly token: string,
    private readonly lp: LongPollTransport,
    private readonly options: LongPollOptions,
  ) {}

  /** A newer connection took its pending place while its auth was checked: refused like a full server. */
  evict(): void {
    this.end(410, false, 'too many unauthenticated connections');
  }

  /** The transport side the session writes to. Only binary records can travel over long-polling. */
  readonly wire: Wire = {
    // A session fed binary bodies never speaks JSON; there is no way to carry text here.
    sendText: () => {},
    sendBinary: (records) => this.enqueue(records),
    sendShared: (frame, dialect) => {
      const bytes = frame.encodedFor(dialect);
      if (bytes instanceof Uint8Array) this.enqueue(bytes);
    },
    close: () => this.serverClose(),
    // Called from inside the session's auth: the refusal is answered once the session has finished it.
    authenticated: (app) => {
      if (this.ticket.authenticated || this.ticket.promote(app)) return true;
      this.overBudget = true;
      this.scheduleRelease();
      return false;
    },
    // A replay waits here between pieces until a poll has taken most of what is queued.
    drain: (timeoutMs) => {
      if (this.queuedBytes <= this.options.maxQueuedBytes / 4) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => this.settleDrains(false), timeoutMs);
        this.drains.push((ok) => {
          clearTimeout(timer);
          resolve(ok);
        });
      });
    },
  };

  /** Replays waiting for the queue to be polled away. */
  private drains: Array<(ok: boolean) => void> = [];

  private settleDrains(ok: boolean): void {
    const waiting = this.drains;
    this.drains = [];
    for (const resolve of waiting) resolve(ok);
  }

  private enqueue(records: Uint8Array): void {
    if (this.state === 'ended' || this.state === 'closing') return;
    if (this.queuedBytes + records.length > this.options.maxQueuedBytes) {
      this.lp.counters.slowConsumersCut++;
      // Called from inside the session's send path: let it unwind before it is disposed.
      this.end(410, true);
      return;
    }
    this.queue.push(records);
    this.queuedBytes += records.length;
    this.scheduleRelease();
  }

  /** Released on the next turn, so records queued together (e.g. `connected` + replies) share a body. */
  private scheduleRelease(): void {
    if (this.releaseScheduled) return;
    this.releaseScheduled = true;
    setImmediate(() => {
      this.releaseScheduled = false;
      this.release();
    });
  }

  private release(): void {
    if (this.state === 'connecting') this.answerConnect();
    else if (this.poll && this.queuedBytes > 0) this.pollAnswered();
  }

  private take(): Buffer {
    const body = Buffer.concat(this.queue, this.queuedBytes);
    this.queue = [];
    this.queuedBytes = 0;
    if (this.drains.length > 0) setImmediate(() => this.settleDrains(true));
    return body;
  }

  /**
   * The session's first replies answer the connect. They open the session when its auth succeeded
   * (`wire.authenticated()`, with a place in the budget); else they are the refusal, and it ends.
   */
  private answerConnect(): void {
    const res = this.connectRes;
    this.connectRes = undefined;
    if (!res) return;
    const body = this.take();
    if (this.overBudget) {
      this.lp.written(res, 200, refusal('too many connections'));
      this.end(410);
      return;
    }
    if (this.ticket.authenticated) {
      if (this.state === 'connecting') this.state = 'open';
      this.lp.written(res, 200, body, { [SESSION_HEADER]: this.token });
      this.armIdle();
      return;
    }
    // The session closed without a word (e.g. a drain during the handshake): still a handshake answer.
    this.lp.written(res, 200, body.length > 0 ? body : refusal('connection closed during the handshake'));
    this.end(410);
  }

  /** Answer the held poll: 200 with `body`, or another status with none. */
  private answerPoll(status: number, body?: Buffer): void {
    const res = this.poll!;
    this.poll = undefined;
    clearTimeout(this.pollTimer);
    this.lp.written(res, status, body);
  }

  /** A connect was accepted: hand the `auth` body to the session and wait for its first reply. */
  start(res: ServerResponse, body: Buffer, req: IncomingMessage, handlers: LongPollHandlers): void {
    this.connectRes = res;
    // The client gave up waiting: it never learnt the token, so nothing can reach this session.
    res.on('close', () => {
      if (this.connectRes === res) {
        this.connectRes = undefined;
        this.end(410);
      }
    });
    this.peer = handlers.open(this.wire, req);
    // Closed while opening (e.g. a connection limit): `end` ran before there was a peer to dispose.
    if (this.state === 'ended') return this.peer.dispose();
    this.peer.receive(body);
  }

  onPoll(res: ServerResponse): void {
    // Not expected from the SDK. The older request may be dead, so the queue goes to the newer one.
    if (this.poll) this.answerPoll(200);
    clearTimeout(this.idleTimer);
    this.poll = res;
    if (this.queuedBytes > 0 || this.state === 'closing') return this.pollAnswered();
    this.pollTimer = setTimeout(() => this.pollAnswered(), this.options.pollHoldMs);
    res.on('close', () => {
      // The client dropped the held request; what is queued waits for its next poll.
      if (this.poll !== res) return;
      this.poll = undefined;
      clearTimeout(this.pollTimer);
      this.armIdle();
    });
  }

  /** Answer the held poll with the queue; a closing session ends once its last records are out. */
  private pollAnswered(): void {
    const closing = this.state === 'closing';
    if (closing && this.queuedBytes === 0) this.answerPoll(410);
    else this.answerPoll(200, this.take());
    if (closing) this.end(410);
    else this.armIdle();
  }

  onSend(body: Buffer): void {
    if (body.length > 0) this.peer.receive(body);
  }

  /** The server closed the connection (drain, auth expiry, policy): deliver what is queued, then 410. */
  private serverClose(): void {
    if (this.state === 'ended' || this.state === 'closing') return;
    const connecting = this.state === 'connecting';
    this.state = 'closing';
    if (connecting) this.answerConnect();
    // answerConnect may have ended the session (the reply was not `connected`).
    if ((this.state as State) === 'ended') return;
    if (this.poll) this.pollAnswered();
    // Nothing left to deliver: end now. Else the records wait for one more poll (or the idle expiry).
    else if (this.queuedBytes === 0) this.end(410);
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.lp.counters.sessionsExpired++;
      this.end(410);
    }, this.options.sessionIdleMs);
    this.idleTimer.unref();
  }

  /**
   * End the session for good: the token is forgotten, a held request is answered (`pollStatus` 200
   * delivers what is queued, 410 drops it), and the peer is disposed like a closed socket.
   */
  end(pollStatus: 200 | 410, deferDispose = false, refused = 'connection ended during the handshake'): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.settleDrains(false);
    this.ticket.release();
    this.lp.forget(this);
    clearTimeout(this.idleTimer);
    clearTimeout(this.pollTimer);
    if (this.connectRes) {
      const res = this.connectRes;
      this.connectRes = undefined;
      this.lp.written(res, 200, refusal(refused));
    }
    if (this.poll) this.answerPoll(pollStatus, pollStatus === 200 ? this.take() : undefined);
    this.queue = [];
    this.queuedBytes = 0;
    if (!this.peer) return;
    if (deferDispose) setImmediate(() => this.peer.dispose());
    else this.peer.dispose();
  }
}

/**
 * Serves `/lp/*` for the Foony SDK's long-polling fallback. Each session is handed to the same
 * `open` as a WebSocket (a `Wire` in, a peer out), so the protocol state machine is shared.
 */
export class LongPollTransport {
  private readonly sessions = new Map<string, LpSession>();
  private readonly options: LongPollOptions;
  readonly admission: Admission;
  private closed = false;
  /** Counters for metrics: response bodies and bytes each way, sessions cut and expired. */
  readonly counters = { framesOut: 0, bytesOut: 0, framesIn: 0, bytesIn: 0, slowConsumersCut: 0, sessionsExpired: 0 };

  constructor(
    options: Partial<LongPollOptions>,
    private readonly handlers: LongPollHandlers,
  ) {
    this.options = { ...LONG_POLL_DEFAULTS, ...options };
    this.admission = options.admission ?? new Admission({ maxConnections: Infinity, maxPending: Infinity });
    // '/ws/' and '/' are the same prefixes as '/ws' and ''.
    this.options.prefixes = this.options.prefixes.map((p) => p.replace(/\/+$/, ''));
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Polls held right now. */
  get heldPolls(): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.poll) n++;
    return n;
  }

  /** Take the request if it is for `/lp/*` under one of the prefixes; false leaves it to the caller. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const op = this.match((req.url ?? '/').split('?')[0]);
    if (op === undefined) return false;
    const origin = req.headers.origin;
    const { allowedOrigins } = this.options;
    if (origin && allowedOrigins && !allowedOrigins.includes(origin)) {
      this.written(res, 403);
      return true;
    }
    if (origin) {
      // No cookies are involved, so `*` is safe when no allow-list is configured.
      res.setHeader('access-control-allow-origin', allowedOrigins ? origin : '*');
      if (allowedOrigins) res.setHeader('vary', 'Origin');
      // Without it the browser hides the session header from the SDK ("no session").
      res.setHeader('access-control-expose-headers', SESSION_HEADER);
    }
    if (req.method === 'OPTIONS') {
      // Preflight: the SDK's requests are non-simple (octet-stream body, custom header).
      res.setHeader('access-control-allow-methods', 'POST');
      res.setHeader('access-control-allow-headers', `content-type, ${SESSION_HEADER}`);
      res.setHeader('access-control-max-age', '600');
      this.written(res, 204);
      return true;
    }
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST, OPTIONS');
      this.written(res, 405);
      return true;
    }
    if (op !== 'connect' && op !== 'send' && op !== 'poll' && op !== 'disconnect') {
      this.written(res, 404);
      return true;
    }
    this.serve(op, req, res).catch((err) => {
      console.error(err);
      if (!res.headersSent) this.written(res, 500);
    });
    return true;
  }

  /** Shutdown: end every session (held polls get what is queued), refuse new connects. */
  close(): void {
    this.closed = true;
    for (const session of [...this.sessions.values()]) session.end(200);
  }

  /** @internal The session ended: its token no longer opens anything. */
  forget(session: LpSession): void {
    if (this.sessions.get(session.token) === session) this.sessions.delete(session.token);
  }

  /** @internal Answer a request (once), counting what goes out. */
  written(res: ServerResponse, status: number, body?: Buffer, headers: Record<string, string> = {}): void {
    if (res.writableEnded) return;
    const length = body?.length ?? 0;
    if (length > 0) {
      this.counters.framesOut++;
      this.counters.bytesOut += length;
    }
    res.writeHead(status, { ...headers, 'content-type': 'application/octet-stream', 'content-length': length, 'cache-control': 'no-store' });
    res.end(body);
  }

  /** The `/lp/` operation of a path under one of the prefixes, else undefined. */
  private match(path: string): string | undefined {
    for (const prefix of this.options.prefixes) {
      const base = `${prefix}/lp/`;
      if (path.startsWith(base)) return path.slice(base.length);
    }
    return undefined;
  }

  private async serve(op: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A connect carries one `auth` record, and its session has not authenticated: it gets the small bound.
    const body = await readBody(req, op === 'connect' ? this.options.maxConnectBodyBytes : this.options.maxBodyBytes);
    if (body === 'aborted') return;
    if (body === 'too-large') {
      // Refuse and drop the connection rather than read the rest.
      res.setHeader('connection', 'close');
      return this.written(res, 413);
    }
    this.counters.bytesIn += body.length;
    if (op === 'connect') return this.connect(req, res, body);
    const token = req.headers[SESSION_HEADER];
    const session = typeof token === 'string' ? this.sessions.get(token) : undefined;
    if (!session || session.state === 'connecting' || session.state === 'ended') return this.written(res, 410);
    if (op === 'poll') return session.onPoll(res);
    if (op === 'disconnect') {
      session.end(200);
      return this.written(res, 204);
    }
    // send
    if (session.state === 'closing') return this.written(res, 410);
    if (body.length > 0) this.counters.framesIn++;
    session.onSend(body);
    this.written(res, 204);
  }

  private connect(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    // No `auth` record: not a handshake at all.
    if (body.length === 0) return this.written(res, 400);
    // Answered as a handshake (200 + err) so the SDK backs off instead of treating it as a network failure.
    if (this.closed) return this.written(res, 200, refusal('server shutting down'));
    this.counters.framesIn++;
    // 256 random bits: the token is the only credential after connect.
    const session = new LpSession(randomBytes(32).toString('base64url'), this, this.options);
    session.ticket = this.admission.admit(session);
    this.sessions.set(session.token, session);
    session.start(res, body, req, this.handlers);
  }
}

/** A handshake refusal the SDK backs off from (`err` 50300), as a body. */
function refusal(message: string): Buffer {
  return Buffer.from(encodeServerFrame({ t: 'err', code: ErrorCode.Unavailable, message }));
}

/** The whole request body, unless it is over `max` (declared or actual) or the client went away. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | 'too-large' | 'aborted'> {
  if (Number(req.headers['content-length'] ?? 0) > max) return Promise.resolve('too-large');
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.off('data', onData);
        resolve('too-large');
      } else chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', () => resolve('aborted'));
    // Resolving twice is a no-op: after 'end' this changes nothing; before it, the client left.
    req.on('close', () => resolve('aborted'));
  });
}
