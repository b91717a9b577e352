export { Realtime, Channels, ConnectionHandle, DEFAULT_ENDPOINT, type RealtimeOptions } from './realtime.js';
export { Channel, Presence, type Message, type PresenceMessage, type HistoryOptions, type AttachedEvent, type ChannelState } from './channel.js';
export type { ConnectionState, ConnectionStateChange, WebSocketConstructor, WebSocketLike } from './connection.js';
export { HubbubError, ErrorCode, isValidChannelName } from '@hubbub/protocol';
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
