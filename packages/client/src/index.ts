export { Realtime, Channels, ConnectionHandle, DEFAULT_ENDPOINT, type RealtimeOptions } from './realtime.js';
export { Channel, Presence, type Message, type PresenceMessage, type HistoryOptions, type PublishOptions, type PublishResult, type AttachedEvent, type ChannelState } from './channel.js';
export type { AuthCallback, AuthCallbackResult } from './auth-token.js';
export type { ConnectionState, ConnectionStateChange } from './connection-state.js';
export type { WebSocketConstructor, WebSocketLike } from './websocket.js';
export type { Clock } from './clock.js';
export { HubbubError, ErrorCode, CloseCode, closeClassOf, isValidChannelName, type CloseClass } from '@hubbub/protocol';
export {
  RealtimeClient,
  SocketClient,
  type RealtimeClientOptions,
  type RealtimeClientState,
  type TopicSubscription,
  type ConnectionEvent,
} from './realtime-client.js';
export { SyncClient, RevisionConflictError, type SyncDocument } from './sync.js';
export type { RealtimeEvent, TopicFilter } from '@hubbub/protocol';
