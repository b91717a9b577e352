export { HubbubServer, DEFAULT_SERVER_OPTIONS, type ServerOptions } from './service/server.js';
export { TokenAuthority } from './service/tokens.js';
export { KeyStore } from './service/keys.js';
export { MemoryEngine } from './engine/memory.js';
export { BusEngine, EngineBus } from './engine/bus.js';
export type * from './core/engine.js';
export { DEFAULT_RETENTION, type RetentionOptions, type NamespaceRetention } from './engine/retention.js';
export { ChannelPresence } from './core/presence.js';
export { Router } from './core/router.js';
export { Session } from './core/session.js';
export { DEFAULT_LIMITS, type SessionLimits } from './core/session-limits.js';
export type { Wire } from './core/wire.js';
export type { Dialect, DialectPolicy, Dialects, OutputBatch } from './core/dialect.js';
export { CloseCode } from './core/close-codes.js';
export { HubbubError, ErrorCode } from '@hubbub/protocol';
export { ChannelHub, ChannelEvents, type HubConnection, type ChannelHubOptions, type PublishScope } from './core/channel-hub.js';
export { HubSocketServer, type HubSocketServerOptions, type ConnectionHandler } from './transport/hub-socket-server.js';
export { EmbeddedSocket, type EmbeddedMessage } from './transport/embedded-socket.js';
export {
  createRealtime,
  Realtime,
  type CreateRealtimeOptions,
  type RealtimeConnection,
  type RealtimeChannel,
  type OutgoingEvent,
  type SseOptions,
  type UpgradeHooks,
  type ChannelHooks,
} from './embed/realtime.js';
export { toWebRequest, sendWebResponse } from './embed/node-adapter.js';
export { RedisEngine, type RedisEngineOptions } from './engine/redis.js';
