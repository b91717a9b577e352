import type { ClientFrame, FrameError, ServerFrame } from '@hubbub/protocol';
import type { Outbound, SharedEncoder } from './outbound.js';

/**
 * How one family of clients talks: its codec, and the few rules where its SDK expects something
 * else of the same session core. A connection's dialect is picked by its first message (or fixed by
 * the endpoint it came in on) and kept for its life. Dialects live in `compat/`, one folder each.
 */
export interface Dialect extends SharedEncoder {
  readonly name: string;
  /** Its messages are binary (else text). */
  readonly binary: boolean;
  /** Does a connection whose first message is `first` speak this dialect? */
  claims(first: string | Buffer): boolean;
  /**
   * The frames of one message, at most `maxFrames` of them (a message that holds more yields
   * `maxFrames`, so the caller can tell); what cannot be read is a `FrameError` in its place.
   */
  decode(data: string | Buffer, maxFrames: number): Array<ClientFrame | FrameError>;
  /** Does a first message, too big to decode, start like an auth frame? */
  looksLikeAuth(data: string | Buffer): boolean;
  encode(frame: ServerFrame): string | Uint8Array;
  /**
   * A frame many connections get, in this dialect; undefined when the dialect has no form for it
   * (that connection is not sent it). Called once per frame and dialect, whatever the subscriber count.
   */
  encodeShared(frame: Outbound): string | Uint8Array | undefined;
  /** For binary dialects whose messages may be concatenated: a batch for one connection's writes. */
  batch?(): OutputBatch;
  /**
   * The close code this dialect's clients must read for one of Hubbub's (`CloseCode`), when theirs
   * classes codes otherwise; the transport asks it for every close of a connection that speaks it.
   */
  closeCode?(code: number): number;
  readonly policy: DialectPolicy;
}

/** The rules where dialects differ; everything else is the same session core. */
export interface DialectPolicy {
  /**
   * 'client': presence members by client id, reference-counted by connection, and a presence
   * subscription's ack carries the member list. 'connection': every connection is its own member, and
   * the list follows the ack as enters.
   */
  presenceView: 'client' | 'connection';
  /**
   * 'frame': a fresh auth frame renews the token on the live connection, within `authGraceMs` of its
   * expiry. 'reconnect': the client renews by reconnecting, so an expired token closes at once.
   */
  renewal: 'frame' | 'reconnect';
  /**
   * The client resumes its connection id after a drop and expects its presence kept meanwhile
   * (`presenceResumeMs`); resuming an id still live here takes that connection over; cursors from before
   * a restart of a process whose serials did not survive count as stale.
   */
  resumesPresence: boolean;
  /** A clean close (1000) with this reason still means the client will resume (it only suspended). */
  suspendReason?: string;
  /** Unsubscribing a channel also ends the connection's presence watch and membership there. */
  unsubscribeLeavesPresence: boolean;
  /** Direct messages reach the client (an inbox per client id). */
  directMessages: boolean;
  /** A message over `maxFrameBytes` is refused request by request (41300) and the connection kept. */
  refusesOversizedPerRequest: boolean;
  /**
   * The client never asks again after a (re)subscribe refused because the engine is out of reach for
   * now (50001): the answer is followed by a try-again-later close, so it reconnects and resumes from
   * its cursor. (Hubbub's SDK retries the attach itself.)
   */
  reconnectsWhenUnavailable: boolean;
}

/** The dialects a node speaks, tried in order on a connection's first message. */
export interface Dialects {
  pick(first: string | Buffer): Dialect | undefined;
}

/**
 * Binary output gathered between two writes of one connection and written as one message: for a
 * dialect whose messages are runs of self-delimiting records, which may therefore be concatenated.
 */
export interface OutputBatch {
  /** Pieces queued. */
  readonly length: number;
  readonly bytes: number;
  push(bytes: Uint8Array): void;
  pushShared(frame: Outbound): void;
  /** Everything queued, as pieces to write back to back, and their total length; empties the batch. */
  take(): { pieces: Uint8Array[]; length: number };
  clear(): void;
}
