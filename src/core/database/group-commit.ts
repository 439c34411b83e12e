/**
 * Commits work in groups: what is added in one turn of the event loop, or while a group is being
 * committed, goes together in the next group (at most `max` items), one transaction for all of
 * it instead of one each. Each `add` resolves with its own item's result once its group has
 * committed, or rejects with the group's error.
 */
export class GroupCommit<T, R> {
  private waiting: { item: T; resolve: (result: R) => void; reject: (err: unknown) => void }[] = [];
  private flushing = false;

  constructor(
    /** Commits a group; answers one result per item, in order. */
    private readonly commit: (items: T[]) => Promise<R[]>,
    private readonly max: number,
  ) {}

  add(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.flushing) return;
      this.flushing = true;
      // After the other items of this turn of the event loop have been added too.
      setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    try {
      while (this.waiting.length) {
        const group = this.waiting.splice(0, this.max);
        try {
          const results = await this.commit(group.map((g) => g.item));
          group.forEach((g, i) => g.resolve(results[i]));
        } catch (err) {
          for (const g of group) g.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}
