import { CloseCode, ErrorCode, HubbubError } from '@hubbub/protocol';
import type { Clock } from './clock.js';
import { DEFAULTS } from './defaults.js';

/**
 * Retries in a row, which bound the next ones: reconnect attempts (they set the backoff and meet
 * `maxReconnectAttempts`) and token renewals (at most `maxRenewals`). Both start again only once a
 * connection proves it holds: a server that accepts and closes at once must still meet the backoff and
 * the renewal limit.
 */
export class RetryCounts {
  attempts = 0;
  /** Renewals in a row that did not end in a connection that held. */
  renewals = 0;
  private stableTimer?: unknown;

  constructor(private readonly clock: Clock) {}

  reset(): void {
    this.attempts = 0;
    this.renewals = 0;
  }

  /** Connected: start again from zero once this connection has held for `stableConnectionMs`. */
  connected(): void {
    this.clock.clearTimeout(this.stableTimer);
    this.stableTimer = this.clock.setTimeout(() => this.reset(), DEFAULTS.stableConnectionMs);
  }

  /** The socket went, or the connection ended, before it held: the counts go on. */
  lost(): void {
    this.clock.clearTimeout(this.stableTimer);
    this.stableTimer = undefined;
  }

  /** Count one more renewal: false when that makes more than `maxRenewals` in a row. */
  renewal(): boolean {
    return ++this.renewals <= DEFAULTS.maxRenewals;
  }
}

/**
 * The exponential backoff before reconnect attempt `attempt` (0 for the first), with jitter from
 * `random` in [0, 1), never above the cap. At the cap the jitter spreads below it (80–100%), so a crowd
 * that reached the cap does not come back at once.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: number): number {
  const exp = baseMs * 2 ** attempt;
  if (exp >= maxMs) return maxMs * (1 - DEFAULTS.reconnectJitter * random);
  return Math.min(maxMs, exp * (1 - DEFAULTS.reconnectJitter + 2 * DEFAULTS.reconnectJitter * random));
}

/** The error a close stands for, from its code (auth refusals keep their auth codes). */
export function closeError(code: number, reason: string): HubbubError {
  const text = `connection closed (${code}${reason ? ` ${reason}` : ''})`;
  switch (code) {
    case CloseCode.AuthRefused:
    case CloseCode.KeyRevoked:
      return new HubbubError(ErrorCode.BadAuth, text);
    case CloseCode.AuthExpired:
      return new HubbubError(ErrorCode.AuthExpired, text);
    case CloseCode.Forbidden:
    case CloseCode.Policy:
    case CloseCode.Superseded:
      return new HubbubError(ErrorCode.Forbidden, text);
    case CloseCode.TooBig:
      return new HubbubError(ErrorCode.TooLarge, text);
    default:
      return new HubbubError(ErrorCode.Unavailable, text);
  }
}
