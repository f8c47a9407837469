import pino, { Logger } from 'pino';

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
  'secretsPhrase',
  'secretsPhrasePrevious',
  'jwtSecret',
  'serviceToken',
  'platformOpenrouterKey',
  '*.secretsPhrase',
  '*.jwtSecret',
  '*.serviceToken',
  '*.platformOpenrouterKey',
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
