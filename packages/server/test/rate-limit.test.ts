import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../src/core/rate-limit.js';

/** How many of `count` takes at the same instant succeed. */
function takeAll(bucket: TokenBucket, now: number, count: number): number {
  let ok = 0;
  for (let i = 0; i < count; i++) if (bucket.take(now)) ok++;
  return ok;
}

describe('TokenBucket', () => {
  it('allows a full burst at once, then refuses', () => {
    const bucket = new TokenBucket(10, 5, 0);
    expect(takeAll(bucket, 0, 5)).toBe(5);
    expect(bucket.take(0)).toBe(false);
  });

  it('refills at ratePerSecond', () => {
    const bucket = new TokenBucket(10, 5, 0);
    takeAll(bucket, 0, 5);
    expect(bucket.take(50)).toBe(false); // half a token
    expect(bucket.take(100)).toBe(true); // one token after 100 ms at 10/s
    expect(bucket.take(100)).toBe(false);
    expect(takeAll(bucket, 300, 10)).toBe(2);
  });

  it('never holds more than the burst, however long it was idle', () => {
    const bucket = new TokenBucket(10, 5, 0);
    expect(takeAll(bucket, 60_000, 100)).toBe(5);
  });

  it('sustains the rate over time', () => {
    const bucket = new TokenBucket(50, 100, 0);
    let ok = 0;
    // 10 seconds of trying every millisecond: the burst plus 50 per second.
    for (let t = 0; t <= 10_000; t++) if (bucket.take(t)) ok++;
    expect(ok).toBe(100 + 500);
  });

  it('a rate of 0 means unlimited', () => {
    const bucket = new TokenBucket(0, 1, 0);
    expect(takeAll(bucket, 0, 1_000)).toBe(1_000);
  });

  it('fractional rates accumulate', () => {
    const bucket = new TokenBucket(0.5, 1, 0);
    expect(bucket.take(0)).toBe(true);
    expect(bucket.take(1_000)).toBe(false);
    expect(bucket.take(2_000)).toBe(true);
  });
});
