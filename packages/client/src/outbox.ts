import { ErrorCode, HubbubError, type ClientFrame, type ServerFrame } from '@hubbub/protocol';

/** Frames that wait for an `ack` (or typed reply) from the server. */
export type RequestFrame = Exclude<ClientFrame, { t: 'auth' } | { t: 'ping' }>;
type WithoutId<F> = F extends unknown ? Omit<F, 'id'> : never;
export type RequestBody = WithoutId<RequestFrame>;

export interface RequestOptions {
  /** Resend after a reconnect instead of failing (default false). */
  resend?: boolean;
  /** Wait in the queue while not connected (default true); false refuses at once. */
  queue?: boolean;
  /**
   * Called with the reply as it is read, before any later frame: a socket's frames can all be read in
   * one go, and a promise's continuation would only run after the frames that followed the reply.
   */
  onReply?: (reply: ServerFrame) => void;
}

export interface PendingRequest {
  body: RequestBody;
  resolve(reply: ServerFrame): void;
  reject(err: HubbubError): void;
  /** Resent after a reconnect (publishes: the stable messageId makes the resend safe). */
  resend: boolean;
  onReply?: (reply: ServerFrame) => void;
}

/**
 * The requests of one logical connection: those sent and waiting for their reply (correlated by id),
 * and those waiting for the next socket. It outlives sockets: a reconnect resends what may be resent,
 * in the order the app asked.
 */
export interface Outbox {
  /** Largest frame the server takes (from `connected`): bigger requests are refused here with 41300. */
  maxFrameBytes?: number;
  /** Send now on the open socket, numbered so its reply finds it. */
  transmit(req: PendingRequest): void;
  /** Keep for the next `connected`. */
  queue(req: PendingRequest): void;
  /** Connected: requests from before the drop first, in the order they were made, then the queue. */
  flush(): void;
  /** The reply (or error) for request `id`; one for a request no longer waiting is dropped. */
  settle(id: number, frame: ServerFrame): void;
  /** Requests in flight on a lost socket: publishes wait to be resent, the rest fail with the reason. */
  keepResends(reason: HubbubError): void;
  /** Nothing will be sent any more: every request, sent or queued, fails with the reason. */
  failAll(reason: HubbubError): void;
}

/** An Outbox that sends through `sendText`. (A closure, not a class: its state minifies to short names.) */
export function outbox(sendText: (text: string) => void): Outbox {
  let nextId = 1;
  /** In request order: a reconnect resends in the order the app asked. */
  const pending = new Map<number, PendingRequest>();
  const queued: PendingRequest[] = [];
  const box: Outbox = {
    transmit(req) {
      const id = nextId++;
      const text = JSON.stringify({ ...req.body, id });
      const tooBig = oversize(text, box.maxFrameBytes);
      if (tooBig) return req.reject(tooBig);
      pending.set(id, req);
      sendText(text);
    },
    queue: (req) => void queued.push(req),
    flush() {
      const again = [...queued];
      queued.length = 0;
      for (const req of again) box.transmit(req);
    },
    settle(id, frame) {
      const req = pending.get(id);
      if (!req) return;
      pending.delete(id);
      if (frame.t === 'err') return req.reject(new HubbubError(frame.code, frame.message));
      req.onReply?.(frame);
      req.resolve(frame);
    },
    keepResends(reason) {
      const resend: PendingRequest[] = [];
      for (const req of pending.values()) {
        if (req.resend) resend.push(req);
        else req.reject(reason);
      }
      pending.clear();
      queued.unshift(...resend);
    },
    failAll(reason) {
      for (const req of pending.values()) req.reject(reason);
      pending.clear();
      for (const req of queued) req.reject(reason);
      queued.length = 0;
    },
  };
  return box;
}

/** A frame over the server's limit would get the socket closed (1009): refuse it here instead. */
function oversize(text: string, limit: number | undefined): HubbubError | undefined {
  if (!limit || text.length * 3 <= limit) return undefined;
  const bytes = text.length > limit ? text.length : new TextEncoder().encode(text).length;
  if (bytes <= limit) return undefined;
  return new HubbubError(ErrorCode.TooLarge, `frame of ${bytes} bytes is over the server's limit of ${limit}`);
}
