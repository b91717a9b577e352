/**
 * Channel globs: `*` stands for any run of characters (`:` and `.` included), every other character
 * for itself. Matched without RegExp and without backtracking: a pattern is split once at its `*`s,
 * and its literal segments are found left to right, each at its leftmost place. Taking the leftmost
 * place is never wrong: it leaves the most text for the segments after it. So a match costs one
 * `indexOf` per segment over a name of at most 255 characters, whatever the pattern.
 */

/** A pattern split at its `*`s: one segment means no wildcard (the name must equal it). */
export type GlobSegments = readonly string[];

export function globSegments(pattern: string): GlobSegments {
  return pattern.split('*');
}

/** Does the pattern whose segments these are match `text`? */
export function globMatches(segments: GlobSegments, text: string): boolean {
  const last = segments.length - 1;
  if (last === 0) return segments[0] === text;
  const head = segments[0];
  const tail = segments[last];
  // The head and the tail are anchored; they must not overlap in a text too short for both.
  if (text.length < head.length + tail.length || !text.startsWith(head) || !text.endsWith(tail)) return false;
  const end = text.length - tail.length;
  let at = head.length;
  for (let i = 1; i < last; i++) {
    const segment = segments[i];
    const found = text.indexOf(segment, at);
    if (found < 0 || found + segment.length > end) return false;
    at = found + segment.length;
  }
  return true;
}

/**
 * Is every name the pattern `inner` matches also matched by the pattern whose segments are
 * `outer`? It is when `outer` matches `inner` read as a string in which each `*` of `inner` is a
 * symbol of its own: only a `*` of `outer` can absorb it, never a literal character. Reading
 * `inner` as plain text gives exactly that, since `outer`'s segments were split at `*` and so hold
 * none. Sound: replace `inner`'s `*`s by any text, and the `*`s of `outer` that absorbed them
 * absorb that text instead, while the literal characters still line up.
 */
export function globContains(outer: GlobSegments, inner: string): boolean {
  return globMatches(outer, inner);
}
