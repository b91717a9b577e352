import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { processLog, type Log } from '../../core/log.js';
import { Admission } from '../../transport/admission.js';
import { readRequestBody } from '../../transport/request-body.js';
import { LONG_POLL_DEFAULTS, SESSION_HEADER, type LongPollOptions } from './long-poll-options.js';
import { LpSession, refusal, type LongPollHandlers, type LongPollHost } from './long-poll-session.js';

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

export { LONG_POLL_DEFAULTS, type LongPollOptions, type LongPollHandlers };

/**
 * Serves `/lp/*` for the Foony SDK's long-polling fallback. Each session is handed to the same
 * `open` as a WebSocket (a `Wire` in, a peer out), so the protocol state machine is shared.
 */
export class LongPollTransport implements LongPollHost {
  private readonly sessions = new Map<string, LpSession>();
  private readonly options: LongPollOptions;
  readonly admission: Admission;
  private closed = false;
  /** Counters for metrics: response bodies and bytes each way, sessions cut and expired. */
  readonly counters = { framesOut: 0, bytesOut: 0, framesIn: 0, bytesIn: 0, slowConsumersCut: 0, sessionsExpired: 0 };

  constructor(
    options: Partial<LongPollOptions>,
    private readonly handlers: LongPollHandlers,
    /** Where a request that failed unexpectedly (a bug) is reported. */
    private readonly log: Log = processLog,
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
      this.log.error({ err }, `long-poll ${op} failed`);
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
    // A send to a session with a full backlog waits, unread, until the session has worked it off.
    if (op === 'send') await this.sessionOf(req)?.sendable();
    // A connect carries one `auth` record, and its session has not authenticated: it gets the small bound.
    const body = await readRequestBody(req, op === 'connect' ? this.options.maxConnectBodyBytes : this.options.maxBodyBytes);
    if (body === 'aborted') return;
    if (body === 'too-large') {
      // Refuse and drop the connection rather than read the rest.
      res.setHeader('connection', 'close');
      return this.written(res, 413);
    }
    this.counters.bytesIn += body.length;
    if (op === 'connect') return this.connect(req, res, body);
    const session = this.sessionOf(req);
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

  private sessionOf(req: IncomingMessage): LpSession | undefined {
    const token = req.headers[SESSION_HEADER];
    return typeof token === 'string' ? this.sessions.get(token) : undefined;
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
