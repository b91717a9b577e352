import { EndpointHealth } from './endpoint-health.js';
import { WEBHOOK_EVENTS, type WebhookEventType } from './event-types.js';
import { formatOf, type WebhookFormat, type WebhookFormatName } from './formats.js';

export interface WebhookEndpoint {
  app: string;
  url: string;
  /** `whsec_<base64>`: the receiver verifies signatures with it (the `standard` format). */
  secret?: string;
  events?: string[];
  /** The body and signature the receiver expects: `standard` (Standard Webhooks, the default) or `pusher`. */
  format?: WebhookFormatName;
  /** `pusher`: the API key `APP.KEYID` of the endpoint's app whose id and secret sign the requests. */
  key?: string;
  /** The id and secret of `key`, looked up per attempt (set at start-up by `bindWebhookKeys`). */
  signingKey?: () => { keyId: string; secret: string };
}

/** One configured endpoint and what is under way for it. */
export interface Target {
  endpoint: WebhookEndpoint;
  format: WebhookFormat;
  health: EndpointHealth;
  /** Items being attempted or whose outcome is not written yet: left out of the next sweeps. */
  busy: Set<number>;
}

const NO_TARGETS: readonly Target[] = [];

/**
 * The configured endpoints as the dispatcher sends to them: one target per app and URL (the outbox
 * knows an endpoint by those two, so two entries for one URL share its items), and per app and
 * event type the targets that want it, looked up once per event.
 */
export class WebhookTargets {
  private readonly byKey = new Map<string, Target>();
  private readonly routes = new Map<string, Map<WebhookEventType, Target[]>>();

  constructor(endpoints: readonly WebhookEndpoint[], health: { maxInFlight: number }) {
    for (const endpoint of endpoints) {
      const key = targetKey(endpoint.app, endpoint.url);
      if (!this.byKey.has(key)) this.byKey.set(key, { endpoint, format: formatOf(endpoint), health: new EndpointHealth(health), busy: new Set() });
    }
    for (const app of new Set(endpoints.map((e) => e.app))) {
      const byType = new Map<WebhookEventType, Target[]>();
      for (const type of WEBHOOK_EVENTS) {
        const wanting = endpoints.filter((e) => e.app === app && wants(e, type));
        if (wanting.length > 0) byType.set(type, [...new Set(wanting.map((e) => this.byKey.get(targetKey(e.app, e.url))!))]);
      }
      this.routes.set(app, byType);
    }
  }

  /** Every target, in the order its endpoint was first configured. */
  all(): IterableIterator<Target> {
    return this.byKey.values();
  }

  /** Whether the app's endpoint at this URL is configured (by `targetKey`). */
  has(key: string): boolean {
    return this.byKey.has(key);
  }

  /** The targets that want this app's events of this type. */
  routeOf(app: string, type: WebhookEventType): readonly Target[] {
    return this.routes.get(app)?.get(type) ?? NO_TARGETS;
  }
}

/** Without a list of its own, an endpoint gets its format's defaults. */
function wants(endpoint: WebhookEndpoint, type: WebhookEventType): boolean {
  const events: readonly string[] = endpoint.events ?? formatOf(endpoint).defaultEvents;
  return events.includes(type);
}

/** How the outbox knows an endpoint: its app and its URL. */
export function targetKey(app: string, url: string): string {
  return `${app}\u0000${url}`;
}
