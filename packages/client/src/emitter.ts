type Listener<T> = (value: T) => void;

/** A minimal emitter: named events plus listeners on every event. */
export class Emitter<T> {
  private readonly named = new Map<string, Set<Listener<T>>>();
  private readonly any = new Set<Listener<T>>();

  on(event: string | undefined, fn: Listener<T>): () => void {
    if (event === undefined) this.any.add(fn);
    else {
      let set = this.named.get(event);
      if (!set) this.named.set(event, (set = new Set()));
      set.add(fn);
    }
    return () => this.off(event, fn);
  }

  off(event?: string, fn?: Listener<T>): void {
    if (event === undefined && fn === undefined) {
      this.any.clear();
      this.named.clear();
    } else if (fn === undefined) {
      this.named.delete(event!);
    } else if (event === undefined) {
      this.any.delete(fn);
      for (const set of this.named.values()) set.delete(fn);
    } else {
      this.named.get(event)?.delete(fn);
    }
  }

  emit(event: string, value: T): void {
    for (const fn of [...(this.named.get(event) ?? []), ...this.any]) {
      try {
        fn(value);
      } catch (err) {
        // A listener's bug must not break delivery to the others.
        setTimeout(() => {
          throw err;
        });
      }
    }
  }
}
