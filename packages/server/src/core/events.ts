import { randomBytes } from 'node:crypto';
import type { RealtimeEvent } from '@hubbub/protocol';
import type { Engine } from './engine.js';

/*
 * Platform events (documents, database changes, direct messages) travel through the engine like
 * channel messages, under keys no channel name can take: `/` and `@` are not allowed in names.
 */

export function topicKey(app: string, topic: string): string {
  return `${app}/@topic/${topic}`;
}

export function directKey(app: string, clientId: string): string {
  return `${app}/@dm/${clientId}`;
}

export function newEventId(): string {
  return `evt_${randomBytes(12).toString('base64url')}`;
}

/**
 * Deliver an event to every subscriber of its topic on every node. Kept in the topic's history like a
 * channel message, so a subscriber that reconnects resumes from its cursor; the event id is the
 * messageId, so publishing the same event twice delivers it once.
 */
export async function publishEvent(engine: Engine, app: string, event: RealtimeEvent): Promise<void> {
  await engine.publish(topicKey(app, event.topic), { name: event.type, data: event, messageId: event.id });
}
