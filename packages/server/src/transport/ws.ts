import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { binaryHeader, frameText } from './frame.js';
import { RecordQueue } from './record-queue.js';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import { CloseCode } from '../core/close-codes.js';
import type { Wire } from '../core/session.js';

export interface WsTransportOptions {
  /**
   * Largest text frame accepted, in bytes; larger ones close the connection with 1009. Binary
   * messages up to `BINARY_CEILING` reach the session, which answers an oversized publish with
   * an error: Foony's SDK resends a publish forever when its connection is closed instead.
   */
  maxPayload: number;
  /** Server-side ping interval; a peer silent for two intervals is dropped. */
  heartbeatMs: number;
  /** Unsent bytes past which a connection is a slow consumer and is cut. */
  maxBufferedBytes: number;
  maxConnections: number;
  /** When set, upgrades from other origins get 403. */
  allowedOrigins?: string[];
  /** Only upgrades to these paths are accepted; unset: any path. */
  paths?: string[];
  /** Decide on the upgrade request; a rejection or a falsy result refuses it with 401. */
  authorize?(req: IncomingMessage): unknown;
}

/** What the transport hands each accepted socket's owner. */
export interface WsHandlers {
  /** `auth` is what `authorize` returned, when it is set. */
  open(wire: Wire, req: IncomingMessage, auth: unknown): WsPeer;
}

export interface WsPeer {
  receive(data: string | Buffer): void;
  /** The socket is gone; `abrupt` when it did not close cleanly (the client may come back soon). */
  dispose(abrupt?: boolean): void;
}

/**
 * Adapts `ws` sockets to wires. Writes are queued and flushed once per event-loop turn with the
 * socket corked, so a burst of deliveries to one socket becomes one write system call.
 */
/** Binary messages past this close the connection with 1009 whatever the configured limit. */
const BINARY_CEILING = 1024 * 1024;

export class WsTransport {
  private readonly wss: WebSocketServer;
  private readonly lastSeen = new Map<WebSocket, number>();
  /** Per socket: write out what is queued now (used when draining). */
  private readonly flushers = new Map<WebSocket, () => void>();
  private readonly heartbeat: NodeJS.Timeout;
  /** Sockets with frames queued this turn; all written by one callback on the next. */
  private dirty: Array<() => void> = [];
  private flushScheduled = false;
  /** Counters for metrics: frames and bytes each way, slow consumers cut. */
  readonly counters = { framesOut: 0, bytesOut: 0, framesIn: 0, bytesIn: 0, slowConsumersCut: 0 };

  constructor(
    private readonly options: WsTransportOptions,
    private readonly handlers: WsHandlers,
  ) {
    const maxPayload = Math.max(options.maxPayload, BINARY_CEILING);
    this.wss = new WebSocketServer({ noServer: true, maxPayload, perMessageDeflate: false });
    this.heartbeat = setInterval(() => this.sweep(), Math.max(100, Math.floor(options.heartbeatMs / 2)));
    this.heartbeat.unref();
  }

  get connectionCount(): number {
    return this.wss.clients.size;
  }

