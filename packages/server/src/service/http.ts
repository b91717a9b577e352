import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, HubbubError, parseJsonBody } from '@hubbub/protocol';
import { processLog, type Log } from '../core/log.js';

export type Handler = (req: IncomingMessage, params: string[]) => Promise<unknown>;

/** A handler's answer when it needs more than a 200 with a JSON body: another status, or headers (e.g. `Link`). */
export class HttpReply {
  constructor(
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
    readonly status = 200,
  ) {}
}

interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
}

/** A small router for the JSON HTTP API: every answer is JSON, every failure a coded error. */
export class HttpApi {
  private readonly routes: Route[] = [];

  constructor(
    private readonly maxBodyBytes: number,
    /** Where a handler's unexpected failure (a bug: the client only hears 50000) is reported. */
    private readonly log: Log = processLog,
  ) {}

  route(method: string, pattern: RegExp, handler: Handler): this {
    this.routes.push({ method, pattern, handler });
    return this;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Match the path as sent, then decode each parameter: an encoded `/` inside a channel name
    // (`bad%2Fname`) is then a bad name (40001), not a different route.
    const raw = (req.url ?? '/').split('?')[0];
    const path = decodeURIComponentSafe(raw);
    let matchedPath = false;
    try {
      for (const route of this.routes) {
        const match = route.pattern.exec(raw);
        if (!match) continue;
        matchedPath = true;
        if (route.method !== req.method) continue;
        const body = await route.handler(req, match.slice(1).map(decodeURIComponentSafe));
        if (body instanceof HttpReply) return sendJson(res, body.status, body.body, body.headers);
        return sendJson(res, 200, body);
      }
      if (matchedPath) throw new HubbubError(ErrorCode.MethodNotAllowed, `${req.method} is not allowed on ${path}`);
      throw new HubbubError(ErrorCode.NotFound, `no route for ${req.method} ${path}`);
    } catch (err) {
      const known = err instanceof HubbubError;
      if (!known) this.log.error({ err, method: req.method, path }, 'an HTTP API handler failed unexpectedly: answered 500 internal server error');
      const error = known ? err.toJSON() : { code: ErrorCode.Server, statusCode: 500, message: 'internal server error' };
      sendJson(res, error.statusCode, { error });
    }
  }

  /** Read a JSON body, refusing bodies over the limit before reading them whole. */
  async json(req: IncomingMessage): Promise<unknown> {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.maxBodyBytes) throw tooLarge(this.maxBodyBytes);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > this.maxBodyBytes) throw tooLarge(this.maxBodyBytes);
      chunks.push(chunk as Buffer);
    }
    return parseJsonBody(size === 0 ? '' : Buffer.concat(chunks).toString('utf8'));
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body ?? {});
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function queryOf(req: IncomingMessage): URLSearchParams {
  return new URL(req.url ?? '/', 'http://x').searchParams;
}

function tooLarge(limit: number): HubbubError {
  return new HubbubError(ErrorCode.TooLarge, `request body over ${limit} bytes`);
}

function decodeURIComponentSafe(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}
