import { randomBytes } from 'node:crypto';
import type { Engine, StoredMessage } from '../../core/engine.js';
import type { Log } from '../../core/log.js';
import type { Router } from '../../core/router.js';
import type { LiveSession } from '../../core/session-registry.js';
import { PUSHER_TERMINATED_CLOSE_CODE } from './defaults.js';

/**
 * The engine key every node listens on for `terminate_connections`: a node knows only its own sessions,
 * so the request travels through the engine like a message and each node closes its own. App ids are
 * `[A-Za-z0-9_-]`, so no app's channel key can be this one.
 */
export const TERMINATE_KEY = '@hubbub/pusher-terminate-connections';

interface TerminateOrder {
  app: string;
  userId: string;
}

/**
 * `POST /apps/{app}/users/{user}/terminate_connections` across nodes: every connection of the app whose
 * client id is the user id (a Pusher connection's is its signed-in user id) is closed, on every node
 * sharing the engine. The order is an ephemeral message on `TERMINATE_KEY` (no history, no serial).
 */
export class PusherTerminations {
  constructor(
    private readonly engine: Engine,
    router: Router,
    private readonly sessions: { all(): Iterable<LiveSession> },
    private readonly log: Log,
  ) {
    router.tap({
      message: (channelKey, message) => {
        if (channelKey === TERMINATE_KEY) this.onOrder(message);
      },
      presence: () => {},
    });
  }

  /** Listen for orders from other nodes; call once the engine has started. */
  async start(): Promise<void> {
    await this.engine.listen(TERMINATE_KEY);
  }

  /** Close this node's connections of the user now, and tell every node (this one hears it too: closing twice is a no-op). */
  async terminate(app: string, userId: string): Promise<number> {
    const closed = this.closeLocal(app, userId);
    const order: TerminateOrder = { app, userId };
    await this.engine.publish(TERMINATE_KEY, { name: 'terminate', data: order, messageId: randomBytes(12).toString('base64url'), ephemeral: true });
    return closed;
  }

  private onOrder(message: StoredMessage): void {
    const order = message.data as Partial<TerminateOrder> | null;
    if (typeof order?.app !== 'string' || typeof order.userId !== 'string') {
      this.log.warn({ data: message.data }, 'ignored a terminate_connections order of the wrong shape');
      return;
    }
    this.closeLocal(order.app, order.userId);
  }

  private closeLocal(app: string, userId: string): number {
    let closed = 0;
    for (const session of [...this.sessions.all()]) {
      if (session.app !== app || session.clientId !== userId) continue;
      session.close(PUSHER_TERMINATED_CLOSE_CODE, 'connections of this user were terminated by the app');
      closed++;
    }
    return closed;
  }
}
