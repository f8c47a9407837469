/**
 * At most `max` things in progress per key (a principal's GraphQL requests, a workspace's gateway
 * calls); one beyond is refused, never queued.
 */
export class ConcurrencyLimiter {
  private readonly inProgress = new Map<string, number>();

  constructor(private readonly max: number) {}

  /** A release function when a slot was free (call it exactly once), else undefined. */
  tryAcquire(key: string): (() => void) | undefined {
    const held = this.inProgress.get(key) ?? 0;
    if (held >= this.max) return undefined;
    this.inProgress.set(key, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.inProgress.get(key) ?? 1) - 1;
      if (left === 0) this.inProgress.delete(key);
      else this.inProgress.set(key, left);
    };
  }
}
