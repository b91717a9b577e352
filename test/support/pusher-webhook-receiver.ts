/**
 * A Pusher app's webhook endpoint, as its backend would write it: a plain HTTP server that hands each
 * request's raw body and headers to the `pusher` server SDK's `webhook().isValid()`.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import Pusher from 'pusher';
import type { PusherCredentials } from './pusher.js';

export interface ReceivedHook {
  headers: IncomingHttpHeaders;
  rawBody: string;
  /** What the SDK said: the signature checks out against the receiver's credentials. */
  valid: boolean;
  status: number;
}

export interface PusherHookReceiver {
  /** Every request, the refused ones too, in arrival order. */
  requests: ReceivedHook[];
  /** The events of every request answered 2xx, in arrival order. */
  events(): Array<Record<string, unknown>>;
  /** The status the next `n` requests get, before 200 resumes (a receiver that is failing). */
  failNext(n: number, status?: number): void;
  close(): Promise<void>;
}

export function pusherSdk(credentials: PusherCredentials): Pusher {
  // The host is never contacted: only the webhook check is used.
  return new Pusher({ ...credentials, host: '127.0.0.1' });
}

export async function pusherHookReceiver(credentials: PusherCredentials, port: number): Promise<PusherHookReceiver> {
  const pusher = pusherSdk(credentials);
  const requests: ReceivedHook[] = [];
  let failing = 0;
  let failStatus = 500;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const valid = pusher.webhook({ headers: req.headers, rawBody }).isValid();
      const status = failing > 0 ? failStatus : valid ? 200 : 401;
      if (failing > 0) failing--;
      requests.push({ headers: req.headers, rawBody, valid, status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return {
    requests,
    events: () => requests.filter((r) => r.status === 200).flatMap((r) => (JSON.parse(r.rawBody) as { events: Array<Record<string, unknown>> }).events),
    failNext(n, status = 500) {
      failing = n;
      failStatus = status;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
