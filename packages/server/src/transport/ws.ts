import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WsConnection, limitMessages, type WsConnectionHost } from './ws-connection.js';
import { WriteScratch } from './write-scratch.js';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import { CloseCode } from '../core/close-codes.js';
import type { Wire } from '../core/wire.js';
import { Admission, messageBound } from './admission.js';
import { processLog, type Log } from '../core/log.js';

export interface WsTransportOptions {
  /**
   * Largest text frame accepted, in bytes; larger ones close the connection with 1009. Binary
   * messages up to `messageBound(maxPayload)` (four times it) reach the session, which answers an
   * oversized publish with an error, for dialects whose SDK resends a publish forever when its
   * connection is closed instead. Larger messages of either kind close with 1009 unread.
   */
  maxPayload: number;
  /** Server-side ping interval; a peer silent for two intervals is dropped. */
  heartbeatMs: number;
  /** Unsent bytes past which a connection is a slow consumer and is cut. */
  maxBufferedBytes: number;
  /**
   * The budget shared with the other transports. A socket is pending until its session calls
   * `wire.authenticated()`, and that call closes it with 1013 when `maxConnections` are taken.
   * Unset: every upgraded socket counts at once against `maxConnections` (embedding, where
   * `authorize` decides on the upgrade and nothing authenticates later).
   */
  admission?: Admission;
  /** Without `admission`: sockets past this get 1013. Default: no limit. */
  maxConnections?: number;
  /**
   * Largest message read before the socket's session authenticates (larger: 1009, unread); at
   * most the bound above. With `admission` only. Default: the bound above.
   */
  maxPendingMessageBytes?: number;
  /** When set, upgrades from other origins get 403. */
  allowedOrigins?: string[];
  /** Only upgrades to these paths (or under `pathPrefixes`) are accepted; unset: any path. */
  paths?: string[];
  /** Upgrades to paths starting with one of these are accepted too (a dialect's `/app/{key}`). */
  pathPrefixes?: string[];
  /** Decide on the upgrade request; a rejection or a falsy result refuses it with 401. */
  authorize?(req: IncomingMessage): unknown;
  /** Where a socket's failed write (a bug) is reported; process warnings when unset. */
  log?: Log;
}

/** What the transport hands each accepted socket's owner. */
export interface WsHandlers {
  /** `auth` is what `authorize` returned, when it is set. */
  open(wire: Wire, req: IncomingMessage, auth: unknown): WsPeer;
}

export interface WsPeer {
  receive(data: string | Buffer): void;
  /**
   * The socket is gone; `abrupt` when it did not close cleanly (the client may come back soon), with
   * the close reason the client gave, if any.
   */
  dispose(abrupt?: boolean, reason?: string): void;
}

/**
 * Writes per slice of the flush, in milliseconds, before the event loop reads again: small enough that
 * a message published during a large fan-out joins it within a slice, large enough that the extra
 * trips round the event loop cost nothing measurable.
 */
const FLUSH_SLICE_MS = 2;

/**
 * Adapts `ws` sockets to wires (`WsConnection`). Writes are queued and flushed once per turn of the
 * event loop, each socket's queue as one buffer, so a burst of deliveries to one socket becomes one
 * write system call.
 */
export class WsTransport implements WsConnectionHost {
  private readonly wss: WebSocketServer;
  /** Every accepted socket: its queue (the session's wire) and the session reading from it. */
  private readonly connections = new Map<WebSocket, { conn: WsConnection; peer: WsPeer }>();
  /** Set by `close` while it waits for the last socket to go. */
  private closed?: () => void;
  private readonly heartbeat: NodeJS.Timeout;
  /** Sockets with frames queued, oldest first, from `dirtyHead` on. */
  private readonly dirty: WsConnection[] = [];
  private dirtyHead = 0;
  /** A slice is due in a check phase: this turn's, or for what one slice left, the next's. */
  private flushScheduled = false;
  /** Counters for metrics: frames and bytes each way, slow consumers cut. */
  readonly counters = { framesOut: 0, bytesOut: 0, framesIn: 0, bytesIn: 0, slowConsumersCut: 0 };
  readonly scratch = new WriteScratch();
  readonly admission: Admission;
  readonly maxMessageBytes: number;
  readonly maxPendingMessageBytes: number;
  /** No session here authenticates later: a socket takes an authenticated place once upgraded. */
  private readonly admitOnUpgrade: boolean;

