/** Promises waiting for a state (attached, synced): settled together when it comes or fails. */
export class Waiters {
  private list: Array<{ resolve(): void; reject(err: unknown): void }> = [];

  wait(): Promise<void> {
    return new Promise((resolve, reject) => this.list.push({ resolve, reject }));
  }

  resolve(): void {
    const list = this.take();
    for (const w of list) w.resolve();
  }

  reject(err: unknown): void {
    const list = this.take();
    for (const w of list) w.reject(err);
  }

  private take() {
    const list = this.list;
    this.list = [];
    return list;
  }
}
