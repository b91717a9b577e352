import { CloseCode, closeClassOf, type CloseClass, type CloseCodeName } from './close-codes.js';

/** What each close code means, for docs and logs. */
export const CLOSE_CODE_DESCRIPTIONS: Record<CloseCodeName, string> = {
  Normal: 'closed on purpose',
  GoingAway: 'the peer is going away',
  Policy: 'policy violation, e.g. an origin that is not allowed',
  TooBig: 'a frame over the size limit',
  ServerError: 'unexpected server error',
  Restart: 'the server is restarting: reconnect',
  TryAgainLater: 'too many connections: try again later',
  HeartbeatTimeout: 'no frame or pong within two heartbeat intervals',
  AuthTimeout: 'no auth frame in time',
  ProtocolViolation: 'a frame before authentication that was not a valid auth frame',
  SlowConsumer: 'slow consumer: unsent bytes passed the limit',
  Superseded: 'another connection resumed this connection id',
  AuthRefused: 'credentials refused: bad signature, unknown key or malformed token',
  AuthExpired: 'token expired and not renewed within the grace period',
  KeyRevoked: 'the API key behind this connection was revoked',
  Forbidden: 'not allowed to connect (origin, app)',
};

export interface CloseCodeInfo {
  name: CloseCodeName;
  code: number;
  class: CloseClass;
  description: string;
}

/** Every code the protocol defines (the server sends most; clients act on all), with its class and meaning: the docs' table. */
export const CLOSE_CODES: readonly CloseCodeInfo[] = (Object.keys(CloseCode) as CloseCodeName[]).map((name) => ({
  name,
  code: CloseCode[name],
  class: closeClassOf(CloseCode[name]),
  description: CLOSE_CODE_DESCRIPTIONS[name],
}));
