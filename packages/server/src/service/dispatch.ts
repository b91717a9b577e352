/** Which part of `hubbub serve` answers an HTTP request: pages first, then the cross-origin API. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { ErrorCode, HubbubError } from '@hubbub/protocol';
import type { AdminConsole } from './admin.js';
import type { Cors } from './cors.js';
import { serveHomePage } from './home-page.js';
import { sendJson, type HttpApi } from './http.js';
import { serveSdkBundle } from './sdk-bundle.js';

/** Something that answers the requests it recognises and says whether it did. */
interface HttpHandler {
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

export interface DispatchParts {
  admin: AdminConsole;
  adminEnabled: boolean;
  /** The port listened on, for the home page's examples (read per request: it is known once listening). */
  port(): number;
  cors: Cors;
  sse: HttpHandler;
  longPoll: HttpHandler;
  metrics: Registry;
  api: HttpApi;
}

/** Plain-text and page routes first; everything else is the JSON API. */
export function dispatcher(parts: DispatchParts): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    try {
      if (path.startsWith('/admin') && (await parts.admin.handle(req, res, path))) return;
      // The pages a newcomer opens, and the SDK as a public script (it sends its own CORS header).
      if (path === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
        return serveHomePage(req, res, { adminEnabled: parts.adminEnabled, port: parts.port() });
      }
      if (await serveSdkBundle(req, res, path)) return;
    } catch (err) {
      const e = err instanceof HubbubError ? err : new HubbubError(ErrorCode.Server, 'internal server error');
      return sendJson(res, e.statusCode, { error: e.toJSON() });
    }
    // Everything below (the API, long-polling) is open to pages on other origins.
    if (parts.cors.handle(req, res)) return;
    if (parts.sse.handle(req, res)) return;
    if (parts.longPoll.handle(req, res)) return;
    if (req.method === 'GET' && path === '/metrics') {
      const text = await parts.metrics.metrics();
      res.writeHead(200, { 'content-type': parts.metrics.contentType });
      return void res.end(text);
    }
    return parts.api.handle(req, res);
  };
}
