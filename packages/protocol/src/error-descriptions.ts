import { ErrorCode, type ErrorCodeName } from './errors.js';

/**
 * What each error code means, in a few words: for the docs' table (scripts/docs.mjs), the admin
 * page and logs. Typed by `ErrorCodeName`, so a new code without a description fails to compile.
 * Kept apart from errors.ts so that the browser bundle, which never shows them, does not carry them.
 */
export const ERROR_DESCRIPTIONS: Record<ErrorCodeName, string> = {
  BadFrame: 'malformed frame, invalid channel name, bad request body, or a capability past its bounds',
  BadAuth: 'credentials refused: bad, malformed or revoked token or key, wrong app, or no auth yet',
  AuthExpired: 'the token has expired: get a new one (authCallback)',
  Forbidden: 'authenticated, but not allowed (origin refused, admin only, another client id)',
  Capability: "the token's capability does not grant the operation on this channel",
  ChannelDenied: "reserved (Foony's table): a channel refused outright; this server does not send it",
  NotFound: 'no such route or resource',
  MethodNotAllowed: 'the route exists, but does not take this HTTP method',
  Conflict: 'stale revision (optimistic-concurrency conflict)',
  TooLarge: 'payload, frame or presence data over its size limit',
  RateLimited: 'over a per-connection limit: publish or presence rate, subscriptions, presence channels',
  Server: 'unexpected server error (see the server log)',
  Bootstrap: 'the engine (Redis) or the store (SQLite, PostgreSQL) cannot be reached',
  Unavailable: 'not connected (SDK), too many long-poll sessions, or a slow consumer cut off',
};

export interface ErrorCodeInfo {
  name: ErrorCodeName;
  code: number;
  description: string;
}

/** Every error code with its name and meaning, in code order: the table the docs are generated from. */
export const ERROR_CODES: readonly ErrorCodeInfo[] = (Object.keys(ErrorCode) as ErrorCodeName[])
  .map((name) => ({ name, code: ErrorCode[name], description: ERROR_DESCRIPTIONS[name] }))
  .sort((a, b) => a.code - b.code);
