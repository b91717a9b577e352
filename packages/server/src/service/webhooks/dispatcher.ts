import { randomBytes } from 'node:crypto';
import type { OutboxItem, Store, WebhookItem } from '../store/store.js';
import { DestinationPolicy, type DestinationPolicyOptions } from './destination-policy.js';
import { postWebhook } from './post.js';
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
  /** Events kept in memory while the store cannot take them; past it, new ones are dropped (and logged). */
  maxHeld?: number;
  /** Where deliveries may go; by default public addresses only. */
  destinations?: DestinationPolicyOptions;
  /** Failed attempts, refused endpoints, an unreachable outbox: logged, never thrown. */
  warn?: (fields: Record<string, unknown>, message: string) => void;
}

/** How an operator allows private destinations (the CLI flag; `webhookAllowPrivate` in code). */
const ALLOW_HINT = 'allow private destinations with --webhook-allow-private';

/**
 * At-least-once webhooks: every event is first written to the Store's outbox (so a restart loses
 * nothing), then POSTed, signed per Standard Webhooks, and retried with exponential backoff until
 * the endpoint answers 2xx. The `webhook-id` stays the same across retries for receivers to dedup.
 */
export class WebhookDispatcher {
  private timer?: NodeJS.Timeout;
  private running = false;
  private pumping?: Promise<void>;
  private readonly inFlight = new Set<number>();
  private readonly retryBaseMs: number;
  private readonly maxDelayMs: number;
  private readonly held: WebhookItem[] = [];
  private readonly maxHeld: number;
  private readonly policy: DestinationPolicy;
  private readonly warn: (fields: Record<string, unknown>, message: string) => void;

  constructor(
    private readonly store: Store,
    private readonly endpoints: WebhookEndpoint[],
    private readonly options: DispatcherOptions = {},
  ) {
    this.retryBaseMs = options.retryBaseMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 5 * 60_000;
    this.maxHeld = options.maxHeld ?? 10_000;
    this.policy = new DestinationPolicy(options.destinations);
    this.warn = options.warn ?? (() => {});
  }

  get configured(): boolean {
    return this.endpoints.length > 0;
  }

  start(): void {
    if (!this.configured) return;
    // Refused literal addresses are known now; refused names only show once resolved, per attempt.
    for (const endpoint of this.endpoints) {
      const refused = URL.canParse(endpoint.url) && this.policy.refusalOfUrl(new URL(endpoint.url));
      if (refused) this.warn({ app: endpoint.app, endpoint: endpointForLog(endpoint.url), reason: refused }, `webhook endpoint will be refused: ${refused} (${ALLOW_HINT})`);
    }
    this.running = true;
    this.timer = setInterval(() => this.kick(), this.options.pollMs ?? 500);
    this.timer.unref();
    this.kick();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.timer);
    await this.pumping?.catch(() => {});
    // A last chance for events held while the store was unreachable.
    await this.saveHeld().catch((err) => this.warn({ err: (err as Error).message }, `${this.held.length} webhooks lost at shutdown`));
  }

  /**
   * Queue an event for every endpoint of the app that wants it. The caller has already told its
   * client "done" (a publish was acked), so an outbox the store cannot take right now (database
   * unreachable) does not lose the event: it is held in memory, bounded, and written to the outbox as
   * soon as the store answers again.
   */
  async emit(app: string, type: WebhookEventType, data: unknown): Promise<void> {
    const targets = this.endpoints.filter((e) => e.app === app && (e.events ?? DEFAULT_EVENTS).includes(type));
    if (targets.length === 0) return;
    const eventId = `msg_${randomBytes(12).toString('base64url')}`;
    const payload = JSON.stringify({ type, app, timestamp: Date.now(), data });
    for (const endpoint of targets) {
      const item: WebhookItem = { app, endpoint: endpoint.url, eventId, payload };
      if (this.held.length > 0) {
        this.hold(item);
        continue;
      }
      try {
        await this.store.enqueueWebhook(item);
      } catch (err) {
        this.warn({ err: (err as Error).message }, 'webhook outbox unavailable, holding events in memory');
        this.hold(item);
      }
    }
    this.kick();
  }

  kick(): void {
    if (!this.running || this.pumping) return;
    this.pumping = this.pump()
      .catch((err) => this.warn({ err: (err as Error).message }, 'webhook outbox'))
      .finally(() => (this.pumping = undefined));
  }

  private hold(item: WebhookItem): void {
    if (this.held.length >= this.maxHeld) {
      this.warn({ app: item.app, eventId: item.eventId }, `webhook dropped: ${this.maxHeld} events already wait for the outbox to be reachable`);
      return;
    }
    this.held.push(item);
  }

  /** Move held events into the outbox, in order; stops (throws) at the first the store refuses. */
  private async saveHeld(): Promise<void> {
    while (this.held.length > 0) {
      await this.store.enqueueWebhook(this.held[0]!);
      this.held.shift();
    }
  }

  private async pump(): Promise<void> {
    await this.saveHeld();
    const due = (await this.store.dueWebhooks(Date.now(), 50)).filter((item) => !this.inFlight.has(item.id));
    await Promise.all(due.map((item) => this.deliver(item)));
  }

  private async deliver(item: OutboxItem): Promise<void> {
    const endpoint = this.endpoints.find((e) => e.app === item.app && e.url === item.endpoint);
    this.inFlight.add(item.id);
    try {
      if (!endpoint) return await this.store.markWebhookDelivered(item.id); // endpoint removed from config
      const headers = webhookHeaders(endpoint.secret, item.eventId, item.payload);
      const outcome = await postWebhook(endpoint.url, headers, item.payload, { policy: this.policy });
      if (outcome.delivered) return await this.store.markWebhookDelivered(item.id);
      const { reason, status, reply, refused } = outcome;
      this.warn(
        { app: item.app, endpoint: endpointForLog(endpoint.url), eventId: item.eventId, attempt: item.attempts + 1, status, reason, reply },
        refused ? `webhook destination refused (${ALLOW_HINT})` : 'webhook attempt failed',
      );
      await this.retry(item, reason);
    } catch (err) {
      this.warn({ app: item.app, endpoint: endpointForLog(item.endpoint), eventId: item.eventId, reason: (err as Error).message }, 'webhook attempt failed');
      await this.retry(item, (err as Error).message);
    } finally {
      this.inFlight.delete(item.id);
    }
  }

  private async retry(item: OutboxItem, why: string): Promise<void> {
    const delay = Math.min(this.maxDelayMs, this.retryBaseMs * 2 ** item.attempts) * (0.8 + Math.random() * 0.4);
    await this.store.rescheduleWebhook(item.id, Date.now() + delay, why);
  }
}

/** An endpoint as logged: scheme, host and path; credentials and query (where receivers put tokens) left out. */
function endpointForLog(url: string): string {
  if (!URL.canParse(url)) return '(not a valid URL)';
  const { protocol, host, pathname } = new URL(url);
  return `${protocol}//${host}${pathname}`;
}
