import pino, { Logger } from 'pino';
import { SENSITIVE_CONFIG_FIELDS } from '../config/config';

/**
 * Paths that could carry a credential are censored wherever they appear in a log object.
 * Beyond this, the code logs ids and outcomes, never request variables or bodies.
 */
export const REDACTED_PATHS = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'key',
  '*.key',
  'variables',
  '*.variables',
  'token',
  '*.token',
  ...SENSITIVE_CONFIG_FIELDS.flatMap((field) => [field, `*.${field}`]),
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'byok-billing' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

/**
 * A child logger made on first use: pino serialises a child's bindings when it is created, and
 * most requests never log at the configured level.
 */
export function lazyChild(parent: Logger | (() => Logger), bindings: Record<string, unknown>): () => Logger {
  let child: Logger | undefined;
  return () => (child ??= (typeof parent === 'function' ? parent() : parent).child(bindings));
}
