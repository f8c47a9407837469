import type { IncomingMessage } from 'node:http';
import type { Principal } from '../auth/principal';

/**
 * Who a concurrency slot is counted against. Callers without a valid credential are told apart by
 * address only: that is all that distinguishes them.
 */
export function concurrencyKeyOf(principal: Principal, request: IncomingMessage): string {
  switch (principal.kind) {
    case 'user':
      return `user:${principal.userId}`;
    case 'partner':
      return `partner:${principal.tokenId}`;
    case 'service':
      return 'service';
    default:
      return `address:${request.socket.remoteAddress ?? 'unknown'}`;
  }
}

/** At most `max` requests in progress per key; a request beyond is refused, never queued. */
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
