/**
 * What a connection may cost the server before and after it authenticates: the connection budget
 * shared by every transport (WebSockets and long-poll sessions), and the largest message a transport
 * reads.
 */

export interface AdmissionLimits {
  /** Authenticated connections at once, over every transport. */
  maxConnections: number;
  /** Connections that have not authenticated yet, over every transport. */
  maxPending: number;
  /** Authenticated connections of one app: one tenant cannot take every place. Default: maxConnections. */
  maxPerApp?: number;
}

/**
 * Unauthenticated connections at once, by default. A real client is unauthenticated for about one
 * round trip (its auth frame follows the upgrade), so 1000 covers a reconnect storm of 10 000 clients
 * a second at 100 ms each. Each may hold up to `pendingMessageBound` of a message, so 1000 of them pin
 * at most about 64 MiB. A fixed number, not a share of --max-connections: what it bounds is memory.
 */
export const DEFAULT_MAX_PENDING_CONNECTIONS = 1000;

/**
 * The largest message a transport reads, as a multiple of --max-payload. A binary message between
 * --max-payload and this bound reaches the session, which answers each request in it with 41300 and
 * keeps the connection: an SDK that resends forever a publish whose connection was closed for its
 * size (the binary dialect's) must see its publishes a little over the limit end. A message past the bound is not read
 * (close 1009, HTTP 413): that many bytes are not an honest mistake, and reading them is the cost.
 */
export const OVERSIZE_READ_FACTOR = 4;

export function messageBound(maxPayload: number): number {
  return OVERSIZE_READ_FACTOR * maxPayload;
}

/**
 * The largest message read before a connection authenticates: twice the auth-frame limit (and never
 * more than `messageBound`). An auth frame a little over its limit still reaches the session, which
 * refuses it as a credential problem (40101, close 4101) that an SDK does not retry in a loop; past
 * twice the limit the transport refuses it unread.
 */
export function pendingMessageBound(maxAuthFrameBytes: number, maxPayload = Infinity): number {
  return Math.min(2 * maxAuthFrameBytes, messageBound(maxPayload));
}

type TicketState = 'pending' | 'authenticated' | 'released';

/** A connection that can be told to go when a newer one takes its pending place. */
export interface Evictable {
  evict(): void;
}

/**
 * One connection's place in the budget: pending from `admit` until `promote` (its first auth
 * succeeded) or `release` (it is gone). Releasing twice, or after a failed promote, is harmless.
 */
export class AdmissionTicket {
  /** @internal */ state: TicketState = 'pending';
  /** @internal The app whose place it holds once authenticated. */ app?: string;

  constructor(
    private readonly admission: Admission,
    /** Told to go when a newer connection takes its pending place. */
    readonly holder: Evictable,
  ) {}

  get authenticated(): boolean {
    return this.state === 'authenticated';
  }

  /** Move to the authenticated budget of `app`; false when it is full (the ticket stays pending until released). */
  promote(app: string): boolean {
    return this.state === 'pending' && this.admission.promote(this, app);
  }

  release(): void {
    if (this.state !== 'released') this.admission.release(this);
  }
}

/**
 * The server's connection budget. Authenticated connections are limited to `maxConnections`;
 * unauthenticated ones have their own smaller budget, so sockets that never authenticate cannot fill
 * the places of clients that do. When the pending budget is full, a new connection takes the place
 * of the oldest pending one, which is evicted, rather than being refused: refusing would let an
 * attacker lock every new client out by holding `maxPending` silent sockets for the auth timeout
 * (100 sockets a second for the defaults), whereas evicting the oldest makes it win only by opening
 * `maxPending` sockets within one real client's handshake (about 10 000 a second), and a silent
 * socket is evicted long before it times out.
 */
export class Admission {
  /** Pending tickets, oldest first (a Set keeps insertion order and deletes in O(1)). */
  private readonly waiting = new Set<AdmissionTicket>();
  private authenticatedCount = 0;
  private readonly perApp = new Map<string, number>();
  /** For metrics: pending connections evicted for newer ones; authentications refused for a full budget. */
  readonly counters = { pendingEvicted: 0, refusedFull: 0 };

  constructor(readonly limits: AdmissionLimits) {}

  /** Connections that have not authenticated yet. */
  get pending(): number {
    return this.waiting.size;
  }

  /** Connections that have. */
  get authenticated(): number {
    return this.authenticatedCount;
  }

  /** Take a pending place for a new connection, evicting the oldest pending connection when they are all taken. */
  admit(holder: Evictable): AdmissionTicket {
    if (this.waiting.size >= this.limits.maxPending) {
      const oldest = this.waiting.values().next().value;
      if (oldest) {
        this.release(oldest);
        this.counters.pendingEvicted++;
        oldest.holder.evict();
      }
    }
    const ticket = new AdmissionTicket(this, holder);
    this.waiting.add(ticket);
    return ticket;
  }

  /** @internal */
  promote(ticket: AdmissionTicket, app: string): boolean {
    const ofApp = this.perApp.get(app) ?? 0;
    if (this.authenticatedCount >= this.limits.maxConnections || ofApp >= (this.limits.maxPerApp ?? Infinity)) {
      this.counters.refusedFull++;
      return false;
    }
    this.waiting.delete(ticket);
    ticket.state = 'authenticated';
    ticket.app = app;
    this.authenticatedCount++;
    this.perApp.set(app, ofApp + 1);
    return true;
  }

  /** @internal */
  release(ticket: AdmissionTicket): void {
    if (ticket.state === 'authenticated') {
      this.authenticatedCount--;
      const left = (this.perApp.get(ticket.app!) ?? 1) - 1;
      if (left > 0) this.perApp.set(ticket.app!, left);
      else this.perApp.delete(ticket.app!);
    } else if (ticket.state === 'pending') this.waiting.delete(ticket);
    ticket.state = 'released';
  }
}
