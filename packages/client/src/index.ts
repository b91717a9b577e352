export { Realtime, Channels, ConnectionHandle, DEFAULT_ENDPOINT, type RealtimeOptions } from './realtime.js';
export { Channel, Presence, type Message, type PresenceMessage, type HistoryOptions, type AttachedEvent, type ChannelState } from './channel.js';
export type { ConnectionState, ConnectionStateChange, WebSocketConstructor, WebSocketLike } from './connection.js';
export { HubbubError, ErrorCode, isValidChannelName } from '@hubbub/protocol';
