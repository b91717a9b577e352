import type { IncomingMessage, Server } from 'node:http';
import { WsTransport } from './ws.js';
import { EmbeddedSocket } from './embedded-socket.js';
import { EMBED_HEARTBEAT_MS, MAX_BUFFERED_BYTES, MAX_CONNECTIONS, MAX_PAYLOAD_BYTES } from '../core/defaults.js';

export interface HubSocketServerOptions {
  /** Ping interval; a socket silent for two intervals is dropped. Default 30000 ms. */
  heartbeatMs?: number;
  /** Largest message in bytes. Default 64 KiB. */
  maxPayload?: number;
  /** Default 10000; more get close code 1013. */
  maxConnections?: number;
  /** Only upgrades to these paths (e.g. ['/ws']); default any path. */
  paths?: string[];
  /** Origins allowed to connect; default any. */
  allowedOrigins?: string[];
  /** Decide on the upgrade: a falsy result or a rejection answers 401. The result is `socket.auth`. */
  authFn?(req: IncomingMessage): unknown;
}

export type ConnectionHandler = (socket: EmbeddedSocket, req: IncomingMessage) => void;

/** A WebSocket server for people who already run a Node HTTP server. */
export class HubSocketServer {
  private transport?: WsTransport;
  readonly sockets = new Map<string, EmbeddedSocket>();

  constructor(private readonly options: HubSocketServerOptions = {}) {}

  attach(server: Server, onConnection: ConnectionHandler): this {
    const { heartbeatMs = EMBED_HEARTBEAT_MS, maxPayload = MAX_PAYLOAD_BYTES, maxConnections = MAX_CONNECTIONS } = this.options;
    this.transport = new WsTransport(
      {
        heartbeatMs,
        maxPayload,
        maxConnections,
        maxBufferedBytes: MAX_BUFFERED_BYTES,
        paths: this.options.paths,
        allowedOrigins: this.options.allowedOrigins,
        authorize: this.options.authFn,
      },
      {
        open: (wire, req, auth) => {
          const socket = new EmbeddedSocket(wire, auth);
          this.sockets.set(socket.id, socket);
          socket.onClose(() => this.sockets.delete(socket.id));
          onConnection(socket, req);
          return socket;
        },
      },
    );
    this.transport.attach(server);
    return this;
  }

  async close(): Promise<void> {
    await this.transport?.close(1001, 'server going away');
  }
}
