// Latency histograms in 0.1 ms buckets (up to 60 s): cheap to fill on the hot path, small to send over
// IPC as [bucket, count] pairs, and exact enough to merge across processes for p50/p99.
const BUCKETS = 600_000;

export class Histogram {
  constructor() {
    this.counts = new Uint32Array(BUCKETS + 1);
    this.n = 0;
    this.max = 0;
  }
  add(ms) {
    const b = Math.max(0, Math.min(BUCKETS, Math.round(ms * 10)));
    this.counts[b]++;
    this.n++;
    if (ms > this.max) this.max = ms;
  }
  /** Sparse form for IPC; resets this histogram. */
  take() {
    const pairs = [];
    if (this.n) for (let b = 0; b <= BUCKETS; b++) if (this.counts[b]) pairs.push(b, this.counts[b]);
    this.counts.fill(0);
    this.n = 0;
    this.max = 0;
    return pairs;
  }
}

/** Merge sparse histograms and read percentiles from them: { n, p50, p99, max }. */
export function summarize(sparseList) {
  const merged = new Map();
  let n = 0;
  for (const pairs of sparseList) {
    for (let i = 0; i < pairs.length; i += 2) {
      merged.set(pairs[i], (merged.get(pairs[i]) ?? 0) + pairs[i + 1]);
      n += pairs[i + 1];
    }
  }
  const keys = [...merged.keys()].sort((a, b) => a - b);
  const at = (p) => {
    if (!n) return NaN;
    const rank = Math.min(n - 1, Math.floor(n * p));
    let seen = 0;
    for (const k of keys) {
      seen += merged.get(k);
      if (seen > rank) return k / 10;
    }
    return keys.at(-1) / 10;
  };
  return { n, p50: at(0.5), p99: at(0.99), p999: at(0.999), max: n ? keys.at(-1) / 10 : NaN };
}
