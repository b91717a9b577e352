import { ErrorCode } from '@hubbub/protocol';
import { CloseCode } from './close-codes.js';
import { EXPIRY_HORIZON_MS, type LiveSession } from './session-registry.js';
import type { SessionScope } from './session-scope.js';

/**
 * When a connection's token runs out: tell the client (40102), then close unless it renews in time
 * (`authGraceMs`). A dialect that renews by reconnecting is closed at once.
 */
export class TokenExpiry {
  /** The token ran out and the grace period runs: only a renewal (or a ping) is taken. */
  expired = false;
  private timer?: NodeJS.Timeout;

  constructor(private readonly s: SessionScope & LiveSession) {}

  /** A token with hours to go waits in the registry's list rather than in a timer of its own. */
  arm(expiresAt: number | undefined): void {
    this.stop();
    this.expired = false;
    if (!expiresAt) return;
    if (expiresAt - Date.now() > EXPIRY_HORIZON_MS) return this.s.ctx.sessions.watchExpiry(this.s);
    this.armTimer(expiresAt);
  }

  armTimer(expiresAt: number | undefined): void {
    const { s } = this;
    if (s.isClosed || !expiresAt) return;
    const fire = () => {
      this.expired = true;
      s.send({ t: 'err', code: ErrorCode.AuthExpired, message: 'token expired: send a fresh auth frame' });
      const grace = s.dialect.policy.renewal === 'frame' ? s.ctx.limits.authGraceMs : 0;
      this.timer = setTimeout(() => s.close(CloseCode.AuthExpired, 'token expired'), grace);
    };
    this.timer = setTimeout(fire, Math.max(0, expiresAt - Date.now()));
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.s.ctx.sessions.unwatchExpiry(this.s);
  }
}
