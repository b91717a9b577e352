/**
 * Presence joins of one channel on this node, one at a time. A join checks the member cap, enters and
 * reads the member list; run concurrently, a thousand joins all passed the check at once (the cap
 * held only on paper) and each read a member list thousands long (GBs). One at a time, the cap holds
 * on this node, nodes racing each other pass it by at most one join each, and one list is read at a
 * time. Each connection's own requests already go one at a time, so a channel has at most one join
 * waiting here per connection.
 */
export class JoinGate {
  private readonly tails = new Map<string, Promise<void>>();

  run(channelKey: string, join: () => Promise<void>): Promise<void> {
    const done = (this.tails.get(channelKey) ?? Promise.resolve()).then(join);
    // The join's own caller hears its failure; the next join only waits for it to end.
    const tail = done.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(channelKey, tail);
    void tail.then(() => {
      if (this.tails.get(channelKey) === tail) this.tails.delete(channelKey);
    });
    return done;
  }
}
