import type { IncomingMessage } from 'node:http';
import { ErrorCode, HubbubError, assertAllowed, assertChannelName } from '@hubbub/protocol';
import type { Identity } from '../core/identity.js';

/**
 * What a `GET /sse` request asks for, read from its URL and headers: the channels, the credential an
 * EventSource can carry in the URL, where to resume; and whether it may ask (origin, capability).
 */

/** The query of a request for `path`; undefined when the request is for another path. */
export function streamQuery(url: string | undefined, path: string): URLSearchParams | undefined {
  const target = url ?? '/';
  const q = target.indexOf('?');
  if ((q < 0 ? target : target.slice(0, q)) !== path) return undefined;
  return new URLSearchParams(q < 0 ? '' : target.slice(q + 1));
}

/** Throws 403 for a page of an origin not in `allowedOrigins` (when set); requests without `Origin` pass, as on ws. */
export function assertOriginAllowed(req: IncomingMessage, allowedOrigins: string[] | undefined): void {
  const origin = req.headers.origin;
  if (origin && allowedOrigins && !allowedOrigins.includes(origin)) {
    throw new HubbubError(ErrorCode.Forbidden, `origin ${JSON.stringify(origin.slice(0, 100))} is not allowed`);
  }
}

/** The `token` query parameter: an EventSource cannot send an `Authorization` header. */
export function urlTokenOf(params: URLSearchParams): string | undefined {
  return params.get('token') ?? undefined;
}

/** The channels asked for, each valid and allowed, named once each; at most `max` of them. */
export function requestedChannels(params: URLSearchParams, identity: Identity, path: string, max: number): string[] {
  const channels = [...new Set(params.getAll('channel'))];
  if (channels.length === 0) throw new HubbubError(ErrorCode.BadFrame, `name at least one channel: ${path}?channel=NAME`);
  for (const channel of channels) assertChannelName(channel);
  if (channels.length > max) throw new HubbubError(ErrorCode.RateLimited, `at most ${max} channels per stream; this one names ${channels.length}`);
  for (const channel of channels) assertAllowed(identity.capability, channel, 'subscribe');
  return channels;
}

/** The cursor to resume from: the `Last-Event-ID` an EventSource sends, else `?lastEventId=` (a new EventSource cannot send the header). */
export function lastEventIdOf(req: IncomingMessage, params: URLSearchParams): string | undefined {
  const header = req.headers['last-event-id'];
  if (typeof header === 'string' && header !== '') return header;
  return params.get('lastEventId') ?? undefined;
}
