import { badUserInput } from '../../errors/app-error';

export const OPENROUTER_KEY_PREFIX = 'sk-or-';
export const MIN_KEY_LENGTH = 20;
export const MAX_KEY_LENGTH = 256;
/**
 * What follows the prefix. OpenRouter's keys are letters, digits and dashes; anything else (quotes,
 * slashes, `%`, `=`…) only makes room for a key to hide in, or break out of, the places it travels.
 */
const KEY_BODY = /^[A-Za-z0-9_-]+$/;

/**
 * Checks a submitted key (SPEC.md, "The key: rules", 3) and returns it trimmed.
 * No message ever repeats the submitted value.
 */
export function validateOpenRouterKeyOrThrow(submitted: string): string {
  const key = submitted.trim();
  if (!key.startsWith(OPENROUTER_KEY_PREFIX)) {
    throw badUserInput(`OpenRouter keys must start with '${OPENROUTER_KEY_PREFIX}'`);
  }
  if (key.length < MIN_KEY_LENGTH || key.length > MAX_KEY_LENGTH) {
    throw badUserInput(`OpenRouter keys must be ${MIN_KEY_LENGTH} to ${MAX_KEY_LENGTH} characters long`);
  }
  if (!KEY_BODY.test(key.slice(OPENROUTER_KEY_PREFIX.length))) {
    throw badUserInput(`OpenRouter keys may contain only letters, digits, '-' and '_' after '${OPENROUTER_KEY_PREFIX}'`);
  }
  return key;
}
