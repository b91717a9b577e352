import { ErrorCode, HubbubError } from './errors.js';
import { globContains, globMatches, globSegments, type GlobSegments } from './glob.js';
import { MAX_CHANNEL_NAME_LENGTH } from './names.js';

/**
 * What a token may do on a channel (Ably/Foony-style). `*` in the list grants every operation.
 * `history` (reading past messages) also comes with `subscribe`, as in Foony Realtime.
 */
export type Operation = 'subscribe' | 'publish' | 'presence' | 'history';
export const OPERATIONS: readonly Operation[] = ['subscribe', 'publish', 'presence', 'history'];

/**
 * Channel pattern (with `*` wildcards) → operations granted. Operation names are strings: a
 * capability read leniently (Foony's `cap` claim) may name operations Hubbub does not know, which
 * grant nothing here but still count when comparing a token's capability with its key's.
 */
export type Capability = Record<string, string[]>;

/** An operation also granted by another one. */
const IMPLIED_BY: Partial<Record<Operation, Operation>> = { history: 'subscribe' };

/**
 * Longest channel pattern a capability may hold: no channel name is longer, so no pattern needs to be.
 * With the wildcard bound below, it caps what matching one pattern against one name can cost.
 */
export const MAX_PATTERN_LENGTH = MAX_CHANNEL_NAME_LENGTH;
/** Most `*` wildcards in one pattern: each is one more segment to find in every name checked. */
export const MAX_PATTERN_WILDCARDS = 8;
/** Most patterns in one capability: `allows` (every publish) and the subset check walk them all. */
export const MAX_CAPABILITY_PATTERNS = 64;
/** Most operations listed for one pattern: Hubbub knows five (with `*`), Foony a few more. */
export const MAX_OPERATIONS_PER_PATTERN = 16;
/** Longest operation name read leniently (Foony's `cap` claim): real ones are a word or two. */
export const MAX_OPERATION_NAME_LENGTH = 64;

export interface ParseCapabilityOptions {
  /**
   * Accept operation names Hubbub does not know instead of refusing the capability. Foony's SDK
   * treats them as free-form (`Record<string, string[]>`), so its tokens may carry any.
   */
  allowUnknownOperations?: boolean;
}

/**
 * Parse a capability given as an object or as its JSON text; throws 40001 on a bad shape or on a
 * capability past one of the bounds above. Every capability Hubbub accepts (token claims, token
 * requests, the CLI) comes through here, so nothing past a bound is ever matched.
 */
export function parseCapability(input: unknown, options: ParseCapabilityOptions = {}): Capability {
  const value = typeof input === 'string' ? parseJson(input) : input;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new HubbubError(ErrorCode.BadFrame, 'capability must be an object of channel pattern → operations');
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > MAX_CAPABILITY_PATTERNS) {
    throw new HubbubError(ErrorCode.BadFrame, `capability has ${entries.length} patterns: at most ${MAX_CAPABILITY_PATTERNS} (MAX_CAPABILITY_PATTERNS)`);
  }
  const known = (op: unknown) => op === '*' || OPERATIONS.includes(op as Operation);
  const lenient = (op: unknown) => typeof op === 'string' && op.length > 0 && op.length <= MAX_OPERATION_NAME_LENGTH;
  const valid = options.allowUnknownOperations ? lenient : known;
  const out: Capability = {};
  for (const [pattern, ops] of entries) {
    assertPatternWithinBounds(pattern);
    if (!Array.isArray(ops) || !ops.every(valid)) {
      throw new HubbubError(
        ErrorCode.BadFrame,
        options.allowUnknownOperations
          ? `capability for ${JSON.stringify(pattern)} must list operation names (strings)`
          : `capability for ${JSON.stringify(pattern)} must list operations among ${OPERATIONS.join(', ')}, *`,
      );
    }
    if (ops.length > MAX_OPERATIONS_PER_PATTERN) {
      throw new HubbubError(
        ErrorCode.BadFrame,
        `capability for ${JSON.stringify(pattern)} lists ${ops.length} operations: at most ${MAX_OPERATIONS_PER_PATTERN} (MAX_OPERATIONS_PER_PATTERN)`,
      );
    }
    out[pattern] = [...(ops as string[])];
  }
  return out;
}

