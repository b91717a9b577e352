import type { HubbubError } from '@hubbub/protocol';

/**
 * Where a connection is: `initialized` → `connecting` → `connected`; a lost socket goes to
 * `disconnected` (with `retryIn` when a retry is coming) and back to `connecting`; `closed` is the
 * app's `close()`, `failed` a refusal or a give-up. `connect()` starts again from any state but the two
 * it is already on its way through (`connecting`, `connected`).
 */
export type ConnectionState = 'initialized' | 'connecting' | 'connected' | 'disconnected' | 'closed' | 'failed';

export interface ConnectionStateChange {
  current: ConnectionState;
  previous: ConnectionState;
  /** Why the connection left its previous state, when there is a reason to give. */
  reason?: HubbubError;
  /** In `disconnected`: milliseconds until the next attempt. */
  retryIn?: number;
}
