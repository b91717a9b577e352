import { randomBytes } from 'node:crypto';
import { HASH_KEY_BYTES, HalfSipHash } from './keyed-hash.js';

/**
 * Message ids seen in the last `windowMs`, per channel (scope) and client, with the serial each got
 * (0: none, it was ephemeral).
 *
 * Kept off the JavaScript heap. At thousands of publishes a second, two minutes of ids are hundreds
 * of thousands of live strings and map entries: promoted out of the young generation one by one, then
 * marked again by every major collection, they were what made the collector's pauses (and so the
 * publish→ack p99) long. Here an id is a few bytes in an arena and a few numbers in typed arrays:
 * no object per id. Ids are kept in generations that each cover an eighth of the window and are
 * dropped whole once all their ids are past it (no delete per id, no timer, no scan).
 *
 * Clients choose the ids, so the tables must not be floodable: ids built offline to collide under
 * a known hash once made every lookup walk all of them (seconds of stall for a few thousand). The
 * hash is keyed with a secret drawn per window, and no lookup walks more than `MAX_PROBES` slots
 * of a table. Should ids still pile up past that bound (by a one-in-billions chance, or a leaked
 * key), the window draws a new key and rehashes what it holds: the pile does not survive that.
 */
export class DedupWindow {
  private generations: IdTable[] = [];
  private readonly sliceMs: number;
  private hash: HalfSipHash;
  /** The key being looked up or stored, as UTF-8 bytes. */
  private key = Buffer.allocUnsafeSlow(256);
  private keyLength = 0;
  private keyHash = 0;
  /** What `key` holds: a publish asks `seen` then `remember` for one id, encoded and hashed once. */
  private keyScope: string | undefined;
  private keyClient = '';
  private keyMessageId = '';

  /** `hashKeys` gives a fresh secret key on every call (tests pass known ones). */
  constructor(
    private readonly windowMs: number,
    private readonly hashKeys: () => Uint8Array = () => randomBytes(HASH_KEY_BYTES),
  ) {
    this.sliceMs = Math.max(windowMs / 8, 100);
    this.hash = new HalfSipHash(hashKeys());
  }

  /** The serial of the id if it was seen within the window (0 when it had none). */
  seen(scope: string, clientId: string | undefined, messageId: string, now: number): number | undefined {
    this.encode(scope, clientId ?? '', messageId);
    for (let g = this.generations.length - 1; g >= 0; g--) {
      const gen = this.generations[g];
      const i = gen.find(this.key, this.keyLength, this.keyHash);
      if (i >= 0) return gen.times[i] + this.windowMs > now ? gen.seqs[i] : undefined;
    }
    return undefined;
  }

  remember(scope: string, clientId: string | undefined, messageId: string, seq: number | undefined, now: number): void {
    this.encode(scope, clientId ?? '', messageId);
    const table = this.current(now);
    while (!table.put(this.key, this.keyLength, this.keyHash, seq ?? 0, now)) this.rekey();
  }

  get size(): number {
    let n = 0;
    for (const gen of this.generations) n += gen.count;
    return n;
  }

  /** Drop the generations whose every id is past the window. */
  expire(now: number): void {
    let drop = 0;
    while (drop < this.generations.length && this.generations[drop].start + this.sliceMs + this.windowMs <= now) drop++;
    if (drop > 0) this.generations.splice(0, drop);
  }

  private current(now: number): IdTable {
    const last = this.generations.at(-1);
    if (last && now < last.start + this.sliceMs) return last;
    this.expire(now);
    const gen = new IdTable(now);
    this.generations.push(gen);
    return gen;
  }

  /**
   * A new hash key, and every table (and the key held) rehashed under it. A try fails only if some
   * id lands past the probe bound again, which a key nobody knows makes vanishingly rare.
   */
  private rekey(): void {
    do this.hash = new HalfSipHash(this.hashKeys());
    while (!this.generations.every((gen) => gen.rehash(this.hash)));
    this.keyHash = this.hash.hash(this.key, 0, this.keyLength);
  }

  /** `scope NUL client NUL messageId` into `key`, and its hash. */
  private encode(scope: string, client: string, messageId: string): void {
    if (messageId === this.keyMessageId && scope === this.keyScope && client === this.keyClient) return;
    // A UTF-16 code unit never takes more than 3 bytes of UTF-8.
    const most = 3 * (scope.length + client.length + messageId.length) + 2;
    if (most > this.key.length) this.key = Buffer.allocUnsafeSlow(2 * most);
    const key = this.key;
    let n = key.write(scope, 0);
    key[n++] = 0;
    n += key.write(client, n);
    key[n++] = 0;
    n += key.write(messageId, n);
    this.keyLength = n;
    this.keyHash = this.hash.hash(key, 0, n);
    this.keyScope = scope;
    this.keyClient = client;
    this.keyMessageId = messageId;
  }
}

/**
 * Slots a lookup may visit in one table. In a table at most half full, the odds that an insert
 * needs more than k probes roughly halve with each k (simulated), so past 32 is a one-in-billions
 * event unless the key leaked; then the window re-keys.
 */
