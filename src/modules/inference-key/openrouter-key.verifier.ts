import { usdNumberToMicros } from '../billing/usd';

export type KeyCheck =
  | { outcome: 'active'; limitMicros: number | null; limitRemainingMicros: number | null; isFreeTier: boolean | null }
  | { outcome: 'rejected' }
  | { outcome: 'unreachable' }
  | { outcome: 'skipped' };

interface KeyInfoBody {
  data?: { limit?: unknown; limit_remaining?: unknown; is_free_tier?: unknown };
}

/**
 * Asks OpenRouter about a key before it is stored (`GET /key`). Only the key's own standing is
 * read back; nothing of the response body or URL ever reaches a client or a log line.
 */
export class OpenRouterKeyVerifier {
  constructor(
    private readonly baseUrl: string,
    private readonly enabled: boolean,
    private readonly timeoutMs = 3000,
  ) {}

  async check(key: string): Promise<KeyCheck> {
    if (!this.enabled) return { outcome: 'skipped' };
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}/key`, {
        headers: { authorization: `Bearer ${key}` },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch {
      return { outcome: 'unreachable' };
    }
    if (response.status === 401) {
      await response.body?.cancel();
      return { outcome: 'rejected' };
    }
    if (!response.ok) {
      await response.body?.cancel();
      return { outcome: 'unreachable' };
    }
    const body = (await response.json().catch(() => ({}))) as KeyInfoBody;
    const data = body.data ?? {};
    return {
      outcome: 'active',
      limitMicros: usdNumberToMicros(data.limit) ?? null,
      limitRemainingMicros: usdNumberToMicros(data.limit_remaining) ?? null,
      isFreeTier: typeof data.is_free_tier === 'boolean' ? data.is_free_tier : null,
    };
  }
}
