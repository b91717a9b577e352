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

/** The binary dialect's HTTP fallback for networks that block WebSocket upgrades. */
export { LongPollTransport, LONG_POLL_DEFAULTS, type LongPollOptions } from './foony/long-poll.js';
