import type { OutboxItem } from '../store/store.js';
import type { DestinationPolicy } from './destination-policy.js';
import { postWebhook, type PostOutcome } from './post.js';
import type { Target } from './targets.js';

/** How an operator allows private destinations (the CLI flag; `webhookAllowPrivate` in code). */
export const ALLOW_HINT = 'allow private destinations with --webhook-allow-private';

/** One attempt: the item signed as the endpoint's format says and POSTed to it. Never rejects. */
export async function deliver({ endpoint, format }: Pick<Target, 'endpoint' | 'format'>, item: OutboxItem, policy: DestinationPolicy): Promise<PostOutcome> {
  try {
    const headers = format.headers(endpoint, item.eventId, item.payload);
    return await postWebhook(endpoint.url, headers, item.payload, { policy });
  } catch (err) {
    return { delivered: false, reason: (err as Error).message };
  }
}

/** An endpoint as logged: scheme, host and path; credentials and query (where receivers put tokens) left out. */
export function endpointForLog(url: string): string {
  if (!URL.canParse(url)) return '(not a valid URL)';
  const { protocol, host, pathname } = new URL(url);
  return `${protocol}//${host}${pathname}`;
}