  constructor(
    private readonly options: WsTransportOptions,
    private readonly handlers: WsHandlers,
  ) {
    this.maxMessageBytes = messageBound(options.maxPayload);
    this.maxPendingMessageBytes = Math.min(options.maxPendingMessageBytes ?? this.maxMessageBytes, this.maxMessageBytes);
    this.admitOnUpgrade = !options.admission;
    this.admission = options.admission ?? new Admission({ maxConnections: options.maxConnections ?? Infinity, maxPending: Infinity });
    // No client tracking: `connections` already holds every accepted socket, and ws's own set would
    // cost each idle connection an entry and a close listener more.
    this.wss = new WebSocketServer({ noServer: true, clientTracking: false, maxPayload: this.maxMessageBytes, perMessageDeflate: false });
    this.heartbeat = setInterval(() => this.sweep(), Math.max(100, Math.floor(options.heartbeatMs / 2)));
    this.heartbeat.unref();
  }

  get maxBufferedBytes(): number {
    return this.options.maxBufferedBytes;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  attach(server: Server): void {
    server.on('upgrade', (req, socket, head) => void this.upgrade(req, socket, head));
  }

  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const { paths, pathPrefixes } = this.options;
    if (paths && !paths.includes(path) && !pathPrefixes?.some((prefix) => path.startsWith(prefix))) return refuse(socket, 404, 'Not Found');
    const origin = req.headers.origin;
    if (this.options.allowedOrigins && origin && !this.options.allowedOrigins.includes(origin)) {
      return refuse(socket, 403, 'Forbidden');
    }
    let auth: unknown;
    if (this.options.authorize) {
      try {
        auth = await this.options.authorize(req);
      } catch {
        auth = undefined;
      }
      if (!auth) return refuse(socket, 401, 'Unauthorized');
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const conn = new WsConnection(ws, this, this.admission);
      if (this.admitOnUpgrade && !conn.ticket.promote('')) {
        conn.ticket.release();
        ws.close(CloseCode.TryAgainLater, 'too many connections');
        return;
      }
      this.accept(ws, req, auth, conn);
    });
  }

  /** Tell every client to reconnect elsewhere, then close. */
  async close(code: number = CloseCode.Restart, reason = 'server restarting'): Promise<void> {
    clearInterval(this.heartbeat);
    for (const { conn } of this.connections.values()) conn.close(code, reason); // writes what is queued first
    if (this.connections.size > 0) await new Promise<void>((resolve) => (this.closed = resolve));
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private accept(ws: WebSocket, req: IncomingMessage, auth: unknown, conn: WsConnection): void {
    if (!conn.ticket.authenticated) limitMessages(ws, this.maxPendingMessageBytes);
    this.connections.set(ws, { conn, peer: this.handlers.open(conn, req, auth) });
    ws.on('message', this.onMessage);
    ws.on('pong', this.onPong);
    ws.on('close', this.onClose);
    ws.on('error', terminate);
  }

  /*
   * Socket events, shared by all sockets (the socket is `this`) rather than closures per socket:
   * an idle connection should cost little more than the socket itself.
   */
  private readonly onMessage = ((transport: WsTransport) =>
    function (this: WebSocket, data: RawData, isBinary: boolean) {
      const entry = transport.connections.get(this);
      // A socket the server is closing has nothing more to say: what it still sends is not read.
      if (!entry || this.readyState !== this.OPEN) return;
      entry.conn.lastSeen = Date.now();
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      transport.counters.framesIn++;
      transport.counters.bytesIn += bytes.length;
      // Through the wire, so that what is already queued for the socket still goes out first.
      if (!isBinary && bytes.length > transport.options.maxPayload) return entry.conn.close(CloseCode.TooBig, 'frame too large');
      entry.peer.receive(isBinary ? bytes : bytes.toString());
    })(this);

  private readonly onPong = ((transport: WsTransport) =>
    function (this: WebSocket) {
      const entry = transport.connections.get(this);
      if (entry) entry.conn.lastSeen = Date.now();
    })(this);

  private readonly onClose = ((transport: WsTransport) =>
    function (this: WebSocket, code: number, reason: Buffer) {
      const entry = transport.connections.get(this);
      if (!entry) return;
      transport.connections.delete(this);
      if (transport.connections.size === 0) transport.closed?.();
      entry.conn.ticket.release();
      // A client that closed with 1000 meant to leave; anything else (a dropped link, a keep-alive
      // timeout) may come back and resume. The reason lets its session tell a suspend from a leave.
      entry.peer.dispose(code !== 1000, reason.toString());
    })(this);

  /**
   * Sockets are written in the order they first had something queued, a slice at a time: the first
   * slice once the event loop has run this turn's I/O callbacks (setImmediate), so what every frame
   * read in the turn sends one socket goes out in one write; the rest after the loop has read what
   * arrived meanwhile. Writing after each callback instead (process.nextTick) cost a write per
   * callback: on many small channels 1.3-1.6x the CPU per delivery, and acks no faster. A fan-out to
   * thousands of sockets takes tens of milliseconds of writes; a message published during it joins
   * the queues of the sockets not yet written, so it goes out in this pass for them and the next for
   * the others, instead of waiting for the whole pass to end before its own begins. Acks queue behind
   * the deliveries their publish caused, which keeps a publisher from outrunning the writes.
   */
  markDirty(conn: WsConnection): void {
    this.dirty.push(conn);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.flushSlice);
  }

  private readonly flushSlice = (): void => {
    this.flushScheduled = false;
    const dirty = this.dirty;
    const deadline = performance.now() + FLUSH_SLICE_MS;
    let written = 0;
    while (this.dirtyHead < dirty.length) {
      const conn = dirty[this.dirtyHead++];
      try {
        conn.flush();
      } catch (err) {
        // One socket's failure must not strand the others' writes.
        (this.options.log ?? processLog).error({ err }, 'a socket write failed');
      }
      if (++written % 32 === 0 && performance.now() >= deadline) break;
    }
    if (this.dirtyHead === dirty.length) {
      dirty.length = 0;
      this.dirtyHead = 0;
      return;
    }
    if (this.dirtyHead >= 4096) {
      dirty.copyWithin(0, this.dirtyHead);
      dirty.length -= this.dirtyHead;
      this.dirtyHead = 0;
    }
    // Scheduled from a check phase, the next slice runs after the loop's next I/O poll.
    this.scheduleFlush();
  };

  /** Ping the quiet ones; drop the ones silent for two intervals. */
  private sweep(): void {
    const now = Date.now();
    const { heartbeatMs } = this.options;
    for (const [ws, { conn }] of this.connections) {
      // A socket its session stopped reading cannot show it is alive (its pongs are not read).
      if (conn.paused) continue;
      const quiet = now - conn.lastSeen;
      // Pinged once quiet for an interval (and again half an interval later): an idle socket costs
      // a ping and a pong per interval, and a dead one is still found within two.
      if (quiet > 2 * heartbeatMs) ws.terminate();
      else if (quiet >= heartbeatMs) ws.ping();
    }
  }
}

/**
 * A protocol error (e.g. a message past the size limit): ws has queued the close frame (1009, 1002)
 * and emits this; destroying the socket at once would lose that frame, and the client would only see
 * 1006. A socket already closing gets a moment for its close frame to go out.
 */
function terminate(this: WebSocket): void {
  if (this.readyState !== this.CLOSING) return this.terminate();
  setTimeout(() => this.terminate(), CLOSE_FRAME_GRACE_MS).unref();
}

const CLOSE_FRAME_GRACE_MS = 1000;

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
