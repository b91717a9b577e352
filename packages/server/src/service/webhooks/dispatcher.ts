import type { OutboxItem, Store, WebhookItem } from '../store/store.js';
import { OutboxBacklog } from './backlog.js';
import { DestinationPolicy, type DestinationPolicyOptions } from './destination-policy.js';
import { DropWarnings } from './drop-warnings.js';
import { EndpointHealth, retryDelay } from './endpoint-health.js';
import { EventIds, eventBody } from './event-body.js';
import { DEFAULT_WEBHOOK_LIMITS } from './limits.js';
import { postWebhook, type PostOutcome } from './post.js';
import { webhookHeaders } from './signature.js';

/** What an app's webhook endpoint can be told about. */
export const WEBHOOK_EVENTS = [
  'channel.occupied',
  'channel.vacated',
  'presence.enter',
  'presence.leave',
  'client.connected',
  'client.disconnected',
  'message.published',
  'document.changed',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

/** Sent unless an endpoint lists its own: published messages can be many, so they are opt-in. */
const DEFAULT_EVENTS: WebhookEventType[] = WEBHOOK_EVENTS.filter((e) => e !== 'message.published');

export interface WebhookEndpoint {
  app: string;
  url: string;
  /** `whsec_<base64>`: the receiver verifies signatures with it. */
  secret: string;
  events?: string[];
}

export interface DispatcherOptions {
  /** First retry delay; doubles per failed attempt (with jitter) up to `maxDelayMs`. */
  retryBaseMs?: number;
  maxDelayMs?: number;
  /** How often the outbox is looked at when nothing new was queued. */
  pollMs?: number;
  /**
   * How long events are gathered in memory before they are written to the outbox together. 0 (the
   * default): the events of one event-loop turn, written right after it, so an event is in the
   * outbox about when the ack of what caused it leaves.
   */
  batchWindowMs?: number;
  /** Events kept in memory while the store cannot take them; past it, new ones are dropped (and logged). */
  maxHeld?: number;
  /** Outbox items one app may have waiting, and their payload bytes (DEFAULT_WEBHOOK_LIMITS). */
  maxQueue?: number;
  maxQueueBytes?: number;
  /** A `message.published` event whose message data is larger (as JSON) is sent without it. */
  maxMessageDataBytes?: number;
  /** Attempts under way at once per endpoint while it answers. */
  maxInFlightPerEndpoint?: number;
  /** Where deliveries may go; by default public addresses only. */
  destinations?: DestinationPolicyOptions;
  /** Failed attempts, refused endpoints, an unreachable outbox, dropped events: logged, never thrown. */
  warn?: (fields: Record<string, unknown>, message: string) => void;
}

/** How an operator allows private destinations (the CLI flag; `webhookAllowPrivate` in code). */
const ALLOW_HINT = 'allow private destinations with --webhook-allow-private';
/** One outbox write takes at most this much: a long backlog (after an outage) is written in slices. */
const WRITE_SLICE_ITEMS = 500;
const WRITE_SLICE_BYTES = 4 * 1024 * 1024;
/** Outcomes of attempts are gathered this long, then written (and the freed slots refilled) together. */
const SETTLE_WINDOW_MS = 5;
/** Memory for events held while the store is unreachable, beside `maxHeld`. */
const MAX_HELD_BYTES = 64 * 1024 * 1024;
/** Items of an endpoint no longer configured, discarded per sweep. */
const DISCARD_SLICE = 500;
/** How often the backlog is read again from a store other nodes write to as well. */
const SHARED_BACKLOG_REFRESH_MS = 5_000;
/** How long `stop()` waits for attempts under way before it writes down what is known. */
const STOP_GRACE_MS = 3_000;
const NO_TARGETS: readonly Target[] = [];
/** "Every item, due or not": what is no longer wanted is discarded whenever it is due. */
const END_OF_TIME = Number.MAX_SAFE_INTEGER;

/** One configured endpoint and what is under way for it. */
interface Target {
  endpoint: WebhookEndpoint;
  health: EndpointHealth;
  /** Items being attempted or whose outcome is not written yet: left out of the next sweeps. */
  busy: Set<number>;
}

interface Unwritten {
  item: WebhookItem;
  app: string;
  bytes: number;
}

interface Settled {
  id: number;
  app: string;
  bytes: number;
  target?: Target;
}

interface Failed extends Settled {
  nextAttemptAt: number;
  lastError: string;
}

/**
 * At-least-once webhooks: every event is first written to the Store's outbox (so a restart loses
 * nothing), then POSTed, signed per Standard Webhooks, and retried with exponential backoff until
 * the endpoint answers 2xx. The `webhook-id` stays the same across retries for receivers to dedup.
 *
 * Built for a publish load: the events of one event-loop turn are written in one transaction; each
 * app's outbox is bounded (past it new events are dropped, counted and logged); attempts' outcomes
 * are written together too; each endpoint has a bounded number of attempts under way, read from
 * the store in one query per sweep; and an endpoint that fails is probed with one attempt per
 * backoff instead of all of its queue (EndpointHealth).
 */
export class WebhookDispatcher {
  private pollTimer?: NodeJS.Timeout;
  private kickScheduled?: { cancel(): void; at: number };
  /** A kick planned for when a retry falls due, and when. */
  private wakeTimer?: NodeJS.Timeout;
  private wakeAt = Infinity;
  private running = false;
  private stopped = false;
  private pumping?: Promise<void>;
  /** Kicked while a round ran: another round, within this many ms. */
  private pumpAgainWithin?: number;
  /** Not before this (Unix ms) is the store tried again after it failed. */
  private storeRetryAt = 0;
  private storeFailing = false;
  private readonly retryBaseMs: number;
  private readonly maxDelayMs: number;
  private readonly batchWindowMs: number;
  private readonly maxHeld: number;
  private readonly maxMessageDataBytes: number;
  private readonly policy: DestinationPolicy;
  private readonly warn: (fields: Record<string, unknown>, message: string) => void;
  private readonly drops: DropWarnings;
  private readonly ids = new EventIds();
  private readonly backlog: OutboxBacklog;
  private backlogReadAt?: number;
  private readonly targets = new Map<string, Target>();
  /** Per app with endpoints, per event type, the targets that want it. */
  private readonly routes = new Map<string, Map<WebhookEventType, Target[]>>();
  /** Endpoints that have items in the outbox but are no longer configured. */
  private readonly orphans = new Map<string, { app: string; endpoint: string }>();
  private unwritten: Unwritten[] = [];
  private unwrittenBytes = 0;
  /** Callers of `written()`, told once the outbox holds what they queued (or the store is failing). */
  private writeWaiters: Array<() => void> = [];
  private delivered: Settled[] = [];
  private failed: Failed[] = [];
  private readonly attempts = new Set<Promise<void>>();
  private dropped = 0;

  constructor(
    private readonly store: Store,
    private readonly endpoints: WebhookEndpoint[],
    private readonly options: DispatcherOptions = {},
  ) {
    this.retryBaseMs = options.retryBaseMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 5 * 60_000;
    this.batchWindowMs = options.batchWindowMs ?? 0;
    this.maxHeld = options.maxHeld ?? 10_000;
    this.maxMessageDataBytes = options.maxMessageDataBytes ?? DEFAULT_WEBHOOK_LIMITS.maxMessageDataBytes;
    this.backlog = new OutboxBacklog({
      maxQueue: options.maxQueue ?? DEFAULT_WEBHOOK_LIMITS.maxQueue,
      maxQueueBytes: options.maxQueueBytes ?? DEFAULT_WEBHOOK_LIMITS.maxQueueBytes,
    });
    this.policy = new DestinationPolicy(options.destinations);
    this.warn = options.warn ?? (() => {});
    this.drops = new DropWarnings(this.warn);
    const health = { maxInFlight: options.maxInFlightPerEndpoint ?? 32 };
    for (const endpoint of endpoints) {
      const key = targetKey(endpoint.app, endpoint.url);
      // The outbox knows an endpoint by app and URL: two entries for one URL would share its items.
      if (!this.targets.has(key)) this.targets.set(key, { endpoint, health: new EndpointHealth(health), busy: new Set() });
    }
    for (const app of new Set(endpoints.map((e) => e.app))) {
      const byType = new Map<WebhookEventType, Target[]>();
      for (const type of WEBHOOK_EVENTS) {
        const wanting = endpoints.filter((e) => e.app === app && (e.events ?? DEFAULT_EVENTS).includes(type));
        if (wanting.length > 0) byType.set(type, [...new Set(wanting.map((e) => this.targets.get(targetKey(e.app, e.url))!))]);
      }
      this.routes.set(app, byType);
    }
  }

  get configured(): boolean {
    return this.endpoints.length > 0;
  }

  /** Events not queued since the start because the app's outbox was full (or the store unreachable too long). */
  get droppedEvents(): number {
    return this.dropped;
  }

  start(): void {
    if (!this.configured) return;
    // Refused literal addresses are known now; refused names only show once resolved, per attempt.
    for (const endpoint of this.endpoints) {
      const refused = URL.canParse(endpoint.url) && this.policy.refusalOfUrl(new URL(endpoint.url));
      if (refused) this.warn({ app: endpoint.app, endpoint: endpointForLog(endpoint.url), reason: refused }, `webhook endpoint will be refused: ${refused} (${ALLOW_HINT})`);
    }
    this.running = true;
    this.pollTimer = setInterval(() => {
      this.drops.tick();
      this.kick();
    }, this.options.pollMs ?? 500);
    this.pollTimer.unref();
    // What the outbox already holds counts against the bound from the first event on. (SQLite
    // answers within this call, so no event can come before; PostgreSQL within a round trip.)
    this.pumping = this.readBacklog()
      .catch((err) => this.storeFailed(err))
      .finally(() => {
        this.pumping = undefined;
        this.kick();
      });
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopped = true;
    clearInterval(this.pollTimer);
    this.kickScheduled?.cancel();
    clearTimeout(this.wakeTimer);
    await this.pumping?.catch(() => {});
    // Attempts under way get a moment to finish, so their outcome is written and not tried again.
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(this.attempts), new Promise<void>((resolve) => (grace = setTimeout(resolve, STOP_GRACE_MS)))]);
    clearTimeout(grace);
    this.drops.tick(Infinity);
    try {
      await this.writeUnwritten();
      await this.writeSettled();
    } catch (err) {
      this.warn({ err: (err as Error).message }, `${this.unwritten.length} webhooks lost at shutdown`);
    }
    this.releaseWriteWaiters();
  }

  /**
   * Queue an event for every endpoint of the app that wants it. The caller has already told its
   * client "done" (a publish was acked), so this never fails it: the event is written to the
   * outbox with the others of this event-loop turn, right after it. Past the app's bound it is dropped (counted in
   * `droppedEvents`, logged at most every few seconds per app). While the store cannot take events
   * (database unreachable), they are held in memory, bounded, and written as soon as it answers.
   */
  emit(app: string, type: WebhookEventType, data: unknown): void {
    if (this.stopped) return;
    const targets = this.routeOf(app, type);
    if (targets.length === 0) return;
    // A full outbox drops before the body is made: while it stays full, drops cost next to nothing.
    if (!this.backlog.admits(app, targets.length, 0)) return this.drop(app, 'full');
    const { payload, bytes } = eventBody(type, app, data, this.maxMessageDataBytes);
    const total = bytes * targets.length;
    if (!this.backlog.admits(app, targets.length, total)) return this.drop(app, 'full');
    if (this.unwritten.length + targets.length > this.maxHeld || this.unwrittenBytes + total > MAX_HELD_BYTES) return this.drop(app, 'held');
    const eventId = this.ids.next();
    for (const { endpoint } of targets) this.unwritten.push({ item: { app, endpoint: endpoint.url, eventId, payload }, app, bytes });
    this.unwrittenBytes += total;
    this.backlog.add(app, targets.length, total);
    this.kick();
  }

  /**
   * Resolves once every event queued so far is in the outbox, or is held in memory because the
   * store is not answering. A durable change (a document) awaits this before it is acknowledged,
   * so a crash right after the acknowledgement does not lose its webhook.
   */
  written(): Promise<void> {
    if (!this.running || this.unwritten.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.writeWaiters.push(resolve));
  }

  private releaseWriteWaiters(): void {
    if (this.writeWaiters.length === 0 || (this.unwritten.length > 0 && !this.storeFailing && this.running)) return;
    const waiters = this.writeWaiters;
    this.writeWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /**
   * Look at the outbox soon: what gathered until then (new events, outcomes of attempts) is
   * handled together. `withinMs`: how long that may wait (outcomes can wait a little longer than
   * new events: a lost outcome only means a repeated attempt).
   */
  kick(withinMs = 0): void {
    if (!this.running) return;
    if (this.pumping) {
      this.pumpAgainWithin = Math.min(this.pumpAgainWithin ?? Infinity, withinMs);
      return;
    }
    const wait = Math.max(this.batchWindowMs, withinMs, this.storeRetryAt - Date.now());
    if (this.kickScheduled) {
      if (this.kickScheduled.at <= Date.now() + wait) return;
      this.kickScheduled.cancel();
    }
    const run = () => {
      this.kickScheduled = undefined;
      this.pumping = this.pump()
        .catch((err) => this.storeFailed(err))
        .finally(() => {
          this.pumping = undefined;
          this.releaseWriteWaiters();
          const again = this.pumpAgainWithin;
          this.pumpAgainWithin = undefined;
          if (again !== undefined) this.kick(again);
        });
    };
    const at = Date.now() + wait;
    if (wait <= 0) {
      const immediate = setImmediate(run);
      this.kickScheduled = { at, cancel: () => clearImmediate(immediate) };
    } else {
      const timer = setTimeout(run, wait);
      this.kickScheduled = { at, cancel: () => clearTimeout(timer) };
    }
  }

  /** Kick at `time` (Unix ms): a retry falls due then (the poll would find it too, but later). */
  private wake(time: number): void {
    if (!this.running || time >= this.wakeAt) return;
    clearTimeout(this.wakeTimer);
    this.wakeAt = time;
    this.wakeTimer = setTimeout(() => {
      this.wakeAt = Infinity;
      this.kick();
    }, Math.max(0, time - Date.now()));
    this.wakeTimer.unref();
  }

  private routeOf(app: string, type: WebhookEventType): readonly Target[] {
    return this.routes.get(app)?.get(type) ?? NO_TARGETS;
  }

  private drop(app: string, why: 'full' | 'held'): void {
    this.dropped++;
    // The reason is spelled out only when a warning is written (rate-limited), not per event.
    this.drops.note(app, () =>
      why === 'full'
        ? `the app's outbox is full (${this.backlog.count(app)} waiting, ${this.backlog.bytes(app)} bytes; --webhook-max-queue, --webhook-max-queue-bytes)`
        : `${this.unwritten.length} events already wait for the outbox to be reachable`,
    );
  }

  /** One round: know the backlog, write new events and known outcomes, start due attempts. */
  private async pump(): Promise<void> {
    if (this.backlogReadAt === undefined || (this.store.kind === 'postgres' && Date.now() - this.backlogReadAt >= SHARED_BACKLOG_REFRESH_MS)) {
      await this.readBacklog();
    }
    await this.writeUnwritten();
    await this.writeSettled();
    if (this.storeFailing) {
      this.storeFailing = false;
      this.warn({}, 'webhook outbox reachable again');
    }
    await this.discardOrphans();
    await this.sweep();
  }

  private storeFailed(err: unknown): void {
    this.storeRetryAt = Date.now() + (this.options.pollMs ?? 500);
    if (this.storeFailing) return;
    this.storeFailing = true;
    this.warn({ err: (err as Error).message, held: this.unwritten.length }, 'webhook outbox unavailable, holding events in memory');
  }

  /**
   * The store's count of what waits, per app: at start (a restart keeps its outbox), and every few
   * seconds when other nodes write to and deliver from the same outbox. Runs between this node's
   * own writes, so it never counts one of them twice.
   */
  private async readBacklog(): Promise<void> {
    const stored = await this.store.webhookBacklog();
    this.backlog.reset(stored, this.unwritten);
    this.backlogReadAt = Date.now();
    this.trimUnwritten();
    for (const { app, endpoint } of stored) {
      const key = targetKey(app, endpoint);
      if (!this.targets.has(key)) this.orphans.set(key, { app, endpoint });
    }
  }

  /**
   * Events admitted while the store's count was not known yet (at start), or before other nodes'
   * items were counted: where they take an app past its bound, the newest are dropped after all.
   */
  private trimUnwritten(): void {
    let kept: Unwritten[] | undefined;
    const droppedIds = new Set<string>();
    for (let i = this.unwritten.length - 1; i >= 0; i--) {
      const u = this.unwritten[i]!;
      if (this.backlog.within(u.app)) {
        kept?.push(u);
        continue;
      }
      kept ??= this.unwritten.slice(i + 1).reverse();
      this.backlog.remove(u.app, 1, u.bytes);
      this.unwrittenBytes -= u.bytes;
      if (!droppedIds.has(u.item.eventId)) {
        droppedIds.add(u.item.eventId);
        this.drop(u.app, 'full');
      }
    }
    if (kept) this.unwritten = kept.reverse();
  }

  /** New events into the outbox, in order, a slice per transaction; stops (throws) at the first slice refused. */
  private async writeUnwritten(): Promise<void> {
    while (this.unwritten.length > 0) {
      let count = 0;
      let bytes = 0;
      while (count < this.unwritten.length && count < WRITE_SLICE_ITEMS && (count === 0 || bytes + this.unwritten[count]!.bytes <= WRITE_SLICE_BYTES)) {
        bytes += this.unwritten[count]!.bytes;
        count++;
      }
      await this.store.enqueueWebhooks(this.unwritten.slice(0, count).map((u) => u.item));
      this.unwritten = this.unwritten.slice(count);
      this.unwrittenBytes -= bytes;
      // Let sockets be read between slices: a long backlog is written a piece at a time.
      if (this.unwritten.length > 0) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Outcomes of finished attempts, all in one transaction. */
  private async writeSettled(): Promise<void> {
    if (this.delivered.length === 0 && this.failed.length === 0) return;
    const delivered = this.delivered;
    const failed = this.failed;
    this.delivered = [];
    this.failed = [];
    try {
      await this.store.settleWebhooks({
        delivered: delivered.map((d) => d.id),
        failed: failed.map(({ id, nextAttemptAt, lastError }) => ({ id, nextAttemptAt, lastError })),
      });
    } catch (err) {
      this.delivered = delivered.concat(this.delivered);
      this.failed = failed.concat(this.failed);
      throw err;
    }
    for (const d of delivered) {
      this.backlog.remove(d.app, 1, d.bytes);
      d.target?.busy.delete(d.id);
    }
    for (const f of failed) f.target?.busy.delete(f.id);
  }

  /** Items of endpoints removed from the config are not sent: they are removed, a slice per round. */
  private async discardOrphans(): Promise<void> {
    for (const [key, { app, endpoint }] of this.orphans) {
      const items = await this.store.dueWebhooks(END_OF_TIME, DISCARD_SLICE, { app, endpoint });
      if (items.length === 0) {
        this.orphans.delete(key);
        continue;
      }
      for (const item of items) this.delivered.push({ id: item.id, app, bytes: Buffer.byteLength(item.payload) });
      this.kick();
    }
  }

  /** Start the attempts each endpoint may have now: one query per endpoint, at most its capacity of rows. */
  private async sweep(): Promise<void> {
    const now = Date.now();
    for (const target of this.targets.values()) {
      if (!this.running) return;
      const room = target.health.capacity(now);
      if (room === 0) continue;
      const { app, url } = target.endpoint;
      const due = await this.store.dueWebhooks(now, room, { app, endpoint: url, exclude: [...target.busy] });
      for (const item of due) this.attempt(target, item);
    }
  }

  private attempt(target: Target, item: OutboxItem): void {
    target.busy.add(item.id);
    const started = target.health.started();
    const done: Promise<void> = this.post(target.endpoint, item)
      .then((outcome) => this.attempted(target, item, started, outcome))
      .catch((err) => this.warn({ err: (err as Error).message }, 'webhook attempt'))
      .finally(() => {
        this.attempts.delete(done);
        this.kick(SETTLE_WINDOW_MS);
      });
    this.attempts.add(done);
  }

  /** Note an attempt's outcome, to be written with the others of this round. */
  private attempted(target: Target, item: OutboxItem, started: { probe: boolean }, outcome: PostOutcome): void {
    const bytes = Buffer.byteLength(item.payload);
    if (outcome.delivered) {
      target.health.finished(started, outcome);
      this.delivered.push({ id: item.id, app: item.app, bytes, target });
      return;
    }
    const nextAttemptAt = Date.now() + retryDelay(item.attempts, this.retryBaseMs, this.maxDelayMs);
    target.health.finished(started, { delivered: false, retryAt: nextAttemptAt });
    const { reason, status, reply, refused } = outcome;
    this.warn(
      { app: item.app, endpoint: endpointForLog(item.endpoint), eventId: item.eventId, attempt: item.attempts + 1, status, reason, reply },
      refused ? `webhook destination refused (${ALLOW_HINT})` : 'webhook attempt failed',
    );
    this.failed.push({ id: item.id, app: item.app, bytes, target, nextAttemptAt, lastError: reason });
    this.wake(nextAttemptAt);
  }

  /** One attempt; never rejects. */
  private async post(endpoint: WebhookEndpoint, item: OutboxItem): Promise<PostOutcome> {
    try {
      const headers = webhookHeaders(endpoint.secret, item.eventId, item.payload);
      return await postWebhook(endpoint.url, headers, item.payload, { policy: this.policy });
    } catch (err) {
      return { delivered: false, reason: (err as Error).message };
    }
  }
}

function targetKey(app: string, url: string): string {
  return `${app}\u0000${url}`;
}

/** An endpoint as logged: scheme, host and path; credentials and query (where receivers put tokens) left out. */
function endpointForLog(url: string): string {
  if (!URL.canParse(url)) return '(not a valid URL)';
  const { protocol, host, pathname } = new URL(url);
  return `${protocol}//${host}${pathname}`;
}
