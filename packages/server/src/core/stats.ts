/**
 * Plain counters the hot paths bump (no library, no labels to look up); metrics and the admin page
 * read them. Per-channel and per-app maps are bounded so a flood of names cannot grow them forever.
 */
export class Stats {
  messagesIn = 0;
  deliveries = 0;
  bytesIn = 0;
  bytesOut = 0;
  slowConsumersCut = 0;
  readonly errors = new Map<number, number>();
  readonly messagesByChannel = new Map<string, number>();
  readonly messagesByApp = new Map<string, number>();
  readonly recentErrors: Array<{ at: number; code: number; message: string }> = [];
  /** Time spent in engine.publish, in ms, for the latency histogram. */
  readonly engineLatency: number[] = [];

  published(channelKey: string, app: string): void {
    this.messagesIn++;
    bump(this.messagesByChannel, channelKey, 10_000);
    bump(this.messagesByApp, app, 1000);
  }

  error(code: number, message: string): void {
    bump(this.errors, code, 100);
    this.recentErrors.push({ at: Date.now(), code, message });
    if (this.recentErrors.length > 50) this.recentErrors.shift();
  }

  engineCall(ms: number): void {
    if (this.engineLatency.length < 10_000) this.engineLatency.push(ms);
  }

  /** Hand over the latency samples gathered since the last call. */
  drainEngineLatency(): number[] {
    return this.engineLatency.splice(0);
  }

  topChannels(n: number): Array<{ channel: string; messages: number }> {
    return [...this.messagesByChannel]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([channel, messages]) => ({ channel, messages }));
  }
}

function bump<K>(map: Map<K, number>, key: K, limit: number): void {
  const current = map.get(key);
  if (current !== undefined) map.set(key, current + 1);
  else if (map.size < limit) map.set(key, 1);
}
