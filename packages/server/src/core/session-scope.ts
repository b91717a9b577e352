import type { HubbubError, ServerFrame } from '@hubbub/protocol';
import type { ConnectionIds } from './connection-ids.js';
import type { Dialect, Dialects } from './dialect.js';
import type { Engine } from './engine.js';
import type { Log } from './log.js';
import type { Authenticate, Identity } from './identity.js';
import type { Peer, Router } from './router.js';
import type { SessionLimits } from './session-limits.js';
import type { SessionRegistry } from './session-registry.js';
import type { Stats } from './stats.js';
import type { Wire } from './wire.js';

/** Everything a session needs from the node it lives on. */
export interface SessionContext {
  engine: Engine;
  router: Router;
  authenticate: Authenticate;
  limits: SessionLimits;
  sessions: SessionRegistry;
  /** The dialects a connection's first message is matched against (compat/dialects.ts). */
  dialects: Dialects;
  /** Issues and checks resumable connection ids; without it ids resume within this process only. */
  connectionIds?: ConnectionIds;
  stats?: Stats;
  /** What happened on a connection, for webhooks and metrics. */
  notify?(app: string, event: SessionEvent, data: Record<string, unknown>): void;
  /** Where errors no frame explains (bugs) go; process warnings when unset. */
  log?: Log;
}

export type SessionEvent = 'client.connected' | 'client.disconnected' | 'presence.enter' | 'presence.leave' | 'message.published';

/**
 * What a session's parts (channels, presence, topics) share of it: the authenticated connection,
 * its dialect and its wire. They are called only after authentication, one frame at a time (a
 * publish may begin before the one before it is answered: RequestQueue.pushPipelined).
 */
export interface SessionScope extends Peer {
  readonly ctx: SessionContext;
  readonly wire: Wire;
  readonly dialect: Dialect;
  readonly identity: Identity;
  readonly isClosed: boolean;
  /** Send one frame; returns about how many bytes that queued. */
  send(frame: ServerFrame): number;
  /** The engine's key of one of this app's channels. */
  key(channel: string): string;
  /** Throws when the connection holds as many subscriptions (of every kind) as it may. */
  assertSubscriptionRoom(): void;
  /** Publishes and direct messages share one rate limit per connection. */
  spendPublishToken(): void;
  /** Cut a connection that does not read what it asked for; returns the error for the request that waited. */
  slowConsumer(why: string): HubbubError;
}
