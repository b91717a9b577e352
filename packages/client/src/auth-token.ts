import { ErrorCode, HubbubError, type AuthFrame } from '@hubbub/protocol';
import { DEFAULTS } from './defaults.js';

/** What an authCallback may hand back: the token itself, or an object carrying it (what `POST /auth/token` answers). */
export type AuthCallbackResult = string | { token: string };
export type AuthCallback = () => Promise<AuthCallbackResult> | AuthCallbackResult;

/** The app's authCallback threw: worth retrying, unlike a callback that returns the wrong thing. */
export class CallbackFailure {
  readonly error: HubbubError;
  constructor(cause: unknown) {
    const message = cause instanceof Error ? cause.message : String(cause);
    this.error = new HubbubError(ErrorCode.BadAuth, `authCallback failed: ${message}`);
  }
}

/**
 * The token a connection and its REST calls carry: the one the app gave, or the authCallback's, asked
 * for whenever there is none (at start, and after `forget` when the server wants a fresh one).
 */
export class TokenSource {
  constructor(
    private token: string | undefined,
    private readonly callback: AuthCallback | undefined,
  ) {}

  /** Ask the authCallback again next time: this token is expired or refused. */
  forget(): void {
    this.token = undefined;
  }

  /** The token, through the authCallback when there is none yet; a callback that throws rejects with a CallbackFailure. */
  async current(): Promise<string | undefined> {
    const callback = this.callback;
    if (this.token || !callback) return this.token;
    let result: unknown;
    try {
      result = await callback();
    } catch (err) {
      throw new CallbackFailure(err);
    }
    return (this.token = tokenOf(result));
  }
}

/**
 * The token REST calls should carry: the socket's current one, fetched through authCallback when there
 * is none yet. (A function, not a method: an app that uses only `Realtime` does not ship it.)
 */
export async function tokenForRest(tokens: TokenSource): Promise<string> {
  try {
    const token = await tokens.current();
    if (token) return token;
  } catch (err) {
    throw err instanceof CallbackFailure ? err.error : err;
  }
  throw new HubbubError(ErrorCode.BadAuth, 'no token: REST calls need a token or an authCallback');
}

/** What an auth frame says besides the token: the key (trusted servers only), the client id asked for, and echo. */
export interface Credentials {
  key?: string;
  clientId?: string;
  echoMessages: boolean;
}

/** The first frame on every socket, and the in-band renewal: the token if there is one, else the key. */
export function authFrame(token: string | undefined, credentials: Credentials, resumeConnectionId: string | undefined): AuthFrame {
  const frame: AuthFrame = { t: 'auth' };
  if (token) frame.token = token;
  else if (credentials.key) frame.key = credentials.key;
  if (credentials.clientId) frame.clientId = credentials.clientId;
  if (resumeConnectionId) frame.resumeConnectionId = resumeConnectionId;
  if (!credentials.echoMessages) frame.echo = false;
  return frame;
}

/**
 * Milliseconds from `now` until a token that expires at `expiresAt` is renewed: a little before it runs
 * out, so the connection never sits in the expiry grace period; never sooner than `minRenewIntervalMs`,
 * so a callback that hands out tokens of a few milliseconds (seconds passed where milliseconds were
 * meant) is not called in a loop.
 */
export function renewalDelay(expiresAt: number, now: number): number {
  const left = expiresAt - now;
  const lead = Math.min(DEFAULTS.renewBeforeExpiryMs, Math.max(0, left) / 10);
  return Math.max(DEFAULTS.minRenewIntervalMs, left - lead);
}

/** The token in what an authCallback returned, or a clear error naming what came back instead. */
export function tokenOf(result: unknown): string {
  if (typeof result === 'string' && result.length > 0) return result;
  const token = (result as { token?: unknown } | null)?.token;
  if (typeof result === 'object' && result !== null && typeof token === 'string' && token.length > 0) return token;
  throw new HubbubError(
    ErrorCode.BadAuth,
    `authCallback returned ${describe(result)}: return a token string or an object with a "token" field (what POST /auth/token answers)`,
  );
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return value.length === 0 ? 'an empty string' : 'a string';
  if (typeof value !== 'object') return typeof value;
  const v = value as Record<string, unknown>;
  if (typeof v.json === 'function' && 'status' in v) return `a fetch Response (status ${String(v.status)}): return await response.json() or its token`;
  if ('token' in v) return `an object whose "token" is ${v.token === null ? 'null' : typeof v.token === 'string' ? 'empty' : `a ${typeof v.token}`}, not a token string`;
  if (v.error !== undefined) return `an error: ${JSON.stringify(v.error).slice(0, 200)}`;
  const keys = Object.keys(value).slice(0, 5);
  return keys.length === 0 ? 'an empty object' : `an object with ${keys.map((k) => JSON.stringify(k)).join(', ')}`;
}
