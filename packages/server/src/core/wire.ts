import type { Dialect } from './dialect.js';
import type { Outbound } from './outbound.js';

/**
 * The transport contract: one connection's byte-level side, as its session sees it. A transport
 * (WebSocket, long-poll) implements it; core never sees a socket, a request or a codec.
 *
 * What a transport guarantees: messages leave in the order they were handed over, and several handed
 * over in one event-loop turn may share one write; `close` sends what is queued first; once the peer is
 * gone, sends are dropped (the session learns of it from its `dispose`, which the transport calls).
 */
export interface Wire {
  /**
   * The session's dialect is known: its first message was read, or the endpoint fixed it. Called once,
   * before anything is sent; a transport that batches binary output asks the dialect how.
   */
  speak?(dialect: Dialect): void;
  /** One text message. */
  sendText(text: string): void;
  /**
   * Bytes for the connection's binary output. A dialect with a `batch` has what arrives in one turn
   * leave as one message; without one, each call is its own message.
   */
  sendBinary(bytes: Uint8Array): void;
  /** A frame shared by many connections; a transport that can reuse its encoded bytes does. */
  sendShared?(frame: Outbound, dialect: Dialect): void;
  close(code: number, reason: string): void;
  /**
   * The connection authenticated: transports keep a smaller budget for connections that have not.
   * False: no place is left for authenticated connections, and the transport is closing this one.
   */
  authenticated?(app: string): boolean;
  /**
   * Resolves true once what is queued for the peer has (mostly) been written out, false when that
   * takes longer than `timeoutMs`: a replay waits on it between pieces, so a big catch-up never sits
   * in memory whole.
   */
  drain?(timeoutMs: number): Promise<boolean>;
  /**
   * Stop reading from the peer until `resume`: the session has a full backlog of its requests. What
   * the transport already holds may still arrive (at most one read's worth). While paused, the
   * transport must not take the peer's silence for a dead connection: it is the server not reading.
   * Sending is unaffected. A transport without these never stops reading.
   */
  pause?(): void;
  resume?(): void;
}
