/**
 * A Pusher event's `data` is text on the wire (the HTTP API always sends a string; pusher-js parses it
 * as JSON when it can). In the shared channel space a message's data is a value, so Hubbub's and the
 * binary dialect's SDKs see the object a Pusher backend meant: text that parses as JSON is stored parsed, any
 * other text as the string itself. Pusher clients get text back, so they read what Pusher would give them.
 */
export function dataFromPusher(data: unknown): unknown {
  if (typeof data !== 'string') return data;
  try {
    return JSON.parse(data);
  } catch {
    // Not JSON: Pusher relays such text as it is, and so does the channel space.
    return data;
  }
}

/** A stored message's data as a Pusher client expects it: text. */
export function dataToPusher(data: unknown): string {
  return typeof data === 'string' ? data : JSON.stringify(data ?? null);
}
