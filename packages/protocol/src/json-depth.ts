import { ErrorCode, HubbubError } from './errors.js';

/**
 * Nesting limit for JSON the server accepts. V8 parses deep JSON iteratively but stringifies it
 * recursively, so a 20 KB `[[[[…]]]]` would be accepted and then blow the stack when stored,
 * replayed or fanned out. Refusing it at the door keeps every later step safe.
 */
export const MAX_JSON_DEPTH = 64;

/** True when `text` nests arrays/objects deeper than `limit` (strings are skipped, not counted). */
export function exceedsJsonDepth(text: string, limit: number = MAX_JSON_DEPTH): boolean {
  // A document needs at least `limit + 1` opening brackets to be too deep.
  if (text.length <= limit * 2) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > limit) return true;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      depth--;
    }
  }
  return false;
}

/**
 * An HTTP request body read as JSON: an empty body is `{}`; text that is not JSON, or nests deeper
 * than MAX_JSON_DEPTH, is refused with 40001. Shared by every HTTP API of the server.
 */
export function parseJsonBody(text: string): unknown {
  if (text.length === 0) return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HubbubError(ErrorCode.BadFrame, 'request body is not valid JSON');
  }
  if (exceedsJsonDepth(text)) throw new HubbubError(ErrorCode.BadFrame, `request body nests deeper than ${MAX_JSON_DEPTH} levels`);
  return body;
}
