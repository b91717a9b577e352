/** WebSocket close codes the server uses, with the reason it sends beside them. */
export const CloseCode = {
  /** Server shutting down or restarting: reconnect (RFC 6455 1012). */
  Restart: 1012,
  /** Too many connections: try again later (RFC 6455 1013). */
  TryAgainLater: 1013,
  /** Frame over the size limit (RFC 6455 1009). */
  TooBig: 1009,
  /** Policy violation, e.g. origin not allowed (RFC 6455 1008). */
  Policy: 1008,
  /** No auth frame arrived in time. */
  AuthTimeout: 4001,
  /** The token expired and was not renewed in the grace period. */
  AuthExpired: 4102,
  /** The client stopped reading: its unsent bytes passed the limit. */
  SlowConsumer: 4008,
  /** A new connection resumed this connection's id (Foony `resumeConnectionId`). */
  Superseded: 4009,
  /** No frame or pong within two heartbeat intervals. */
  HeartbeatTimeout: 4000,
} as const;
