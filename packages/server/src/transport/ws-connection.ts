import { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { WebSocket } from 'ws';
import type { Dialect, OutputBatch } from '../core/dialect.js';
import type { Outbound } from '../core/outbound.js';
import type { Wire } from '../core/wire.js';
import { CloseCode } from '../core/close-codes.js';
import { binaryHeader, frameBinary, frameText } from './frame.js';
import type { WriteScratch } from './write-scratch.js';
import type { Admission, AdmissionTicket, Evictable } from './admission.js';

/** What the transport's sockets share: the flush scheduler, limits and counters. */
export interface WsConnectionHost {
  readonly maxBufferedBytes: number;
  /** Largest message read from an authenticated socket. */
  readonly maxMessageBytes: number;
  readonly counters: { framesOut: number; bytesOut: number; slowConsumersCut: number };
  /** Where several queued frames are gathered for one write. */
  readonly scratch: WriteScratch;
  /** Have `conn.flush()` called: right after the current callback, or in a later slice of writes. */
  markDirty(conn: WsConnection): void;
}

/**
 * How long a socket the server closed before it authenticated may take to answer the close frame
 * before it is cut: a real client answers within a round trip, and a socket that never answers
 * would otherwise hold its file descriptor for ws's 30 s close timeout.
 */
const PENDING_CLOSE_MS = 1000;

/**
 * The largest message `ws` reads from this socket from now on: past it, the socket closes with
 * 1009 as soon as the frame header announces the length, before any of the payload is buffered.
 * `ws` takes one limit per server; its receiver reads the field on every frame header, so a
 * socket's limit can be set apart (lowered until it authenticates). A `ws` without the field
 * leaves the server-wide limit in force.
 */
export function limitMessages(ws: WebSocket, bytes: number): void {
  const receiver = (ws as unknown as { _receiver?: { _maxPayload?: number } })._receiver;
  if (receiver && typeof receiver._maxPayload === 'number') receiver._maxPayload = bytes;
}

/**
 * One socket's side of the transport, as the session's wire: frames queued since the socket was last
 * written go out in one write, copied into one buffer first (a small copy is cheaper than Node's
 * writev path for many pieces: fan-out measured 20–30% faster than with cork/uncork). Text and lone
 * binary messages are queued framed; a dialect with a batch gathers its binary output, sent as one
 * message. A class rather
 * than closures per socket, and the queues made on first use, because an idle connection should cost
 * little more than its socket.
 */
export class WsConnection implements Wire, Evictable {
  lastSeen = Date.now();
  private queue?: Buffer[];
  private dialect?: Dialect;
  private batch?: OutputBatch;
  private queuedBytes = 0;
  private scheduled = false;
  /** Its session asked for no more reads (a full backlog of its requests); see `pause`. */
  private readingPaused = false;
  private readonly raw?: Socket;
  /** Its place in the connection budget: pending until `authenticated()`. */
  readonly ticket: AdmissionTicket;

  /** Takes a pending place in `admission`, which may evict the oldest pending connection. */
  constructor(
    readonly ws: WebSocket,
    private readonly host: WsConnectionHost,
    admission: Admission,
  ) {
    this.raw = (ws as unknown as { _socket?: Socket })._socket;
    this.ticket = admission.admit(this);
  }

  /** A newer connection took this one's pending place. */
  evict(): void {
    this.close(CloseCode.TryAgainLater, 'too many unauthenticated connections');
  }

  /**
   * The session's first auth succeeded: take an authenticated place and lift the pending message
   * limit, or, with every place taken, close with 1013 before the session's `connected` goes out
   * (the socket is no longer open when it is written).
   */
  authenticated(app: string): boolean {
    if (this.ticket.authenticated) return true;
    if (!this.ticket.promote(app)) {
      this.close(CloseCode.TryAgainLater, 'too many connections');
      return false;
    }
    limitMessages(this.ws, this.host.maxMessageBytes);
    return true;
  }

  speak(dialect: Dialect): void {
    this.dialect = dialect;
  }

  sendText(text: string): void {
    this.enqueue(frameText(text));
  }

  sendBinary(bytes: Uint8Array): void {
    const batch = this.batchOf(this.dialect);
    if (!batch) return this.enqueue(frameBinary(bytes));
    batch.push(bytes);
    this.schedule();
  }

  sendShared(out: Outbound, dialect: Dialect): void {
    const batch = this.batchOf(dialect);
    if (batch) {
      batch.pushShared(out);
      return this.schedule();
    }
    // Framed once per dialect, shared by every socket of this transport.
    const framed = out.memo(framings(dialect), () => {
      const bytes = out.encodedFor(dialect);
      return bytes === undefined ? undefined : typeof bytes === 'string' ? frameText(bytes) : frameBinary(bytes);
    });
    if (framed) this.enqueue(framed);
  }

  /**
   * Stop reading the socket: the kernel's buffers fill and TCP slows the client. ws may still emit
   * what it has already read (one read's worth).
   */
  pause(): void {
    if (this.readingPaused) return;
    this.readingPaused = true;
    this.ws.pause();
  }

  /** Read again; the silence while paused was the server's, so the heartbeat starts afresh. */
  resume(): void {
    if (!this.readingPaused) return;
    this.readingPaused = false;
    this.lastSeen = Date.now();
    this.ws.resume();
  }

  /** Not read since its session paused it: its silence is the server's, not a sign of a dead peer. */
  get paused(): boolean {
    return this.readingPaused;
  }

  /** Queued frames go out first. A socket that never authenticated leaves the budget now and is cut soon. */
  close(code: number, reason: string): void {
    this.flush();
    // The peer's close frame must be read for the closing handshake to end; what else it sent is ignored.
    this.resume();
    this.ws.close(this.closeCodeFor(code), reason);
    if (this.ticket.authenticated) return;
    this.ticket.release();
    setTimeout(() => this.ws.terminate(), PENDING_CLOSE_MS).unref();
  }

  /**
   * Resolves true once what is queued here has been written and the socket holds at most a quarter of
   * the unsent-bytes limit; false after `timeoutMs`, or when the socket goes first.
   */
  drain(timeoutMs: number): Promise<boolean> {
    const raw = this.raw;
    if (!raw) return Promise.resolve(true);
    const low = this.host.maxBufferedBytes / 4;
    this.flush();
    if (raw.writableLength <= low) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        raw.off('drain', check);
        raw.off('close', gone);
        resolve(ok);
      };
      const check = () => {
        if (raw.writableLength <= low) done(true);
      };
      const gone = () => done(false);
      const timer = setTimeout(() => done(false), timeoutMs);
      raw.on('drain', check);
      raw.once('close', gone);
    });
  }

  /** Write out what is queued; cut the connection when the socket holds too much unsent. */
  flush(): void {
    this.scheduled = false;
    const queue = this.queue;
    const records = this.batch;
    const queued = (queue?.length ?? 0) + (records?.length ?? 0);
    if (queued === 0) return;
    const raw = this.raw;
    if (this.ws.readyState !== this.ws.OPEN || !raw || raw.destroyed) return this.drop();
    const counters = this.host.counters;
    counters.framesOut += queued;
    const queuedBytes = this.queuedBytes;
    this.queuedBytes = 0;
    counters.bytesOut += queuedBytes + (records?.bytes ?? 0);
    if (queue && queue.length > 0) {
      this.write(raw, queue, queuedBytes);
      queue.length = 0;
    }
    if (records && records.length > 0) {
      const { pieces, length } = records.take();
      const header = binaryHeader(length);
      pieces.unshift(header);
      this.write(raw, pieces, header.length + length);
    }
    if (raw.writableLength > this.host.maxBufferedBytes) {
      counters.slowConsumersCut++;
      this.ws.close(this.closeCodeFor(CloseCode.SlowConsumer), 'slow consumer: too many unsent bytes');
      setTimeout(() => this.ws.terminate(), 1000).unref();
    }
  }

  /**
   * One write of the pieces: a lone frame as it is; the same frames as the socket written before it,
   * as the one buffer those sockets share (`WriteScratch.repeatOf`); else gathered into the host's
   * scratch buffer.
   * The scratch serves only a plain TCP socket with nothing pending, where a write the kernel takes
   * whole leaves no reference behind (a TLS socket holds every write for a while; a socket already
   * behind would pin a whole scratch for a few bytes): elsewhere the pieces get a buffer of their own.
   */
  private write(raw: Socket, pieces: Uint8Array[], length: number): void {
    if (pieces.length === 1) {
      raw.write(pieces[0]);
      return;
    }
    const scratch = this.host.scratch;
    const repeat = scratch.repeatOf(pieces, length);
    if (repeat) {
      raw.write(repeat);
      return;
    }
    if (raw.writableLength > 0 || !(raw instanceof Socket) || raw instanceof TLSSocket) {
      raw.write(Buffer.concat(pieces, length));
      return;
    }
    raw.write(scratch.gather(pieces));
    if (raw.writableLength > 0) scratch.handOver();
  }

  private closeCodeFor(code: number): number {
    return this.dialect?.closeCode?.(code) ?? code;
  }

  private batchOf(dialect: Dialect | undefined): OutputBatch | undefined {
    if (this.batch || !dialect?.batch) return this.batch;
    return (this.batch = dialect.batch());
  }

  private enqueue(bytes: Buffer): void {
    (this.queue ??= []).push(bytes);
    this.queuedBytes += bytes.length;
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.host.markDirty(this);
  }

  private drop(): void {
    if (this.queue) this.queue.length = 0;
    this.batch?.clear();
    this.queuedBytes = 0;
  }
}

/** Per dialect, the `Outbound` memo key under which its WebSocket-framed bytes are kept. */
const framingKeys = new WeakMap<Dialect, object>();

function framings(dialect: Dialect): object {
  let key = framingKeys.get(dialect);
  if (!key) framingKeys.set(dialect, (key = {}));
  return key;
}
