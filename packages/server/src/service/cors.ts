import type { IncomingMessage, ServerResponse } from 'node:http';
import { LONG_POLL_SESSION_HEADER } from '../compat/dialects.js';

const ALLOW_METHODS = 'GET, POST, PUT, DELETE, OPTIONS';
/** What browser clients send: credentials, JSON bodies, an SSE reconnect's cursor, and the long-poll session header. */
const ALLOW_HEADERS = `authorization, content-type, last-event-id, ${LONG_POLL_SESSION_HEADER}`;
/** Headers scripts may read: the long-poll session and history's `Link` to the next page. */
const EXPOSE_HEADERS = `${LONG_POLL_SESSION_HEADER}, link, retry-after`;
const MAX_AGE_SECONDS = '600';

/**
 * CORS for the HTTP API and long-polling, so browser pages on other origins can use them (the binary
 * dialect's SDK's `Rest` client sends `Authorization`; `/lp/*` sends octet-stream and the long-poll
 * session header, both preflighted). With an origin allow-list only those origins are answered;
 * without one, any origin (`*`: credentials travel in headers, never in cookies).
 */
export class Cors {
  constructor(private readonly allowedOrigins?: readonly string[]) {}

  /**
   * Put the CORS headers on `res` (they join whatever the handler writes later). Returns true when
   * the request was a preflight and has been answered.
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const origin = req.headers.origin;
    const allowed = this.allowOrigin(origin);
    if (this.allowedOrigins) res.setHeader('vary', 'Origin');
    if (allowed) {
      res.setHeader('access-control-allow-origin', allowed);
      res.setHeader('access-control-expose-headers', EXPOSE_HEADERS);
    }
    if (req.method !== 'OPTIONS') return false;
    if (allowed) {
      res.setHeader('access-control-allow-methods', ALLOW_METHODS);
      res.setHeader('access-control-allow-headers', ALLOW_HEADERS);
      res.setHeader('access-control-max-age', MAX_AGE_SECONDS);
    }
    res.setHeader('allow', ALLOW_METHODS);
    res.writeHead(204).end();
    return true;
  }

  private allowOrigin(origin: string | undefined): string | undefined {
    if (!this.allowedOrigins) return '*';
    return origin !== undefined && this.allowedOrigins.includes(origin) ? origin : undefined;
  }
}
