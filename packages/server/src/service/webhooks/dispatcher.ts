import type { OutboxItem, Store } from '../store/store.js';
import { AttemptOutcomes } from './attempt-outcomes.js';
import { OutboxBacklog } from './backlog.js';
import { ALLOW_HINT, deliver, endpointForLog } from './delivery.js';
import { DestinationPolicy, type DestinationPolicyOptions } from './destination-policy.js';
import { DropWarnings } from './drop-warnings.js';
import { retryDelay } from './endpoint-health.js';
import { EventIds, type EventBody } from './event-body.js';
import type { WebhookFormat } from './formats.js';
import type { WebhookEventType } from './event-types.js';
import { DEFAULT_WEBHOOK_LIMITS } from './limits.js';
import { OutboxReachability } from './outbox-reachability.js';
import type { PostOutcome } from './post.js';
import { RoundSchedule } from './round-schedule.js';
import { WebhookTargets, targetKey, type Target, type WebhookEndpoint } from './targets.js';
import { UnwrittenEvents } from './unwritten-events.js';

export { WEBHOOK_EVENTS, type WebhookEventType } from './event-types.js';
export type { WebhookEndpoint } from './targets.js';

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

/** Outcomes of attempts are gathered this long, then written (and the freed slots refilled) together. */
const SETTLE_WINDOW_MS = 5;
/** Items of an endpoint no longer configured, discarded per sweep. */
const DISCARD_SLICE = 500;
/** How often the backlog is read again from a store other nodes write to as well. */
const SHARED_BACKLOG_REFRESH_MS = 5_000;
/** How long `stop()` waits for attempts under way before it writes down what is known. */
const STOP_GRACE_MS = 3_000;
/** "Every item, due or not": what is no longer wanted is discarded whenever it is due. */
const END_OF_TIME = Number.MAX_SAFE_INTEGER;

/**
 * At-least-once webhooks: every event is first written to the Store's outbox (so a restart loses
 * nothing), then POSTed in its endpoint's format (formats.ts: Standard Webhooks unless it asks for
 * Pusher's), and retried with exponential backoff until the endpoint answers 2xx. The `webhook-id` stays the same across retries for receivers to dedup.
 *
 * Built for a publish load: the events of one event-loop turn are written in one transaction; each
 * app's outbox is bounded (past it new events are dropped, counted and logged); attempts' outcomes
 * are written together too; each endpoint has a bounded number of attempts under way, read from
 * the store in one query per sweep; and an endpoint that fails is probed with one attempt per
 * backoff instead of all of its queue (EndpointHealth).
 *
 * This class ties the parts together: UnwrittenEvents (events not in the outbox yet),
 * AttemptOutcomes (outcomes not written yet), RoundSchedule (when a round runs), OutboxReachability
 * (the store down and back), WebhookTargets (endpoints and who wants which event) and `deliver`.
 */
export class WebhookDispatcher {
  private pollTimer?: NodeJS.Timeout;
  private stopped = false;
  private readonly pollMs: number;
  private readonly retryBaseMs: number;
  private readonly maxDelayMs: number;
  private readonly maxMessageDataBytes: number;
  private readonly policy: DestinationPolicy;
  private readonly warn: (fields: Record<string, unknown>, message: string) => void;
  private readonly drops: DropWarnings;
  private readonly ids = new EventIds();
  private readonly backlog: OutboxBacklog;
  private backlogReadAt?: number;
  private readonly targets: WebhookTargets;
  /** Endpoints that have items in the outbox but are no longer configured. */
  private readonly orphans = new Map<string, { app: string; endpoint: string }>();
  private readonly unwritten: UnwrittenEvents;
  private readonly outcomes: AttemptOutcomes;
  private readonly reachability: OutboxReachability;
  private readonly rounds: RoundSchedule;
  /** Callers of `written()`, told once the outbox holds what they queued (or the store is failing). */
  private writeWaiters: Array<() => void> = [];
  private readonly attempts = new Set<Promise<void>>();
  private dropped = 0;

