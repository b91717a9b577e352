import { PusherCode } from './protocol.js';

/** What the pinger needs of a connection. */
export interface Pingable {
  readonly lastActivity: number;
  readonly pingSentAt?: number;
  ping(): void;
  close(code: number, reason: string): void;
}

/**
 * Pusher's activity check from the server side, for a node's Pusher connections with one timer
 * between them (not one per connection): a client silent for `activityTimeoutMs` gets `pusher:ping`,
 * and one that has not answered (with anything) `activityTimeoutMs` after that is closed with 4201.
 */
export class PusherPinger {
  private readonly connections = new Set<Pingable>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly activityTimeoutMs: number) {}

  add(connection: Pingable): void {
    this.connections.add(connection);
    if (this.timer) return;
    this.timer = setInterval(() => this.sweep(), Math.max(100, Math.floor(this.activityTimeoutMs / 2)));
    this.timer.unref();
  }

  remove(connection: Pingable): void {
    this.connections.delete(connection);
    if (this.connections.size > 0 || !this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private sweep(): void {
    const now = Date.now();
    const timeout = this.activityTimeoutMs;
    for (const connection of [...this.connections]) {
      if (connection.pingSentAt !== undefined) {
        if (now - connection.pingSentAt >= timeout) connection.close(PusherCode.PongNotReceived, 'pong not received');
      } else if (now - connection.lastActivity >= timeout) {
        connection.ping();
      }
    }
  }
}
