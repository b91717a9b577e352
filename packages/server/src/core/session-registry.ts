import type { ConnectionIds } from './connection-ids.js';
import type { Dialect } from './dialect.js';

/** What the registry, and the node around it, need of a live session. */
export interface LiveSession {
  readonly connectionId: string;
  readonly app: string | undefined;
  readonly clientId: string | undefined;
  readonly expiresAt: number | undefined;
  /** The API key its credentials came from, if any (see `Identity.keyName`). */
  readonly keyName: string | undefined;
  readonly dialect: Dialect | undefined;
  /** Called once its token's expiry is within the registry's horizon. */
  armExpiryTimer(): void;
  /** A new connection resumed this one: go, keeping presence for it as after a drop. */
  supersede(): void;
  close(code: number, reason: string): void;
}

/** Tokens expiring further away than this wait in the registry's list, which is checked every third of it. */
export const EXPIRY_HORIZON_MS = 60_000;

/** Presence a dropped connection left behind, waiting for it to resume. */
interface ParkedPresence {
  app: string;
  clientId: string;
  channels: string[];
  timer: NodeJS.Timeout;
}

/**
 * Live sessions by connection id, so a resumed connection id is never shared by two; and the
 * presence of dropped connections, kept a while for them to resume.
 */
export class SessionRegistry {
  private readonly byId = new Map<string, LiveSession>();
  private readonly parked = new Map<string, ParkedPresence>();
  private readonly expiring = new Set<LiveSession>();
  private expirySweep?: NodeJS.Timeout;
  add(session: LiveSession): void {
    this.byId.set(session.connectionId, session);
  }
  remove(session: LiveSession): void {
    if (this.byId.get(session.connectionId) === session) this.byId.delete(session.connectionId);
  }
  has(connectionId: string): boolean {
    return this.byId.has(connectionId);
  }
  get(connectionId: string): LiveSession | undefined {
    return this.byId.get(connectionId);
  }
  /** Keep `channels` entered for `ms`, then call `leave`, unless the connection resumes first. */
  park(connectionId: string, app: string, clientId: string, channels: string[], ms: number, leave: () => void): void {
    const timer = setTimeout(() => {
      this.parked.delete(connectionId);
      leave();
    }, ms);
    timer.unref();
    this.parked.set(connectionId, { app, clientId, channels, timer });
  }
  /**
   * The id a newly authenticated connection gets: the one it resumes when a server of this deployment
   * issued it to this very app and client and nobody holds it, else a new one. A client whose dialect
   * resumes presence takes over a live connection it resumes (a network blip it did not notice): that
   * one goes, its presence parked for the new one.
   */
  connectionIdFor(resume: string | undefined, who: { app: string; clientId: string }, dialect: Dialect, ids: ConnectionIds): string {
    const stale = resume === undefined ? undefined : this.byId.get(resume);
    if (dialect.policy.resumesPresence && stale?.dialect === dialect && stale.app === who.app && stale.clientId === who.clientId) {
      stale.supersede();
    }
    const usable = resume !== undefined && ids.issuedTo(resume, who.app, who.clientId) && this.resumable(resume, who.app, who.clientId);
    return usable ? resume : ids.issue(who.app, who.clientId);
  }

  /** May this client of this app take the connection id? */
  resumable(connectionId: string, app: string, clientId: string): boolean {
    if (this.byId.has(connectionId)) return false;
    const parked = this.parked.get(connectionId);
    return !parked || (parked.app === app && parked.clientId === clientId);
  }
  /** The channels a resuming connection is still present on (and no longer parked). */
  unpark(connectionId: string): string[] {
    const parked = this.parked.get(connectionId);
    if (!parked) return [];
    clearTimeout(parked.timer);
    this.parked.delete(connectionId);
    return parked.channels;
  }
  /**
   * Keep the session in a list checked every `EXPIRY_HORIZON_MS / 3`, and arm its expiry timer once
   * its token is within the horizon: one timer for every long-lived token instead of one per connection.
   */
  watchExpiry(session: LiveSession): void {
    this.expiring.add(session);
    if (this.expirySweep) return;
    this.expirySweep = setInterval(() => this.sweepExpiring(), EXPIRY_HORIZON_MS / 3);
    this.expirySweep.unref();
  }
  unwatchExpiry(session: LiveSession): void {
    this.expiring.delete(session);
  }
  private sweepExpiring(): void {
    const soon = Date.now() + EXPIRY_HORIZON_MS;
    for (const session of this.expiring) {
      const expiresAt = session.expiresAt;
      if (expiresAt === undefined || expiresAt <= soon) {
        this.expiring.delete(session);
        session.armExpiryTimer();
      }
    }
    if (this.expiring.size === 0) {
      clearInterval(this.expirySweep);
      this.expirySweep = undefined;
    }
  }
  get size(): number {
    return this.byId.size;
  }
  all(): IterableIterator<LiveSession> {
    return this.byId.values();
  }
}
