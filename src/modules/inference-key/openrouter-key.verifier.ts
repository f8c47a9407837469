import { usdNumberToMicros } from '../../money/usd';

export interface KeyStanding {
  limitMicros: number | null;
  limitRemainingMicros: number | null;
  isFreeTier: boolean | null;
}

export type KeyCheck = ({ outcome: 'active' } & KeyStanding) | { outcome: 'rejected' } | { outcome: 'unreachable' } | { outcome: 'skipped' };

/** A live check whatever OPENROUTER_VERIFY_KEYS says (verifyKey, the periodic re-check), with the reason of a refusal. */
export type LiveKeyCheck = ({ outcome: 'active' } & KeyStanding) | { outcome: 'refused'; status: number; reason: string } | { outcome: 'unreachable' };

interface KeyInfoBody {
  data?: { limit?: unknown; limit_remaining?: unknown; is_free_tier?: unknown };
}

/**
 * Why OpenRouter refuses a key, in our words: its own error text is never relayed, so nothing
 * it echoes (the key, an account detail) can reach a client.
 */
const REFUSALS: Record<number, string> = {
  401: 'OpenRouter rejected this key: it is invalid, disabled or deleted',
  402: 'OpenRouter refused this key: its account is out of credits',
  403: 'OpenRouter refused this key: its credit limit is exceeded',
};

/**
 * Asks OpenRouter about a key (`GET /key`). Only the key's own standing is read back; nothing of
 * the response body or URL ever reaches a client or a log line.
 */
export class OpenRouterKeyVerifier {
  constructor(
    private readonly baseUrl: string,
    private readonly enabled: boolean,
    private readonly timeoutMs = 3000,
  ) {}

  /** The check on save and replace, which OPENROUTER_VERIFY_KEYS=false turns off. */
  async check(key: string): Promise<KeyCheck> {
    if (!this.enabled) return { outcome: 'skipped' };
    const live = await this.checkLive(key);
    if (live.outcome === 'refused') return live.status === 401 ? { outcome: 'rejected' } : { outcome: 'unreachable' };
    return live;
  }

  async checkLive(key: string): Promise<LiveKeyCheck> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}/key`, {
        headers: { authorization: `Bearer ${key}` },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch {
      return { outcome: 'unreachable' };
    }
    const reason = REFUSALS[response.status];
    if (reason !== undefined) {
      await response.body?.cancel();
      return { outcome: 'refused', status: response.status, reason };
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
