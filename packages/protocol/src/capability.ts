import { ErrorCode, HubbubError } from './errors.js';

/** What a token may do on a channel (Ably-style). `*` in the list grants all three. */
export type Operation = 'subscribe' | 'publish' | 'presence';
export const OPERATIONS: readonly Operation[] = ['subscribe', 'publish', 'presence'];

/** Channel pattern (with `*` wildcards) → operations granted. */
export type Capability = Record<string, Array<Operation | '*'>>;

/** Parse a capability given as an object or as its JSON text; throws 40001 on a bad shape. */
export function parseCapability(input: unknown): Capability {
  const value = typeof input === 'string' ? parseJson(input) : input;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new HubbubError(ErrorCode.BadFrame, 'capability must be an object of channel pattern → operations');
  }
  const out: Capability = {};
  for (const [pattern, ops] of Object.entries(value as Record<string, unknown>)) {
    if (!Array.isArray(ops) || !ops.every((op) => op === '*' || OPERATIONS.includes(op as Operation))) {
      throw new HubbubError(
        ErrorCode.BadFrame,
        `capability for ${JSON.stringify(pattern)} must list operations among subscribe, publish, presence, *`,
      );
    }
    out[pattern] = ops as Array<Operation | '*'>;
  }
  return out;
}

/** Does the capability allow `op` on `channel`? No capability at all means everything is allowed. */
export function allows(cap: Capability | undefined, channel: string, op: Operation): boolean {
  if (!cap) return true;
  for (const [pattern, ops] of Object.entries(cap)) {
    if (matchesPattern(pattern, channel) && (ops.includes('*') || ops.includes(op))) return true;
  }
  return false;
}

export function assertAllowed(cap: Capability | undefined, channel: string, op: Operation): void {
  if (!allows(cap, channel, op)) {
    throw new HubbubError(ErrorCode.Capability, `capability does not allow ${op} on ${JSON.stringify(channel)}`);
  }
}

/** Is `child` no wider than `parent`? Used when a key mints a token with a narrower capability. */
export function isCapabilitySubset(child: Capability, parent: Capability | undefined): boolean {
  if (!parent) return true;
  return Object.entries(child).every(([pattern, ops]) =>
    Object.entries(parent).some(
      ([p, pops]) => matchesPattern(p, pattern) && (pops.includes('*') || ops.every((op) => op !== '*' && pops.includes(op))),
    ),
  );
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
