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
