/** What an app's webhook endpoint can be told about. */
export const WEBHOOK_EVENTS = [
  'channel.occupied',
  'channel.vacated',
  'presence.enter',
  'presence.leave',
  'client.connected',
  'client.disconnected',
  'message.published',
  'document.changed',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];
