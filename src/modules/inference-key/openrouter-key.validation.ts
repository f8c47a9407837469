import { badUserInput } from '../../graphql/app-error';

export const OPENROUTER_KEY_PREFIX = 'sk-or-';
export const MIN_KEY_LENGTH = 20;
export const MAX_KEY_LENGTH = 256;
const PRINTABLE_ASCII_WITHOUT_SPACE = /^[\x21-\x7e]+$/;

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
  if (!PRINTABLE_ASCII_WITHOUT_SPACE.test(key)) {
    throw badUserInput('OpenRouter keys may contain only printable ASCII characters and no spaces');
  }
  return key;
}