function assertPatternWithinBounds(pattern: string): void {
  // Count wildcards first, stopping past the bound: a long run of them is the attack, so name that.
  let wildcards = 0;
  for (let at = pattern.indexOf('*'); at >= 0 && wildcards <= MAX_PATTERN_WILDCARDS; at = pattern.indexOf('*', at + 1)) wildcards++;
  if (wildcards > MAX_PATTERN_WILDCARDS) {
    throw new HubbubError(
      ErrorCode.BadFrame,
      `capability pattern ${shown(pattern)} has more than ${MAX_PATTERN_WILDCARDS} "*" wildcards (MAX_PATTERN_WILDCARDS)`,
    );
  }
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new HubbubError(
      ErrorCode.BadFrame,
      `capability pattern ${shown(pattern)} is ${pattern.length} characters long: at most ${MAX_PATTERN_LENGTH} (MAX_PATTERN_LENGTH)`,
    );
  }
}

/** A pattern quoted for an error message, cut short: the message must not echo kilobytes back. */
function shown(pattern: string): string {
  return JSON.stringify(pattern.length > 40 ? `${pattern.slice(0, 40)}…` : pattern);
}

/**
 * Does the capability allow `op` on `channel`? Given several operations, any one of them will do.
 * No capability at all means everything is allowed. Runs on every publish: it allocates nothing.
 */
export function allows(cap: Capability | undefined, channel: string, op: Operation | readonly Operation[]): boolean {
  if (!cap) return true;
  for (const pattern in cap) {
    if (!Object.hasOwn(cap, pattern)) continue;
    const ops = cap[pattern];
    const granted = typeof op === 'string' ? grants(ops, op) : op.some((w) => grants(ops, w));
    if (granted && matchesPattern(pattern, channel)) return true;
  }
  return false;
}

export function assertAllowed(cap: Capability | undefined, channel: string, op: Operation | readonly Operation[]): void {
  if (!allows(cap, channel, op)) {
    const name = typeof op === 'string' ? op : op.join(' or ');
    throw new HubbubError(ErrorCode.Capability, `capability does not allow ${name} on ${JSON.stringify(channel)}`);
  }
}

/**
 * Is `child` no wider than `parent`? Used when a key mints a token with a narrower capability.
 * Each operation a child pattern grants must be granted by one parent pattern that contains the
 * child pattern as a glob (every name it matches, the parent pattern matches too). `*` as a child
 * operation needs `*` in the parent: it also grants operations Hubbub does not know yet.
 */
export function isCapabilitySubset(child: Capability, parent: Capability | undefined): boolean {
  if (!parent) return true;
  const parents = Object.entries(parent);
  return Object.entries(child).every(([pattern, ops]) => {
    const containing = parents.filter(([p]) => globContains(segmentsOf(p), pattern));
    return ops.every((op) => containing.some(([, pops]) => (op === '*' ? pops.includes('*') : grants(pops, op))));
  });
}

/** Does a list of granted operations cover `op` (directly, through `*`, or through an implying one)? */
function grants(ops: readonly string[], op: string): boolean {
  if (ops.includes('*') || ops.includes(op)) return true;
  const implied = IMPLIED_BY[op as Operation];
  return implied !== undefined && ops.includes(implied);
}

/** Split patterns kept between calls (few patterns, matched on every publish), cleared past this size. */
const SEGMENTS_CACHE_SIZE = 1000;
const segmentsCache = new Map<string, GlobSegments>();

function segmentsOf(pattern: string): GlobSegments {
  let segments = segmentsCache.get(pattern);
  if (!segments) {
    segments = globSegments(pattern);
    if (segmentsCache.size >= SEGMENTS_CACHE_SIZE) segmentsCache.clear();
    segmentsCache.set(pattern, segments);
  }
  return segments;
}

/** Does the channel pattern (`*` = any run of characters, `:` and `.` included) match `channel`? Linear time. */
export function matchesPattern(pattern: string, channel: string): boolean {
  if (pattern === '*') return true;
  if (!pattern.includes('*')) return pattern === channel;
  return globMatches(segmentsOf(pattern), channel);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new HubbubError(ErrorCode.BadFrame, 'capability is not valid JSON');
  }
}
