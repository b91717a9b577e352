import type { Identity } from '../core/identity.js';
import { HEARTBEAT } from './sse-framing.js';

/**
 * The transport's sweep, four times per heartbeat: a comment line on streams quiet for long (so
 * neither side nor a proxy takes them for dead), and the end of streams whose token ran out.
 */

/** What the sweep needs of a stream. */
export interface SweptStream {
  readonly identity?: Identity;
  readonly isOpen: boolean;
  readonly lastWrite: number;
  write(text: string): void;
  end(reason: string): void;
}

/** Sweeps `streams` (a live set: streams that end leave it) until the timer is cleared; it keeps no process alive. */
export function startSweeps(streams: Iterable<SweptStream>, options: { readonly heartbeatMs: number }): NodeJS.Timeout {
  const timer = setInterval(() => sweep(streams, options.heartbeatMs), Math.max(25, Math.floor(options.heartbeatMs / 4)));
  timer.unref();
  return timer;
}

function sweep(streams: Iterable<SweptStream>, heartbeatMs: number): void {
  const now = Date.now();
  const quietMs = (heartbeatMs * 3) / 4;
  for (const stream of streams) {
    const expiresAt = stream.identity?.expiresAt;
    if (expiresAt !== undefined && expiresAt <= now) stream.end('token expired');
    else if (stream.isOpen && now - stream.lastWrite >= quietMs) stream.write(HEARTBEAT);
  }
}
