import { createHmac } from 'node:crypto';
import { clientEventText } from './event-data.js';

/**
 * Webhooks in Pusher Channels' format, for apps whose backend verifies them with a `pusher` server
 * SDK: a POST of `{ time_ms, events: [ … ] }`, with `X-Pusher-Key` (the key id) and
 * `X-Pusher-Signature` (hex HMAC-SHA256 of the exact body with the key's secret).
 *
 * Each Hubbub event becomes at most one Pusher event, sent on its own: the outbox retries and bounds
 * each event, and one event per body keeps a retry from resending others that were delivered.
 */

/** The Hubbub events this format has a Pusher counterpart for (the others are not sent). */
export const PUSHER_WEBHOOK_SOURCES = ['channel.occupied', 'channel.vacated', 'presence.enter', 'presence.leave', 'message.published'] as const;
export type PusherWebhookSource = (typeof PUSHER_WEBHOOK_SOURCES)[number];

/** A Pusher client's own events: the only published messages a Pusher receiver hears of (`client_event`). */
const CLIENT_EVENT_PREFIX = 'client-';

export type PusherWebhookEvent =
  | { name: 'channel_occupied' | 'channel_vacated'; channel: string }
  | { name: 'member_added' | 'member_removed'; channel: string; user_id: string }
  | { name: 'client_event'; channel: string; event: string; data?: string; socket_id?: string; user_id?: string; data_omitted?: true; data_bytes?: number };

/**
 * The Pusher event for one Hubbub event, or undefined when Pusher has none: a published message
 * maps only when its name is a client event's (`client-…`); its data goes as text, as Pusher
 * clients send it. Presence members' client ids play Pusher's user ids.
 */
export function pusherWebhookEvent(type: string, data: unknown, maxDataBytes: number): PusherWebhookEvent | undefined {
  if (!isRecord(data) || typeof data.channel !== 'string') return undefined;
  const { channel } = data;
  switch (type) {
    case 'channel.occupied':
      return { name: 'channel_occupied', channel };
    case 'channel.vacated':
      return { name: 'channel_vacated', channel };
    case 'presence.enter':
    case 'presence.leave':
      if (typeof data.clientId !== 'string') return undefined;
      return { name: type === 'presence.enter' ? 'member_added' : 'member_removed', channel, user_id: data.clientId };
    case 'message.published':
      return clientEvent(channel, data, maxDataBytes);
    default:
      return undefined;
  }
}

function clientEvent(channel: string, message: Record<string, unknown>, maxDataBytes: number): PusherWebhookEvent | undefined {
  const { name } = message;
  if (typeof name !== 'string' || !name.startsWith(CLIENT_EVENT_PREFIX)) return undefined;
  const text = clientEventText(message.data);
  const bytes = Buffer.byteLength(text);
  // Past the bound the event still says who sent what where, like a Standard Webhooks `dataOmitted`.
  const event: PusherWebhookEvent =
    bytes <= maxDataBytes ? { name: 'client_event', channel, event: name, data: text } : { name: 'client_event', channel, event: name, data_omitted: true, data_bytes: bytes };
  // The publisher's Pusher socket id, when whoever published it says (see the docs: not every path does).
  if (typeof message.socketId === 'string') event.socket_id = message.socketId;
  // Pusher names the sender only on presence channels, where a connection is a member.
  if (channel.startsWith('presence-') && typeof message.clientId === 'string') event.user_id = message.clientId;
  return event;
}

/** The body for one Hubbub event, or undefined when Pusher has no event for it. */
export function pusherWebhookBody(type: string, data: unknown, maxDataBytes: number, now: number = Date.now()): string | undefined {
  const event = pusherWebhookEvent(type, data, maxDataBytes);
  return event === undefined ? undefined : JSON.stringify({ time_ms: now, events: [event] });
}

/**
 * The headers of one delivery of `body`. The content type is exactly `application/json`: the
 * `pusher` SDK does not parse a body labelled otherwise (a `; charset` included).
 */
export function pusherWebhookHeaders(keyId: string, secret: string, body: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    'x-pusher-key': keyId,
    'x-pusher-signature': createHmac('sha256', secret).update(body, 'utf8').digest('hex'),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
