import type { Dialect, Dialects } from '../core/dialect.js';
import { foonyBinary } from './foony/dialect.js';
import { hubbubJson } from './hubbub/dialect.js';

/**
 * Every dialect a node speaks, tried in order on a connection's first message. Adding a dialect is
 * its folder under compat/ and one line here.
 */
const DIALECTS: readonly Dialect[] = [hubbubJson, foonyBinary];

export const dialects: Dialects = {
  pick: (first) => DIALECTS.find((d) => d.claims(first)),
};

export { foonyBinary, hubbubJson };

/** Pusher Channels (protocol 7) at `/app/{key}`: the dialect is fixed by the path, not the first message. */
export { PusherEndpoint, isPusherPath, type PusherEndpointOptions } from './pusher/endpoint.js';
export { PUSHER_PATH_PREFIX } from './pusher/protocol.js';
export { pusherJson } from './pusher/dialect.js';

/** The binary dialect's HTTP fallback for networks that block WebSocket upgrades. */
export { LongPollTransport, LONG_POLL_DEFAULTS, type LongPollOptions } from './foony/long-poll.js';
/** The header that carries a long-poll session's token: browsers must be let to send and read it. */
export { SESSION_HEADER as LONG_POLL_SESSION_HEADER } from './foony/long-poll-options.js';

/** The binary dialect's REST shapes: what its SDK's `Rest` client sends and reads. */
export {
  MAX_REST_BATCH,
  checkPublishItem,
  messageIdOf,
  publishMember,
  restMember,
  restMessages,
  tokenDetails,
  type PublishItem,
  type RestMessage,
  type RestPresenceMember,
  type TokenDetails,
} from './foony/rest-shapes.js';

/** Tokens its SDK's `createJwt` signs with an API key's secret, and what the server mints likewise. */
export { keyTokenCapability, signKeyToken, type KeyToken } from './foony/token-claims.js';
