import { TokenBucket } from '../core/rate-limit.js';

/** REST publishes per second per credential, sustained (`--rest-publish-rate`). */
export const DEFAULT_REST_PUBLISH_RATE = 100;
/** REST history and presence reads per second per credential, sustained (`--rest-read-rate`; burst 2x). */
export const DEFAULT_REST_READ_RATE = 100;
/**
 * REST publishes one credential may make at once (`--rest-publish-burst`): one largest array
 * publish (`MAX_REST_BATCH` members) from a rested credential.
 */
export const DEFAULT_REST_PUBLISH_BURST = 1000;
/**
 * Most credentials with a bucket at once. An entry is about 350 bytes with a 40-character credential
 * (measured), so the map stays under about 35 MiB whatever the traffic; past this the least
 * recently used bucket goes first.
 */
export const MAX_RATE_LIMITED_CREDENTIALS = 100_000;

export interface CredentialRateLimitOptions {
  ratePerSecond: number;
  burst: number;
  maxCredentials?: number;
}

interface Tracked {
  bucket: TokenBucket;
  lastUsed: number;
}

/**
 * One token bucket per credential (an API key, or an app's client id), each member of a publish
 * one token. Buckets are kept in order of last use, so the ones idle long enough to be full again
 * are found at the front and dropped without a scan: forgetting a full bucket changes nothing, a
 * new one starts full. Past `maxCredentials` the bucket unused longest is dropped too; only that
 * credential gains (a full bucket), and only after that many others published since.
 */
export class CredentialRateLimiter {
  private readonly buckets = new Map<string, Tracked>();
  private readonly refillMs: number;
  private readonly maxCredentials: number;

  constructor(private readonly options: CredentialRateLimitOptions) {
    this.refillMs = (options.burst / options.ratePerSecond) * 1000;
    this.maxCredentials = options.maxCredentials ?? MAX_RATE_LIMITED_CREDENTIALS;
  }

  get ratePerSecond(): number {
    return this.options.ratePerSecond;
  }

  get burst(): number {
    return this.options.burst;
  }

  /** Buckets held now. */
  get size(): number {
    return this.buckets.size;
  }

  /**
   * Take `count` tokens from the credential's bucket: 0 when they were there, else the ms to wait
   * before `count` can pass (Infinity when `count` is over the burst: it never can; nothing is
   * taken then). A refused take spends what the bucket held, so retrying before the wait is over
   * only pushes the wait back.
   */
  take(credential: string, count: number, now = Date.now()): number {
    if (count > this.options.burst) return Infinity;
    this.forgetIdle(now);
    let tracked = this.buckets.get(credential);
    if (tracked) this.buckets.delete(credential);
    else {
      if (this.buckets.size >= this.maxCredentials) this.buckets.delete(this.buckets.keys().next().value!);
      tracked = { bucket: new TokenBucket(this.options.ratePerSecond, this.options.burst, now), lastUsed: now };
    }
    // Re-inserted last: the map stays ordered by last use.
    tracked.lastUsed = now;
    this.buckets.set(credential, tracked);
    for (let i = 0; i < count; i++) {
      if (!tracked.bucket.take(now)) return Math.ceil((count * 1000) / this.options.ratePerSecond);
    }
    return 0;
  }

  private forgetIdle(now: number): void {
    for (const [credential, tracked] of this.buckets) {
      if (tracked.lastUsed + this.refillMs > now) return;
      this.buckets.delete(credential);
    }
  }
}
