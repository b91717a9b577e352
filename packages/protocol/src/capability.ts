import { ErrorCode, HubbubError } from './errors.js';

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

export interface ParseCapabilityOptions {
  /**
   * Accept operation names Hubbub does not know instead of refusing the capability. Foony's SDK
   * treats them as free-form (`Record<string, string[]>`), so its tokens may carry any.
   */
  allowUnknownOperations?: boolean;
}

/** Parse a capability given as an object or as its JSON text; throws 40001 on a bad shape. */
export function parseCapability(input: unknown, options: ParseCapabilityOptions = {}): Capability {
  const value = typeof input === 'string' ? parseJson(input) : input;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new HubbubError(ErrorCode.BadFrame, 'capability must be an object of channel pattern → operations');
  }
  const known = (op: unknown) => op === '*' || OPERATIONS.includes(op as Operation);
  const lenient = (op: unknown) => typeof op === 'string' && op.length > 0 && op.length <= 64;
  const valid = options.allowUnknownOperations ? lenient : known;
  const out: Capability = {};
  for (const [pattern, ops] of Object.entries(value as Record<string, unknown>)) {
    if (!Array.isArray(ops) || !ops.every(valid)) {
      throw new HubbubError(
        ErrorCode.BadFrame,
        options.allowUnknownOperations
          ? `capability for ${JSON.stringify(pattern)} must list operation names (strings)`
          : `capability for ${JSON.stringify(pattern)} must list operations among ${OPERATIONS.join(', ')}, *`,
      );
    }
    out[pattern] = [...(ops as string[])];
  }
  return out;
}

/**
 * Does the capability allow `op` on `channel`? Given several operations, any one of them will do.
 * No capability at all means everything is allowed.
 */
export function allows(cap: Capability | undefined, channel: string, op: Operation | readonly Operation[]): boolean {
  if (!cap) return true;
  const wanted = typeof op === 'string' ? [op] : op;
  for (const [pattern, ops] of Object.entries(cap)) {
    if (matchesPattern(pattern, channel) && wanted.some((w) => grants(ops, w))) return true;
  }
  return false;
}

export function assertAllowed(cap: Capability | undefined, channel: string, op: Operation | readonly Operation[]): void {
  if (!allows(cap, channel, op)) {
    const name = typeof op === 'string' ? op : op.join(' or ');
    throw new HubbubError(ErrorCode.Capability, `capability does not allow ${name} on ${JSON.stringify(channel)}`);
  }
}

/** Is `child` no wider than `parent`? Used when a key mints a token with a narrower capability. */
export function isCapabilitySubset(child: Capability, parent: Capability | undefined): boolean {
  if (!parent) return true;
  return Object.entries(child).every(([pattern, ops]) =>
    Object.entries(parent).some(([p, pops]) => matchesPattern(p, pattern) && ops.every((op) => op !== '*' ? grants(pops, op) : pops.includes('*'))),
  );
}

/** Does a list of granted operations cover `op` (directly, through `*`, or through an implying one)? */
function grants(ops: readonly string[], op: string): boolean {
  if (ops.includes('*') || ops.includes(op)) return true;
  const implied = IMPLIED_BY[op as Operation];
  return implied !== undefined && ops.includes(implied);
}

const patternCache = new Map<string, RegExp>();

export function matchesPattern(pattern: string, channel: string): boolean {
  if (pattern === '*') return true;
  if (!pattern.includes('*')) return pattern === channel;
  let re = patternCache.get(pattern);
  if (!re) {
    re = new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`);
    if (patternCache.size > 1000) patternCache.clear();
    patternCache.set(pattern, re);
  }
  return re.test(channel);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new HubbubError(ErrorCode.BadFrame, 'capability is not valid JSON');
  }
}
