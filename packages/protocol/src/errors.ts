/**
 * The one table of error codes, shared by server and SDKs. Codes follow Foony Realtime's table;
 * the HTTP status is derived from the first three digits so REST and sockets agree.
 */
export const ErrorCode = {
  /** Malformed frame, invalid channel name, bad request body. */
  BadFrame: 40001,
  /** Authentication failed (bad token, bad key, unknown app). */
  BadAuth: 40101,
  /** Previously valid auth has expired: fetch a new token. */
  AuthExpired: 40102,
  /** Authenticated, but not allowed (e.g. origin refused, admin only). */
  Forbidden: 40300,
  /** The token's capability does not grant the operation on this channel. */
  Capability: 40301,
  /** The token's capability does not cover this channel at all. */
  ChannelDenied: 40302,
  /** No such resource. */
  NotFound: 40400,
  /** The route exists, but does not take this HTTP method. */
  MethodNotAllowed: 40500,
  /** Optimistic-concurrency conflict (stale revision). */
  Conflict: 40900,
  /** Payload over its size limit. */
  TooLarge: 41300,
  /** Publish or connection rate limit exceeded. */
  RateLimited: 42900,
  /** Unexpected server error. */
  Server: 50000,
  /** The server could not reach what it depends on (engine or store). */
  Bootstrap: 50001,
  /** Too many connections, or the server is draining. */
  Unavailable: 50300,
} as const;

export type ErrorCodeName = keyof typeof ErrorCode;
export type ErrorCodeValue = (typeof ErrorCode)[ErrorCodeName];

/** HTTP status for a code: 40102 → 401, 50001 → 500. */
export function statusCodeFor(code: number): number {
  const status = Math.floor(code / 100);
  return status >= 400 && status < 600 ? status : 500;
}

/** The one error type of Hubbub, thrown by server and SDK alike. */
export class HubbubError extends Error {
  readonly code: number;
  readonly statusCode: number;

  constructor(code: number, message: string, statusCode: number = statusCodeFor(code)) {
    super(message);
    this.name = 'HubbubError';
    this.code = code;
    this.statusCode = statusCode;
  }

  toJSON(): { code: number; statusCode: number; message: string } {
    return { code: this.code, statusCode: this.statusCode, message: this.message };
  }
}

export function isHubbubError(err: unknown): err is HubbubError {
  return err instanceof HubbubError;
}
