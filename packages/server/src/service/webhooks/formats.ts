import { PUSHER_WEBHOOK_SOURCES, pusherWebhookBody, pusherWebhookHeaders } from '../../compat/pusher/webhook-format.js';
import { eventBody, type EventBody } from './event-body.js';
import { WEBHOOK_EVENTS, type WebhookEventType } from './event-types.js';
import { webhookHeaders } from './signature.js';

/** What an endpoint signs with: its `whsec_` secret, or the API key bound to it (see targets.ts). */
export interface EndpointSigning {
  app: string;
  secret?: string;
  signingKey?: () => { keyId: string; secret: string };
}

/**
 * What an endpoint's `format` changes: the body an event becomes and the headers that sign it. The
 * outbox, retries, bounds and destination rules are the same whatever the format.
 */
export interface WebhookFormat {
  /** The events the format can carry; an endpoint may list only these. */
  readonly events: readonly WebhookEventType[];
  /** Sent when an endpoint lists none. */
  readonly defaultEvents: readonly WebhookEventType[];
  /** The body of one event, or undefined when the format has nothing to say about it. */
  body(type: WebhookEventType, app: string, data: unknown, maxMessageDataBytes: number): EventBody | undefined;
  /** The headers of one attempt; may throw (a revoked key): the attempt then fails and is retried. */
  headers(endpoint: EndpointSigning, eventId: string, payload: string): Record<string, string>;
}

export const WEBHOOK_FORMATS = ['standard', 'pusher'] as const;
export type WebhookFormatName = (typeof WEBHOOK_FORMATS)[number];
export const DEFAULT_WEBHOOK_FORMAT: WebhookFormatName = 'standard';

const STANDARD: WebhookFormat = {
  events: WEBHOOK_EVENTS,
  // Published messages can be many, so they are opt-in.
  defaultEvents: WEBHOOK_EVENTS.filter((e) => e !== 'message.published'),
  body: (type, app, data, max) => eventBody(type, app, data, max),
  headers: (endpoint, eventId, payload) => webhookHeaders(endpoint.secret ?? '', eventId, payload),
};

const PUSHER: WebhookFormat = {
  events: PUSHER_WEBHOOK_SOURCES,
  // Only `client-` messages become events, so they are sent by default, as Pusher's five kinds are.
  defaultEvents: PUSHER_WEBHOOK_SOURCES,
  body(type, _app, data, max) {
    const payload = pusherWebhookBody(type, data, max);
    return payload === undefined ? undefined : { payload, bytes: Buffer.byteLength(payload) };
  },
  headers(endpoint, _eventId, payload) {
    if (!endpoint.signingKey) throw new Error(`a pusher-format endpoint needs "key" (an API key of app ${endpoint.app}), bound at start-up`);
    const { keyId, secret } = endpoint.signingKey();
    return pusherWebhookHeaders(keyId, secret, payload);
  },
};

const BY_NAME: Record<WebhookFormatName, WebhookFormat> = { standard: STANDARD, pusher: PUSHER };

export function formatOf(endpoint: { format?: WebhookFormatName }): WebhookFormat {
  return BY_NAME[endpoint.format ?? DEFAULT_WEBHOOK_FORMAT];
}
