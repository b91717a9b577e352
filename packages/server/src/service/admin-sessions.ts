import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

/** The cookie the admin login sets. Scoped to `/admin`, so no other route ever sees it. */
export const ADMIN_COOKIE = 'hubbub_admin';
/** How long a login lasts: a working day, after which the form asks again. */
export const ADMIN_SESSION_MS = 12 * 3_600_000;
/** Logins kept at once; past it the oldest is dropped (only holders of the key can add one). */
export const MAX_ADMIN_SESSIONS = 100;

/**
 * The admin console's logins: random tokens (never the key) that a cookie carries, each with an
 * expiry. Held in memory: a restart logs everyone out, which is what an operator expects.
 */
export class AdminSessions {
  /**
   * Token hash → expiry (ms); hashed so memory holds no usable token. Insertion order is age
   * order, so the first entry is the oldest.
   */
  private readonly sessions = new Map<string, number>();

  constructor(
    private readonly lifetimeMs = ADMIN_SESSION_MS,
    private readonly max = MAX_ADMIN_SESSIONS,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  start(now = Date.now()): { token: string; expiresAt: number } {
    this.sweep(now);
    while (this.sessions.size >= this.max) this.sessions.delete(this.sessions.keys().next().value!);
    const token = randomBytes(32).toString('base64url');
    const expiresAt = now + this.lifetimeMs;
    this.sessions.set(digest(token), expiresAt);
    return { token, expiresAt };
  }

  /** The session's expiry, or undefined when the token is unknown or expired. */
  expiresAt(token: string | undefined, now = Date.now()): number | undefined {
    if (!token) return undefined;
    const id = digest(token);
    const expiresAt = this.sessions.get(id);
    if (expiresAt === undefined) return undefined;
    if (expiresAt <= now) {
      this.sessions.delete(id);
      return undefined;
    }
    return expiresAt;
  }

  end(token: string | undefined): void {
    if (token) this.sessions.delete(digest(token));
  }

  private sweep(now: number): void {
    for (const [id, expiresAt] of this.sessions) if (expiresAt <= now) this.sessions.delete(id);
  }
}

/** Compare a given key with the admin key in constant time (hashing first evens out the lengths). */
export function sameKey(given: string, want: string): boolean {
  return timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(want).digest());
}

/** The admin session token in the request's cookies, if any. */
export function sessionTokenOf(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === ADMIN_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** `Set-Cookie` for a session: HttpOnly (no script reads it), SameSite=Strict, Secure over TLS. */
export function sessionCookie(req: IncomingMessage, token: string, maxAgeMs: number): string {
  const parts = [`${ADMIN_COOKIE}=${token}`, 'Path=/admin', 'HttpOnly', 'SameSite=Strict', `Max-Age=${Math.floor(maxAgeMs / 1000)}`];
  if (cameOverTls(req)) parts.push('Secure');
  return parts.join('; ');
}

export function clearedCookie(req: IncomingMessage): string {
  return sessionCookie(req, '', 0);
}

/** TLS here, or at a proxy that says so. A lying header only makes the cookie stricter. */
export function cameOverTls(req: IncomingMessage): boolean {
  if ((req.socket as TLSSocket).encrypted) return true;
  const proto = req.headers['x-forwarded-proto'];
  const first = (Array.isArray(proto) ? proto[0] : proto)?.split(',')[0].trim().toLowerCase();
  return first === 'https';
}

/**
 * CSRF guard for the admin POSTs: a browser says where a request comes from (`Origin`,
 * `Sec-Fetch-Site`); anything but this same host is refused. Requests that say neither come from
 * scripts and tools, which hold the key themselves (a browser's cross-site form always sends Origin).
 */
export function isCrossSite(req: IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return true;
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return true; // `null` (sandboxed frames, some redirects) or garbage
  }
  const forwarded = req.headers['x-forwarded-host'];
  const hosts = [req.headers.host, ...(Array.isArray(forwarded) ? forwarded : [forwarded])].filter((h): h is string => !!h);
  return !hosts.some((h) => h.split(',')[0].trim().toLowerCase() === host.toLowerCase());
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}
