import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { ErrorCode, isHubbubError } from '@hubbub/protocol';
import type { DestinationPolicy } from './destination-policy.js';

/** Longest wait to reach a receiver: name resolution, TCP connect and, for https, the TLS handshake. */
export const CONNECT_TIMEOUT_MS = 5_000;
/** Longest one attempt may take, from its start to the reply's status (and, on failure, its first bytes). */
export const RESPONSE_TIMEOUT_MS = 10_000;
/** The most of a failed attempt's reply that is read, kept only for the log line; a 2xx reply is not read. */
export const REPLY_CAP_BYTES = 4 * 1024;

export type PostOutcome =
  | { delivered: true; status: number }
  | {
      delivered: false;
      /** The receiver's status, when it answered. */
      status?: number;
      reason: string;
      /** The start of the receiver's reply (at most REPLY_CAP_BYTES), when it sent one. */
      reply?: string;
      /** The destination policy refused the address: nothing was sent. */
      refused?: true;
    };

export interface PostOptions {
  policy: DestinationPolicy;
  connectTimeoutMs?: number;
  responseTimeoutMs?: number;
}

/**
 * One delivery attempt, built for a receiver that may be hostile: the destination policy picks
 * the addresses connected to, a redirect is a failed attempt (never followed: it would re-send the
 * signed event wherever the receiver points), the reply body of a 2xx is never read and that of a
 * failure only up to a small cap, every attempt ends within the timeouts, and its socket is
 * destroyed after it (no pooled connection a receiver could keep busy). Never rejects.
 */
export function postWebhook(url: string, headers: Record<string, string>, body: string, options: PostOptions): Promise<PostOutcome> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.resolve({ delivered: false, reason: 'not a valid URL' });
  }
  const refused = options.policy.refusalOfUrl(target);
  if (refused) return Promise.resolve({ delivered: false, refused: true, reason: `destination refused: ${refused}` });
  const connectTimeoutMs = options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
  const responseTimeoutMs = options.responseTimeoutMs ?? RESPONSE_TIMEOUT_MS;
  const payload = Buffer.from(body, 'utf8');
  const https = target.protocol === 'https:';

  return new Promise<PostOutcome>((resolve) => {
    let settled = false;
    let status: number | undefined;
    const reply: Buffer[] = [];
    let replyBytes = 0;
    const replyText = () => (replyBytes > 0 ? Buffer.concat(reply).toString('utf8') : undefined);

    const finish = (outcome: PostOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(responseTimer);
      req.destroy();
      resolve(outcome);
    };
    const fail = (reason: string, refused = false) => {
      const text = replyText();
      finish({ delivered: false, reason, ...(status !== undefined && { status }), ...(text !== undefined && { reply: text }), ...(refused && { refused }) });
    };

    const req = (https ? httpsRequest : httpRequest)(target, {
      method: 'POST',
      headers: { ...headers, 'content-length': String(payload.length) },
      agent: false,
      lookup: options.policy.lookup,
    });
    const connectTimer = setTimeout(() => fail(`connect timed out after ${connectTimeoutMs} ms`), connectTimeoutMs);
    const responseTimer = setTimeout(() => fail(`timed out after ${responseTimeoutMs} ms waiting for the reply`), responseTimeoutMs);

    req.on('socket', (socket: Socket) => {
      socket.once(https ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
    });
    req.on('error', (err) => {
      const refused = isHubbubError(err) && err.code === ErrorCode.Forbidden;
      fail(refused ? `destination refused: ${err.message}` : err.message, refused);
    });
    req.on('response', (res: IncomingMessage) => {
      // Destroying the request mid-body makes the reply emit "aborted": expected, not an error.
      res.on('error', () => {});
      status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) return finish({ delivered: true, status });
      const reason = status >= 300 && status < 400 ? `HTTP ${status}: redirects are not followed` : `HTTP ${status}`;
      res.on('data', (chunk: Buffer) => {
        const kept = chunk.subarray(0, REPLY_CAP_BYTES - replyBytes);
        reply.push(kept);
        replyBytes += kept.length;
        if (replyBytes >= REPLY_CAP_BYTES) fail(reason);
      });
      res.on('end', () => fail(reason));
    });
    req.end(payload);
  });
}
