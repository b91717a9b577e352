/**
 * Message ids built offline to collide under the dedup window's old hash: unseeded 32-bit FNV-1a
 * over `scope NUL client NUL messageId`. Shared by the unit flood test and the end-to-end one.
 *
 * Joux's multicollision: FNV-1a is iterated, so two blocks that take the state h to the same h'
 * can be swapped freely. Find one such pair per stage by a birthday search (about 2^16 tries for a
 * 32-bit state); k stages give 2^k ids of equal length and equal hash.
 */

/** The old hash, byte for byte (32-bit FNV-1a), resumable from a state. */
export function fnv1a(bytes: Uint8Array, state = 0x811c9dc5): number {
  let h = state;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return h >>> 0;
}

/** The bytes the window hashes for one id. */
export function dedupKey(scope: string, clientId: string, messageId: string): Buffer {
  return Buffer.from(`${scope}\0${clientId}\0${messageId}`, 'utf8');
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const BLOCK = 6;

/** `count` (rounded up to a power of two) distinct ids whose keys under `scope`/`clientId` all share one FNV-1a hash. */
export function fnvCollidingIds(scope: string, clientId: string, count: number): string[] {
  const stages = Math.max(1, Math.ceil(Math.log2(count)));
  let state = fnv1a(dedupKey(scope, clientId, ''));
  let random = 0x9e3779b9; // xorshift32: the same ids on every run
  const block = (): string => {
    let s = '';
    for (let i = 0; i < BLOCK; i++) {
      random ^= random << 13;
      random ^= random >>> 17;
      random ^= random << 5;
      s += ALPHABET[(random >>> 0) % ALPHABET.length];
    }
    return s;
  };
  const pairs: Array<[string, string]> = [];
  for (let stage = 0; stage < stages; stage++) {
    const byState = new Map<number, string>();
    for (;;) {
      const b = block();
      const next = fnv1a(Buffer.from(b, 'latin1'), state);
      const other = byState.get(next);
      if (other !== undefined && other !== b) {
        pairs.push([other, b]);
        state = next;
        break;
      }
      byState.set(next, b);
    }
  }
  const ids: string[] = [];
  for (let n = 0; n < 2 ** stages; n++) {
    let id = '';
    for (let stage = 0; stage < stages; stage++) id += pairs[stage][(n >>> stage) & 1];
    ids.push(id);
  }
  return ids;
}

/**
 * `count` ids whose keys under `scope`/`clientId` share their low `bits` bits of `hash`: the same home
 * slot in every table of up to 2^bits slots. What an attacker who learned a window's key could send.
 */
export function bucketCollidingIds(hash: (key: Buffer) => number, scope: string, clientId: string, count: number, bits: number): string[] {
  const mask = 2 ** bits - 1;
  const ids: string[] = [];
  for (let n = 0; ids.length < count; n++) {
    const id = `b-${n.toString(36)}`;
    if ((hash(dedupKey(scope, clientId, id)) & mask) === 0) ids.push(id);
  }
  return ids;
}