  attach(server: Server): void {
    server.on('upgrade', (req, socket, head) => void this.upgrade(req, socket, head));
  }

  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (this.options.paths && !this.options.paths.includes(path)) return refuse(socket, 404, 'Not Found');
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
      if (this.wss.clients.size > this.options.maxConnections) {
        ws.close(CloseCode.TryAgainLater, 'too many connections');
        return;
      }
      this.accept(ws, req, auth);
    });
  }

  /** Tell every client to reconnect elsewhere, then close. */
  async close(code: number = CloseCode.Restart, reason = 'server restarting'): Promise<void> {
    clearInterval(this.heartbeat);
    for (const ws of this.wss.clients) {
      this.flushers.get(ws)?.();
      ws.close(code, reason);
    }
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private accept(ws: WebSocket, req: IncomingMessage, auth: unknown): void {
    // Frames queued during this event-loop turn, written in one go (cork → writev) on the next.
    // A JSON connection queues framed text; a binary one queues records, sent as one message.
    const queue: Buffer[] = [];
    const records = new RecordQueue();
    let queuedBytes = 0;
    let scheduled = false;
    const raw = (ws as unknown as { _socket?: Socket })._socket;
    const flush = () => {
      scheduled = false;
      if (queue.length === 0 && records.length === 0) return;
      if (ws.readyState !== ws.OPEN || !raw || raw.destroyed) {
        queue.length = 0;
        records.clear();
        queuedBytes = 0;
        return;
      }
      this.counters.framesOut += queue.length + records.length;
      this.counters.bytesOut += queuedBytes + records.bytes;
      raw.cork();
      for (const b of queue) raw.write(b);
      if (records.length > 0) {
        const { pieces, length } = records.take();
        raw.write(binaryHeader(length));
        for (const p of pieces) raw.write(p);
      }
      raw.uncork();
      queue.length = 0;
      queuedBytes = 0;
      if (raw.writableLength > this.options.maxBufferedBytes) {
        this.counters.slowConsumersCut++;
        ws.close(CloseCode.SlowConsumer, 'slow consumer: too many unsent bytes');
        setTimeout(() => ws.terminate(), 1000).unref();
      }
    };
    const schedule = () => {
      if (!scheduled) {
        scheduled = true;
        this.markDirty(flush);
      }
    };
    const enqueue = (bytes: Buffer) => {
      queue.push(bytes);
      queuedBytes += bytes.length;
      schedule();
    };
    const wire: Wire = {
      send: (text) => enqueue(frameText(text)),
      sendRecords: (bytes) => {
        records.push(bytes);
        schedule();
      },
      sendShared: (out, binary) => {
        if (!binary) return enqueue((out.wire ??= frameText(out.text)));
        records.pushShared(out);
        schedule();
      },
      close: (code, reason) => {
        flush();
        ws.close(code, reason);
      },
    };
    const peer = this.handlers.open(wire, req, auth);
    this.lastSeen.set(ws, Date.now());
    this.flushers.set(ws, flush);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      this.lastSeen.set(ws, Date.now());
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      this.counters.framesIn++;
      this.counters.bytesIn += bytes.length;
      if (!isBinary && bytes.length > this.options.maxPayload) return ws.close(CloseCode.TooBig, 'frame too large');
      peer.receive(isBinary ? bytes : bytes.toString());
    });
    ws.on('pong', () => this.lastSeen.set(ws, Date.now()));
    ws.on('close', (code: number, reason: Buffer) => {
      this.lastSeen.delete(ws);
      this.flushers.delete(ws);
      peer.dispose(!isCleanClose(code, reason));
    });
    ws.on('error', () => ws.terminate());
  }

  /** One setImmediate per turn for every socket with something queued, not one per socket. */
  private markDirty(flush: () => void): void {
    this.dirty.push(flush);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(() => {
      const due = this.dirty;
      this.dirty = [];
      this.flushScheduled = false;
      for (const f of due) {
        try {
          f();
        } catch (err) {
          console.error(err); // one socket's failure must not strand the others' writes
        }
      }
    });
  }

  /** Ping the quiet ones; drop the ones silent for two intervals. */
  private sweep(): void {
    const now = Date.now();
    const { heartbeatMs } = this.options;
    for (const [ws, seen] of this.lastSeen) {
      const quiet = now - seen;
      if (quiet > 2 * heartbeatMs) ws.terminate();
      else if (quiet >= heartbeatMs / 2) ws.ping();
    }
  }
}

/**
 * A client that closed with 1000 meant to leave. Anything else (a dropped link, a keep-alive
 * timeout, Foony's `suspend()` which says "client suspend") may come back and resume.
 */
function isCleanClose(code: number, reason: Buffer): boolean {
  return code === 1000 && reason.toString() !== 'client suspend';
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
