import { randomBytes } from 'node:crypto';
import type { HubConnection } from '../core/channel-hub.js';
import type { Wire } from '../core/wire.js';
import type { WsPeer } from './ws.js';

/** The one message shape of embedded sockets, both ways: `{ "event": …, "data": …, "id"?: … }`. */
export interface EmbeddedMessage {
  event: string;
  data?: unknown;
  id?: string;
}

type Handler = (data: unknown, message: EmbeddedMessage) => void;

/**
 * A WebSocket as embedders hold it (`HubSocketServer`, `createRealtime`): Socket.IO-style
 * `on`/`emit`, and a `ChannelHub` connection, so `hub.join(room, userId, socket)` just works.
 */
export class EmbeddedSocket implements HubConnection, WsPeer {
  readonly id = randomBytes(9).toString('base64url');
  private readonly handlers = new Map<string, Set<Handler>>();
  private readonly closeHandlers: Array<() => void> = [];
  private closed = false;
  /** Every parsed message, before the per-event handlers (createRealtime's onMessage). */
  onAnyMessage?: (message: EmbeddedMessage | string) => void;

  constructor(
    private readonly wire: Wire,
    /** What the server's `authFn` returned for this socket's upgrade request. */
    readonly auth?: unknown,
    /** The user this socket belongs to, for `sendTo`. */
    public userId?: string,
  ) {}

  on(event: string, fn: Handler): this {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(fn);
    return this;
  }

  off(event: string, fn?: Handler): this {
    if (fn) this.handlers.get(event)?.delete(fn);
    else this.handlers.delete(event);
    return this;
  }

  /** Send one event to this socket. */
  emit(event: string, data?: unknown): void {
    this.send(event, data);
  }

  /** `send(type, payload)` (the ChannelHub shape) or `send({ event, data, id })`. */
  send(typeOrMessage: string | EmbeddedMessage, data?: unknown): void {
    if (this.closed) return;
    const message = typeof typeOrMessage === 'string' ? { event: typeOrMessage, data } : typeOrMessage;
    this.wire.sendText(JSON.stringify(message));
  }

  onClose(fn: () => void): void {
    if (this.closed) fn();
    else this.closeHandlers.push(fn);
  }

  close(code = 1000, reason = ''): void {
    if (this.closed) return;
    this.wire.close(code, reason);
    this.dispose();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  receive(raw: string | Buffer): void {
    const text = typeof raw === 'string' ? raw : raw.toString('utf8');
    let message: EmbeddedMessage | undefined;
    try {
      const parsed = JSON.parse(text) as EmbeddedMessage;
      if (parsed && typeof parsed === 'object' && typeof parsed.event === 'string') message = parsed;
    } catch {
      // Not our shape: handed to onAnyMessage as text, and to 'message' handlers.
    }
    this.onAnyMessage?.(message ?? text);
    if (!message) {
      for (const fn of this.handlers.get('message') ?? []) fn(text, { event: 'message', data: text });
      return;
    }
    for (const fn of this.handlers.get(message.event) ?? []) fn(message.data, message);
  }

  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fn of this.closeHandlers.splice(0)) fn();
  }
}
