import { ErrorCode } from '../../errors/error-code';
import { KeyStatus } from '../inference-key/inference-key.enums';

/**
 * What OpenRouter's refusal of a workspace's key means, and what the member can do about it. A
 * refusal of one model (`modelReason`) leaves the key's status alone: the key works for others.
 */
export interface KeyRefusal {
  keyStatus?: KeyStatus;
  /** for aiInferenceKey.lastRefusal: a fixed sentence, never the upstream's text */
  modelReason?: string;
  code: ErrorCode;
  message: string;
}

/** OpenRouter's words when the account's settings leave no provider for the model asked for. */
const MODEL_REFUSALS: ReadonlyArray<{ pattern: RegExp; reason: string; fix: string }> = [
  {
    pattern: /no allowed providers/i,
    reason: "No allowed providers: the key's OpenRouter account allows no provider that serves this model.",
    fix: "allow a provider that serves it in the OpenRouter account's provider settings (or lift the key's restrictions)",
  },
  {
    pattern: /no endpoints found matching your data policy/i,
    reason: "No provider of this model meets the data policy of the key's OpenRouter account.",
    fix: "relax the OpenRouter account's data policy (privacy settings) for this model",
  },
];

/** The refusal an upstream error answer to a call on the workspace's key means, if it is one. */
export function keyRefusalOf(status: number, body: string, model: string): KeyRefusal | undefined {
  if (status === 404 || status === 403 || status === 400) {
    const refused = MODEL_REFUSALS.find(({ pattern }) => pattern.test(body));
    if (refused) {
      return {
        modelReason: refused.reason,
        code: ErrorCode.BYOK_MODEL_REFUSED,
        message: `OpenRouter refused model ${model} on the workspace's key: ${refused.reason} A billing manager can ${refused.fix}, or the call can use another model; the key itself still works.`,
      };
    }
  }
  if (status === 401) {
    return {
      keyStatus: KeyStatus.INVALID,
      code: ErrorCode.BYOK_KEY_INVALID,
      message: "OpenRouter rejected the workspace's key as invalid or disabled. A billing manager should replace it in Settings → Billing, or remove it to use the platform key.",
    };
  }
  if (status === 402) {
    return {
      keyStatus: KeyStatus.OUT_OF_CREDITS,
      code: ErrorCode.BYOK_OUT_OF_CREDITS,
      message: "The workspace's OpenRouter account is out of credits. Top up its OpenRouter credits, or remove the key to fall back to the platform key.",
    };
  }
  if (status === 403 && /key limit exceeded/i.test(body)) {
    return {
      keyStatus: KeyStatus.LIMIT_EXCEEDED,
      code: ErrorCode.BYOK_LIMIT_EXCEEDED,
      message: "The workspace's OpenRouter key has reached its spending limit. Raise the key's limit on OpenRouter, or remove the key to fall back to the platform key.",
    };
  }
  return undefined;
}
