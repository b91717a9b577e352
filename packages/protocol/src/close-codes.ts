/**
 * The one table of WebSocket close codes, shared by server and SDKs, each with what a client should
 * do next. Codes 1000–1015 are RFC 6455's; 4000–4999 are Hubbub's own. What each code means is in
 * `close-code-descriptions.ts` (for docs and logs; kept apart so the browser bundle does not carry it).
 */

/**
 * What a client does after a close:
 * - `reconnect`: reconnect now (a short random delay spreads a crowd out);
 * - `backoff`: reconnect after the exponential backoff;
 * - `renew`: get a fresh token (authCallback), then reconnect; without a way to renew, stop;
 * - `stop`: do not reconnect; the connection has failed and the reason says why.
 */
export type CloseClass = 'reconnect' | 'backoff' | 'renew' | 'stop';

export const CloseCode = {
  /** The client closed on purpose. */
  Normal: 1000,
  /** The peer is going away (page closed, process exiting). */
  GoingAway: 1001,
  /** Policy violation, e.g. an origin not allowed (RFC 6455 1008). */
  Policy: 1008,
  /** Frame over the size limit (RFC 6455 1009). */
  TooBig: 1009,
  /** Unexpected server error. */
  ServerError: 1011,
  /** Server shutting down or restarting: reconnect (RFC 6455 1012). */
  Restart: 1012,
  /** Too many connections: try again later (RFC 6455 1013). */
  TryAgainLater: 1013,
  /** No frame or pong within two heartbeat intervals. */
  HeartbeatTimeout: 4000,
  /** No auth frame arrived in time. */
  AuthTimeout: 4001,
  /** A frame before authentication that was not a valid auth frame. */
  ProtocolViolation: 4002,
  /** The client stopped reading: its unsent bytes passed the limit. */
  SlowConsumer: 4008,
  /** A new connection resumed this connection's id (Foony `resumeConnectionId`). */
  Superseded: 4009,
  /** The credentials were refused (bad signature, unknown key, malformed token). */
  AuthRefused: 4101,
  /** The token expired and was not renewed in the grace period. */
  AuthExpired: 4102,
  /** The API key behind this connection was revoked. */
  KeyRevoked: 4103,
  /** Authenticated, but this connection is not allowed (e.g. its origin or app is refused). */
  Forbidden: 4300,
} as const;

export type CloseCodeName = keyof typeof CloseCode;

/** Each code's class: the SDK reads only this, so it stays small in the browser bundle. */
const CLASSES: Record<CloseCodeName, CloseClass> = {
  Normal: 'stop',
  GoingAway: 'reconnect',
  Policy: 'stop',
  TooBig: 'backoff',
  ServerError: 'backoff',
  Restart: 'reconnect',
  TryAgainLater: 'backoff',
  HeartbeatTimeout: 'reconnect',
  AuthTimeout: 'backoff',
  ProtocolViolation: 'backoff',
  SlowConsumer: 'backoff',
  Superseded: 'stop',
  AuthRefused: 'renew',
  AuthExpired: 'renew',
  KeyRevoked: 'stop',
  Forbidden: 'stop',
};


const BY_CODE = new Map((Object.keys(CloseCode) as CloseCodeName[]).map((name) => [CloseCode[name] as number, CLASSES[name]]));
/**
 * What to do after a close with `code`. Codes not in the table: 1006 (no close frame: the link
 * dropped) and other RFC codes back off; unknown 4000–4099 stop, 4100–4199 renew, 4200–4299 reconnect,
 * and the rest back off, so a future server code never makes an old client loop.
 */
export function closeClassOf(code: number): CloseClass {
  const known = BY_CODE.get(code);
  if (known) return known;
  if (code >= 4000 && code < 4100) return 'stop';
  if (code >= 4100 && code < 4200) return 'renew';
  if (code >= 4200 && code < 4300) return 'reconnect';
  return 'backoff';
}
