import { usdNumberToMicros } from '../../money/usd';
import { rawCostMicrosOf } from '../usage/raw-cost';

/** What a completed call cost, from OpenRouter's `usage` object. */
export interface UpstreamUsage {
  inputTokens: number;
  outputTokens: number;
  /** null when the cost is missing, negative or not finite: the record is flagged for review */
  rawCostMicros: number | null;
  generationId: string | null;
  isByok: boolean | null;
  upstreamInferenceCostMicros: number | null;
}

interface UsageObject {
  prompt_tokens?: unknown;
  completion_tokens?: unknown;
  cost?: unknown;
  is_byok?: unknown;
  cost_details?: { upstream_inference_cost?: unknown } | null;
}

function tokens(value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : 0;
}

const MAX_GENERATION_ID_LENGTH = 128;

function generationIdOf(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_GENERATION_ID_LENGTH ? value : null;
}

/** What OpenRouter reported for a call (its answer's `id` is the generation id); the raw cost is summed by the usage module's rule. */
export function usageFrom(usage: UsageObject | undefined | null, generationId?: unknown): UpstreamUsage {
  if (!usage || typeof usage !== 'object') {
    return { inputTokens: 0, outputTokens: 0, rawCostMicros: null, generationId: generationIdOf(generationId), isByok: null, upstreamInferenceCostMicros: null };
  }
  const isByok = typeof usage.is_byok === 'boolean' ? usage.is_byok : null;
  const upstreamInferenceCostMicros = usdNumberToMicros(usage.cost_details?.upstream_inference_cost) ?? null;
  return {
    inputTokens: tokens(usage.prompt_tokens),
    outputTokens: tokens(usage.completion_tokens),
    rawCostMicros: rawCostMicrosOf(usdNumberToMicros(usage.cost), isByok, upstreamInferenceCostMicros),
    generationId: generationIdOf(generationId),
    isByok,
    upstreamInferenceCostMicros,
  };
}

/**
 * Watches a server-sent-event stream as it is relayed, keeping the last `usage` object and
 * model seen, without holding the stream back or buffering more than one event.
 */
export class SseUsageTap {
  private pending = '';
  usage?: UsageObject;
  model?: string;
  generationId?: string;
  /** events carrying some content: the output tokens seen, roughly, when no usage arrives */
  contentEvents = 0;

  feed(chunk: Buffer): void {
    this.pending += chunk.toString('utf8');
    let boundary = this.pending.search(/\r?\n\r?\n/);
    while (boundary >= 0) {
      const event = this.pending.slice(0, boundary);
      this.pending = this.pending.slice(boundary).replace(/^\r?\n\r?\n/, '');
      this.inspect(event);
      boundary = this.pending.search(/\r?\n\r?\n/);
    }
  }

  end(): void {
    if (this.pending.trim()) this.inspect(this.pending);
    this.pending = '';
  }

  private inspect(event: string): void {
    // About one token per content event: what an answer broken off before its usage is recorded with.
    if (event.includes('"content":"') && !event.includes('"content":""')) this.contentEvents += 1;
    if (!event.includes('"usage"') && this.model !== undefined) return;
    const data = event
      .split(/\r?\n/)
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).trimStart())
      .join('\n');
    if (!data || data === '[DONE]') return;
    try {
      const parsed = JSON.parse(data) as { usage?: UsageObject; model?: unknown; id?: unknown };
      if (parsed.usage) this.usage = parsed.usage;
      if (typeof parsed.model === 'string') this.model ??= parsed.model;
      if (typeof parsed.id === 'string') this.generationId ??= parsed.id;
    } catch {
      // comments and keep-alives are not JSON; they carry no usage
    }
  }
}