  constructor(
    private readonly store: Store,
    private readonly endpoints: WebhookEndpoint[],
    options: DispatcherOptions = {},
  ) {
    this.pollMs = options.pollMs ?? 500;
    this.retryBaseMs = options.retryBaseMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 5 * 60_000;
    this.maxMessageDataBytes = options.maxMessageDataBytes ?? DEFAULT_WEBHOOK_LIMITS.maxMessageDataBytes;
    this.backlog = new OutboxBacklog({
      maxQueue: options.maxQueue ?? DEFAULT_WEBHOOK_LIMITS.maxQueue,
      maxQueueBytes: options.maxQueueBytes ?? DEFAULT_WEBHOOK_LIMITS.maxQueueBytes,
    });
    this.policy = new DestinationPolicy(options.destinations);
    this.warn = options.warn ?? (() => {});
    this.drops = new DropWarnings(this.warn);
    this.targets = new WebhookTargets(endpoints, { maxInFlight: options.maxInFlightPerEndpoint ?? 32 });
    this.unwritten = new UnwrittenEvents(store, options.maxHeld ?? 10_000);
    this.outcomes = new AttemptOutcomes(store, this.backlog);
    this.reachability = new OutboxReachability(this.pollMs, this.warn);
    this.rounds = new RoundSchedule(options.batchWindowMs ?? 0, {
      round: () => this.pump(),
      failed: (err) => this.reachability.failed(err, this.unwritten.length),
      ended: () => this.releaseWriteWaiters(),
      notBefore: () => this.reachability.notBefore,
    });
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
    this.pollTimer = setInterval(() => {
      this.drops.tick();
      this.kick();
    }, this.pollMs);
    this.pollTimer.unref();
    // What the outbox already holds counts against the bound from the first event on. (SQLite
    // answers within this call, so no event can come before; PostgreSQL within a round trip.)
    this.rounds.start(() => this.readBacklog());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pollTimer);
    await this.rounds.stop();
    // Attempts under way get a moment to finish, so their outcome is written and not tried again.
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(this.attempts), new Promise<void>((resolve) => (grace = setTimeout(resolve, STOP_GRACE_MS)))]);
    clearTimeout(grace);
    this.drops.tick(Infinity);
    try {
      await this.unwritten.write();
      await this.outcomes.write();
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
    const targets = this.targets.routeOf(app, type);
    if (targets.length === 0) return;
    // A full outbox drops before the body is made: while it stays full, drops cost next to nothing.
    if (!this.backlog.admits(app, targets.length, 0)) return this.drop(app, 'full');
    const bodies = this.bodiesFor(targets, type, app, data);
    if (bodies.count === 0) return;
    if (!this.backlog.admits(app, bodies.count, bodies.total)) return this.drop(app, 'full');
    if (!this.unwritten.canHold(bodies.count, bodies.total)) return this.drop(app, 'held');
    const eventId = this.ids.next();
    targets.forEach(({ endpoint }, i) => {
      const body = bodies.of[i];
      if (body) this.unwritten.push({ item: { app, endpoint: endpoint.url, eventId, payload: body.payload }, app, bytes: body.bytes });
    });
    this.backlog.add(app, bodies.count, bodies.total);
    this.kick();
  }

  /**
   * Each target's body of one event in its endpoint's format (made once per format: nearly always
   * one), undefined where the format has nothing for the event; and how many there are, and their bytes.
   */
  private bodiesFor(targets: readonly Target[], type: WebhookEventType, app: string, data: unknown): { of: Array<EventBody | undefined>; count: number; total: number } {
    const made: Array<[WebhookFormat, EventBody | undefined]> = [];
    const of: Array<EventBody | undefined> = [];
    let count = 0;
    let total = 0;
    for (const { format } of targets) {
      let entry = made.find(([f]) => f === format);
      if (!entry) made.push((entry = [format, format.body(type, app, data, this.maxMessageDataBytes)]));
      const body = entry[1];
      of.push(body);
      if (body) {
        count++;
        total += body.bytes;
      }
    }
    return { of, count, total };
  }

  /**
   * Resolves once every event queued so far is in the outbox, or is held in memory because the
   * store is not answering. A durable change (a document) awaits this before it is acknowledged,
   * so a crash right after the acknowledgement does not lose its webhook.
   */
  written(): Promise<void> {
    if (!this.rounds.running || this.unwritten.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.writeWaiters.push(resolve));
  }

  private releaseWriteWaiters(): void {
    if (this.writeWaiters.length === 0 || (this.unwritten.length > 0 && !this.reachability.failing && this.rounds.running)) return;
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
    this.rounds.kick(withinMs);
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
    await this.unwritten.write();
    await this.outcomes.write();
    this.reachability.answered();
    await this.discardOrphans();
    await this.sweep();
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
    const droppedIds = new Set<string>();
    this.unwritten.trim(
      (u) => this.backlog.within(u.app),
      (u) => {
        this.backlog.remove(u.app, 1, u.bytes);
        if (droppedIds.has(u.item.eventId)) return;
        droppedIds.add(u.item.eventId);
        this.drop(u.app, 'full');
      },
    );
  }

  /** Items of endpoints removed from the config are not sent: they are removed, a slice per round. */
  private async discardOrphans(): Promise<void> {
    for (const [key, { app, endpoint }] of this.orphans) {
      const items = await this.store.dueWebhooks(END_OF_TIME, DISCARD_SLICE, { app, endpoint });
      if (items.length === 0) {
        this.orphans.delete(key);
        continue;
      }
      for (const item of items) this.outcomes.noteDelivered({ id: item.id, app, bytes: Buffer.byteLength(item.payload) });
      this.kick();
    }
  }

  /** Start the attempts each endpoint may have now: one query per endpoint, at most its capacity of rows. */
  private async sweep(): Promise<void> {
    const now = Date.now();
    for (const target of this.targets.all()) {
      if (!this.rounds.running) return;
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
    const done: Promise<void> = deliver(target, item, this.policy)
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
      this.outcomes.noteDelivered({ id: item.id, app: item.app, bytes, target });
      return;
    }
    const nextAttemptAt = Date.now() + retryDelay(item.attempts, this.retryBaseMs, this.maxDelayMs);
    target.health.finished(started, { delivered: false, retryAt: nextAttemptAt });
    const { reason, status, reply, refused } = outcome;
    this.warn(
      { app: item.app, endpoint: endpointForLog(item.endpoint), eventId: item.eventId, attempt: item.attempts + 1, status, reason, reply },
      refused ? `webhook destination refused (${ALLOW_HINT})` : 'webhook attempt failed',
    );
    this.outcomes.noteFailed({ id: item.id, app: item.app, bytes, target, nextAttemptAt, lastError: reason });
    this.rounds.wake(nextAttemptAt);
  }
}
