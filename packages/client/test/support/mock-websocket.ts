import type { WebSocketConstructor, WebSocketLike } from '../../src/index.js';

export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSING = 2;
export const CLOSED = 3;

/** A frame as the client sent it, parsed. */
export type SentFrame = { t: string; id?: number; [field: string]: unknown };

/**
 * A WebSocket the test plays the server of: it records what the client sends, and the test opens it,
 * delivers server frames and closes it with any code.
 */
export class MockWebSocket implements WebSocketLike {
  readyState = CONNECTING;
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  readonly sent: string[] = [];
  /** Frames the client tried to send when the socket was not open (a browser throws or drops them). */
  readonly sentWhileNotOpen: string[] = [];
  /** The code and reason the client closed with, if it closed this socket itself. */
  closedByClient?: { code?: number; reason?: string };

  constructor(readonly url: string, private readonly hub: MockSockets) {
    hub.sockets.push(this);
  }

  send(data: string): void {
    if (this.readyState !== OPEN) {
      this.sentWhileNotOpen.push(data);
      if (this.readyState === CONNECTING) throw new Error('InvalidStateError: send() on a CONNECTING WebSocket');
      return;
    }
    this.sent.push(data);
    if (this.hub.autoPong && (JSON.parse(data) as SentFrame).t === 'ping') {
      const { id } = JSON.parse(data) as SentFrame;
      queueMicrotask(() => {
        if (this.readyState === OPEN) this.deliver(id === undefined ? { t: 'pong' } : { t: 'pong', id });
      });
    }
  }

  close(code?: number, reason?: string): void {
    if (this.readyState === CLOSED || this.readyState === CLOSING) return;
    this.closedByClient = { code, reason };
    this.readyState = CLOSING;
    // A real socket reports its own close later, as a close event.
    queueMicrotask(() => this.finishClose(code ?? 1005, reason ?? ''));
  }

  // ---- the server's side ----

  get frames(): SentFrame[] {
    return this.sent.map((s) => JSON.parse(s) as SentFrame);
  }

  framesOf(t: string): SentFrame[] {
    return this.frames.filter((f) => f.t === t);
  }

  lastOf(t: string): SentFrame | undefined {
    return this.framesOf(t).at(-1);
  }

  open(): void {
    if (this.readyState !== CONNECTING) throw new Error(`open() on a socket in readyState ${this.readyState}`);
    this.readyState = OPEN;
    this.onopen?.({});
  }

  /** Deliver one server frame (an object, JSON-encoded as the wire does). */
  deliver(frame: object): void {
    if (this.readyState !== OPEN) throw new Error(`deliver() on a socket in readyState ${this.readyState}`);
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  /** Answer the client's request `id` with an ack carrying `fields`. */
  ack(id: number | undefined, fields: object = {}): void {
    if (id === undefined) throw new Error('ack() of a frame without id');
    this.deliver({ t: 'ack', id, ...fields });
  }

  /** Answer the client's request `id` with an error. */
  refuse(id: number | undefined, code: number, message = `refused with ${code}`): void {
    this.deliver({ t: 'err', id, code, message });
  }

  /** The server (or the network) closes the socket with `code`. */
  serverClose(code: number, reason = ''): void {
    if (this.readyState === CLOSED) return;
    this.finishClose(code, reason);
  }

  /** The connection attempt fails before it opens (no server): an error event, then close 1006. */
  failToOpen(): void {
    this.onerror?.({});
    this.finishClose(1006, '');
  }

  private finishClose(code: number, reason: string): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.onclose?.({ code, reason });
  }
}

/** Every socket one client opened, in order, and the constructor to give it. */
export class MockSockets {
  readonly sockets: MockWebSocket[] = [];
  readonly WebSocket: WebSocketConstructor;
  /** Answer each `ping` with a `pong`, as a live server does, so long fake-time waits do not trip the heartbeat. */
  autoPong = true;

  constructor() {
    const hub = this;
    this.WebSocket = class extends MockWebSocket {
      constructor(url: string) {
        super(url, hub);
      }
    };
  }

  get latest(): MockWebSocket {
    const last = this.sockets.at(-1);
    if (!last) throw new Error('the client has opened no socket');
    return last;
  }

  get count(): number {
    return this.sockets.length;
  }

  /** Every frame of type `t` sent on any socket, in order. */
  framesOf(t: string): SentFrame[] {
    return this.sockets.flatMap((s) => s.framesOf(t));
  }
}
