import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, encodeServerFrame } from '@hubbub/protocol';
import type { Dialect } from '../../core/dialect.js';
import type { Wire } from '../../core/wire.js';
import type { AdmissionTicket, Evictable } from '../../transport/admission.js';
import type { WsPeer } from '../../transport/ws.js';
import { foonyBinary } from './dialect.js';
import { SESSION_HEADER, type LongPollOptions } from './long-poll-options.js';

export interface LongPollHandlers {
  /** Open a session in `dialect` (long-polling carries only the binary dialect's records). */
  open(wire: Wire, req: IncomingMessage, dialect: Dialect): WsPeer;
}

/** What a long-poll session needs of its transport. */
export interface LongPollHost {
  readonly counters: { slowConsumersCut: number; sessionsExpired: number };
  /** Answer a request (once), counting what goes out. */
  written(res: ServerResponse, status: number, body?: Buffer, headers?: Record<string, string>): void;
  /** The session ended: its token no longer opens anything. */
  forget(session: LpSession): void;
}

type State = 'connecting' | 'open' | 'closing' | 'ended';

/** One long-poll client: its outbound queue, the request waiting for it, and its timers. */
export class LpSession implements Evictable {
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
    private readonly lp: LongPollHost,
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
    // A full backlog of requests: the next `/lp/send` is not read until the session has worked it off.
    pause: () => {
      this.sendsPaused = true;
    },
    resume: () => {
      this.sendsPaused = false;
      this.releaseSends();
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
        // The session now waits for the client to poll: a client that polls only after its send is
        // answered would wait for the session for ever. An unmet drain ends the session in `timeoutMs`.
        this.releaseSends();
      });
    },
  };

  /** Replays waiting for the queue to be polled away. */
  private drains: Array<(ok: boolean) => void> = [];
  /** The session's backlog is full: sends wait, unread, in `sendsHeld` (see `sendable`). */
  private sendsPaused = false;
  private sendsHeld: Array<() => void> = [];

  /**
   * Undefined when a `/lp/send` may be read now; else a promise that resolves once it may (the backlog
   * has drained, or the session ended). The HTTP analogue of a socket no longer read: the request
   * body stays in the kernel and the client's send waits for its 204, which paces the SDK.
   */
  sendable(): Promise<void> | undefined {
    if (!this.sendsPaused || this.drains.length > 0) return undefined;
    return new Promise<void>((resolve) => this.sendsHeld.push(resolve));
  }

  private releaseSends(): void {
    const held = this.sendsHeld;
    this.sendsHeld = [];
    for (const resolve of held) resolve();
  }

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
    this.peer = handlers.open(this.wire, req, foonyBinary);
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
    this.sendsPaused = false;
    this.releaseSends();
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

/** A handshake refusal the SDK backs off from (`err` 50300), as a body. */
export function refusal(message: string): Buffer {
  return Buffer.from(encodeServerFrame({ t: 'err', code: ErrorCode.Unavailable, message }));
}