const MAX_PROBES = 32;

/**
 * One generation's ids: an open-addressing hash table over typed arrays, key bytes in an arena.
 * Probing is triangular (home, +1, +3, +6, ...): over a power-of-two size it visits every slot,
 * and keys that merely share a neighbourhood do not share a probe path, as they do when probing
 * linearly (whose runs pass `MAX_PROBES` every few hundred thousand inserts at half load).
 */
class IdTable {
  count = 0;
  /** Per slot: entry index + 1, or 0 when empty. Its size is a power of two, at most half full. */
  private slots = new Int32Array(64);
  private hashes = new Uint32Array(32);
  private offsets = new Float64Array(32);
  private lengths = new Uint32Array(32);
  seqs = new Float64Array(32);
  times = new Float64Array(32);
  private arena = Buffer.allocUnsafeSlow(1024);
  private tail = 0;

  constructor(readonly start: number) {}

  /** The entry index of the key, or -1. */
  find(key: Buffer, length: number, hash: number): number {
    const mask = this.slots.length - 1;
    let s = hash & mask;
    for (let probe = 1; probe <= MAX_PROBES; probe++) {
      const e = this.slots[s] - 1;
      if (e < 0) return -1;
      if (this.hashes[e] === hash && this.lengths[e] === length) {
        const at = this.offsets[e];
        if (key.compare(this.arena, at, at + length, 0, length) === 0) return e;
      }
      s = (s + probe) & mask;
    }
    return -1;
  }

  /**
   * Store the key's serial and time, over its entry if it has one (a window shorter than a slice
   * can see an id expire and come back within one generation). False, storing nothing, when the
   * key (or, while growing, any key) finds no free slot within `MAX_PROBES`: `rehash` under a new
   * key, then put again.
   */
  put(key: Buffer, length: number, hash: number, seq: number, now: number): boolean {
    if (2 * (this.count + 1) > this.slots.length && !this.rebuild(2 * this.slots.length)) return false;
    const mask = this.slots.length - 1;
    let s = hash & mask;
    for (let probe = 1; probe <= MAX_PROBES; probe++) {
      const e = this.slots[s] - 1;
      if (e < 0) {
        this.slots[s] = this.append(key, length, hash, seq, now) + 1;
        return true;
      }
      if (this.hashes[e] === hash && this.lengths[e] === length) {
        const at = this.offsets[e];
        if (key.compare(this.arena, at, at + length, 0, length) === 0) {
          this.seqs[e] = seq;
          this.times[e] = now;
          return true;
        }
      }
      s = (s + probe) & mask;
    }
    return false;
  }

  /** Every entry's hash recomputed under `hash`, and the slots rebuilt; false as `put`. */
  rehash(hash: HalfSipHash): boolean {
    for (let e = 0; e < this.count; e++) {
      const at = this.offsets[e];
      this.hashes[e] = hash.hash(this.arena, at, at + this.lengths[e]);
    }
    return this.rebuild(this.slots.length);
  }

  /** A new entry, for the caller to put in a slot; its index. */
  private append(key: Buffer, length: number, hash: number, seq: number, now: number): number {
    if (this.count === this.seqs.length) this.growEntries();
    if (this.tail + length > this.arena.length) this.arena = grown(this.arena, this.tail, 2 * (this.tail + length));
    const e = this.count++;
    key.copy(this.arena, this.tail, 0, length);
    this.offsets[e] = this.tail;
    this.lengths[e] = length;
    this.hashes[e] = hash;
    this.seqs[e] = seq;
    this.times[e] = now;
    this.tail += length;
    return e;
  }

  /** Entry `e` into the first free slot of its probe path; false when the path is full. */
  private place(e: number): boolean {
    const mask = this.slots.length - 1;
    let s = this.hashes[e] & mask;
    for (let probe = 1; probe <= MAX_PROBES; probe++) {
      if (this.slots[s] === 0) {
        this.slots[s] = e + 1;
        return true;
      }
      s = (s + probe) & mask;
    }
    return false;
  }

  /** Slots of `size` holding every entry; false when one finds no free slot (slots stay incomplete until the next `rehash`). */
  private rebuild(size: number): boolean {
    this.slots = new Int32Array(size);
    for (let e = 0; e < this.count; e++) if (!this.place(e)) return false;
    return true;
  }

  private growEntries(): void {
    const n = 2 * this.seqs.length;
    this.hashes = grown(this.hashes, this.count, n);
    this.offsets = grown(this.offsets, this.count, n);
    this.lengths = grown(this.lengths, this.count, n);
    this.seqs = grown(this.seqs, this.count, n);
    this.times = grown(this.times, this.count, n);
  }
}

/** A copy of `array[0, used)` in a new array of `size` elements. */
function grown<T extends Uint32Array | Float64Array | Buffer>(array: T, used: number, size: number): T {
  const fresh = (array instanceof Buffer ? Buffer.allocUnsafeSlow(size) : new (array.constructor as new (n: number) => T)(size)) as T;
  fresh.set(array.subarray(0, used));
  return fresh;
}
