/**
 * Hash flooding of the dedup window: ids computed offline to collide must not make it quadratic.
 * The ids collide under the window's former unseeded FNV-1a; a keyed hash scatters them, and the
 * probe bound caps what even ids colliding under the current key could cost.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DedupWindow } from '../src/engine/dedup-window.js';
import { HASH_KEY_BYTES, HalfSipHash } from '../src/engine/keyed-hash.js';
import { bucketCollidingIds, dedupKey, fnv1a, fnvCollidingIds } from './dedup-window-collisions.js';

const SCOPE = 'app/flood';
const CLIENT = 'mallory';

describe('DedupWindow under colliding ids', () => {
  const ids = fnvCollidingIds(SCOPE, CLIENT, 5000).slice(0, 5000);

  it('the offline ids really collide under unseeded FNV-1a', () => {
    expect(new Set(ids).size).toBe(5000);
    const hashes = new Set(ids.map((id) => fnv1a(dedupKey(SCOPE, CLIENT, id))));
    expect(hashes.size).toBe(1);
  });

  it('takes milliseconds, not seconds, to check and remember 5000 of them', () => {
    const window = new DedupWindow(120_000);
    let known = 0;
    const started = performance.now();
    for (let i = 0; i < ids.length; i++) {
      if (window.seen(SCOPE, CLIENT, ids[i], 1_000) !== undefined) known++;
      else window.remember(SCOPE, CLIENT, ids[i], i + 1, 1_000);
    }
    const elapsed = performance.now() - started;
    expect(known, 'ids taken for ones seen before').toBe(0);
    expect(elapsed, `5000 colliding ids took ${elapsed.toFixed(0)} ms`).toBeLessThan(100);
    // And every one of them is still deduplicated, with its own serial.
    for (let i = 0; i < ids.length; i++) expect(window.seen(SCOPE, CLIENT, ids[i], 2_000)).toBe(i + 1);
    expect(window.size).toBe(5000);
  });
});

describe('DedupWindow when its own key is known', () => {
  it('re-keys itself once ids pile up past the probe bound, and forgets none', () => {
    const leaked = new Uint8Array(HASH_KEY_BYTES);
    let keys = 0;
    const window = new DedupWindow(120_000, () => (keys++ === 0 ? leaked : randomBytes(HASH_KEY_BYTES)));
    const known = new HalfSipHash(leaked);
    // 400 ids sharing one home slot under the leaked key in every table of up to 1024 slots (all
    // this test's tables: 400 ids fill at most 1024).
    const ids = bucketCollidingIds((key) => known.hash(key, 0, key.length), SCOPE, CLIENT, 400, 10);
    for (let i = 0; i < ids.length; i++) {
      expect(window.seen(SCOPE, CLIENT, ids[i], 1_000)).toBeUndefined();
      window.remember(SCOPE, CLIENT, ids[i], i + 1, 1_000);
    }
    expect(keys, 'hash keys drawn').toBeGreaterThan(1);
    for (let i = 0; i < ids.length; i++) expect(window.seen(SCOPE, CLIENT, ids[i], 2_000)).toBe(i + 1);
    expect(window.seen(SCOPE, CLIENT, 'never-sent', 2_000)).toBeUndefined();
    expect(window.size).toBe(400);
  });
});
