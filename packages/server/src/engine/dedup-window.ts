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
 */
export class DedupWindow {
  private generations: IdTable[] = [];
  private readonly sliceMs: number;
  /** The key being looked up or stored, as UTF-8 bytes. */
  private key = Buffer.allocUnsafeSlow(256);
  private keyLength = 0;
  private keyHash = 0;

  constructor(private readonly windowMs: number) {
    this.sliceMs = Math.max(windowMs / 8, 100);
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
    this.current(now).add(this.key, this.keyLength, this.keyHash, seq ?? 0, now);
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

  /** `scope NUL client NUL messageId` into `key`, and its hash. */
  private encode(scope: string, client: string, messageId: string): void {
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
    this.keyHash = fnv1a(key, n);
  }
}

/** One generation's ids: an open-addressing hash table over typed arrays, key bytes in an arena. */
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
    for (let s = hash & mask; ; s = (s + 1) & mask) {
      const e = this.slots[s] - 1;
      if (e < 0) return -1;
      if (this.hashes[e] === hash && this.lengths[e] === length) {
        const at = this.offsets[e];
        if (key.compare(this.arena, at, at + length, 0, length) === 0) return e;
      }
    }
  }

  /** Store a key that `find` does not know. */
  add(key: Buffer, length: number, hash: number, seq: number, now: number): void {
    if (this.count === this.seqs.length) this.growEntries();
    if (this.tail + length > this.arena.length) this.arena = grown(this.arena, this.tail, 2 * (this.tail + length));
    if (2 * (this.count + 1) > this.slots.length) this.rehash(2 * this.slots.length);
    const e = this.count++;
    key.copy(this.arena, this.tail, 0, length);
    this.offsets[e] = this.tail;
    this.lengths[e] = length;
    this.hashes[e] = hash;
    this.seqs[e] = seq;
    this.times[e] = now;
    this.tail += length;
    this.place(e);
  }

  private place(e: number): void {
    const mask = this.slots.length - 1;
    let s = this.hashes[e] & mask;
    while (this.slots[s] !== 0) s = (s + 1) & mask;
    this.slots[s] = e + 1;
  }

  private rehash(size: number): void {
    this.slots = new Int32Array(size);
    for (let e = 0; e < this.count; e++) this.place(e);
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

/** 32-bit FNV-1a over `length` bytes. */
function fnv1a(bytes: Buffer, length: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return h >>> 0;
}
