import { PUSHER_MAX_USER_ID_LENGTH } from './defaults.js';

/**
 * Pusher Channels protocol 7, as pusher-js speaks it (https://pusher.com/docs/channels/library_auth_reference/pusher-websockets-protocol/):
 * one JSON event per text message, `{event, channel?, data}`, where `data` is usually JSON text.
 */

export const PUSHER_PROTOCOL = 7;

/** The WebSocket path prefix: `/app/{key}`. */
export const PUSHER_PATH_PREFIX = '/app/';

/**
 * Close codes and `pusher:error` codes, in Pusher's classes: 4000–4099 the client must not reconnect,
 * 4100–4199 it backs off, 4200–4299 it reconnects now, 4300–4399 other errors (no close).
 */
export const PusherCode = {
  AppNotFound: 4001,
  InvalidVersion: 4006,
  UnsupportedProtocol: 4007,
  NoProtocol: 4008,
  Unauthorized: 4009,
  OverCapacity: 4100,
  Reconnect: 4200,
  PongNotReceived: 4201,
  ClientEventRateLimit: 4301,
} as const;

/**
 * Hubbub close codes the transport and core may send, as a Pusher client must read them: otherwise
 * a slow consumer (4008) would read as "no protocol version" and a restart (1012) would not say "reconnect now".
 * Pusher closes only in 4000–4299, so Hubbub's 4300 (Forbidden: the app ended this user's connections)
 * goes as 4009, in the class a Pusher client must not reconnect after, rather than in a range where
 * only pusher-js's fallback for unknown codes keeps it from reconnecting.
 */
const CLOSE_CODES = new Map<number, number>([
  [1012, PusherCode.Reconnect], // server restarting
  [1013, PusherCode.OverCapacity], // too many connections
  [4008, PusherCode.OverCapacity], // slow consumer: come back later
  [4009, PusherCode.Unauthorized], // superseded
  [4103, PusherCode.Unauthorized], // API key revoked
  [4300, PusherCode.Unauthorized], // forbidden: terminate_connections
]);

export function pusherCloseCode(code: number): number {
  return CLOSE_CODES.get(code) ?? code;
}

/** One event as text. `data` that is not already text is sent as JSON text, as Pusher does for channel events. */
export function pusherEvent(event: string, channel: string | undefined, data: unknown, extra?: Record<string, unknown>): string {
  const text = data === undefined ? undefined : typeof data === 'string' ? data : JSON.stringify(data);
  return JSON.stringify({ event, ...(channel !== undefined ? { channel } : {}), ...(text !== undefined ? { data: text } : {}), ...extra });
}

/** `pusher:error`: its data is an object (pusher-js reads `code` and `message`); code null for errors outside the numbered classes. */
export function pusherError(code: number | null, message: string): string {
  return JSON.stringify({ event: 'pusher:error', data: { code, message } });
}

/** `pusher:subscription_error`, as pusher-js reports a refused subscription to the channel's listeners. */
export function subscriptionError(channel: string, status: number, error: string): string {
  return pusherEvent('pusher:subscription_error', channel, { type: 'AuthError', error, status });
}

/** Names Pusher keeps for itself: never relayed from another protocol, never accepted from a client. */
export function isReservedEvent(name: string): boolean {
  return name.startsWith('pusher:') || name.startsWith('pusher_internal:');
}

/**
 * A presence `user_id` or signed-in user `id` as its text: a string of 1-128 characters, or an
 * integer (PHP and Laravel backends send numbers) as its decimal string, so 42 and "42" are one user.
 */
export function pusherUserId(raw: unknown): string | undefined {
  const id = typeof raw === 'number' && Number.isSafeInteger(raw) ? String(raw) : raw;
  return typeof id === 'string' && id.length > 0 && id.length <= PUSHER_MAX_USER_ID_LENGTH ? id : undefined;
}

/** A client event as pusher-js sends it. */
export interface PusherInbound {
  event: string;
  channel?: string;
  data?: unknown;
}

/** One message from a client; undefined when it is not a Pusher event. */
export function readInbound(text: string): PusherInbound | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Not JSON: the caller answers with a pusher:error.
    return undefined;
  }
  if (typeof value !== 'object' || value === null || typeof (value as PusherInbound).event !== 'string') return undefined;
  const { event, channel, data } = value as PusherInbound;
  if (channel !== undefined && typeof channel !== 'string') return undefined;
  // Subscribe data and some clients' events come as JSON text rather than an object.
  return { event, channel, data: typeof data === 'string' && event.startsWith('pusher:') ? parseOr(data) : data };
}

function parseOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // Text that is not JSON stays text; the handler checks its shape.
    return text;
  }
}
