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
