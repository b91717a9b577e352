/**
 * A Pusher event's `data` is text on the wire (the HTTP API always sends a string; pusher-js parses it
 * as JSON when it can). In the shared channel space a message's data is a value, so Hubbub's and the
 * binary dialect's SDKs see the object a Pusher backend meant: text that parses as JSON is stored parsed, any
 * other text as the string itself.
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

/**
 * A stored message's data as a Pusher client gets it: always the value as JSON text, strings
 * included, so pusher-js parses back exactly the value stored (Hubbub's SDK publishing the string
 * '42' gives pusher-js '42', not 42). Text a Pusher backend sent that is not JSON was stored as that
 * string, so a client that reads `data` raw gets it quoted; pusher-js gets the text itself.
 */
export function dataToPusher(data: unknown): string {
  return JSON.stringify(data ?? null);
}

/**
 * A client event's data as a Pusher-format webhook's `data`: text as it was stored, other values as
 * JSON, which is what the sending client put in its event whenever it sent text or an object.
 */
export function clientEventText(data: unknown): string {
  return typeof data === 'string' ? data : JSON.stringify(data ?? null);
}
