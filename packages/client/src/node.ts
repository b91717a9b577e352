/**
 * Node entry of @hubbub/client: the browser SDK plus what needs Node. Node 20 has no global
 * WebSocket, so the `ws` package is used when it is installed and none is passed in.
 */
import { Realtime as BrowserRealtime, type RealtimeOptions } from './realtime.js';
import { RealtimeClient as BrowserRealtimeClient, type RealtimeClientOptions } from './realtime-client.js';
import type { WebSocketConstructor } from './websocket.js';

export * from './index.js';

const nodeWebSocket: WebSocketConstructor | undefined = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
  ? undefined
  : await import('ws').then(
      (m) => (m.default ?? m) as unknown as WebSocketConstructor,
      // No `ws` installed: Realtime and RealtimeClient then throw "no WebSocket implementation: pass { WebSocket }…".
      () => undefined,
    );

export class Realtime extends BrowserRealtime {
  constructor(options: RealtimeOptions = {}) {
    super({ ...options, WebSocket: options.WebSocket ?? nodeWebSocket });
  }
}

export class RealtimeClient extends BrowserRealtimeClient {
  constructor(options: RealtimeClientOptions) {
    super({ ...options, WebSocket: options.WebSocket ?? nodeWebSocket });
  }
}

export {
  WebhookReceiver,
  verifyWebhook,
  WebhookVerificationError,
  type WebhookVerificationErrorCode,
  type WebhookBody,
  type WebhookHeaders,
  type VerifyWebhookOptions,
  type WebhookReceiverOptions,
  type VerifiedWebhook,
} from './webhooks.js';
