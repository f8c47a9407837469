const KEY_LIKE = /sk-or-[\x21-\x7e]{4,}/g;
const MAX_MESSAGE_LENGTH = 500;

/**
 * An error as a log line may carry it: its name and a message cut short with anything key-shaped
 * cut out, since a message may quote what a client sent. No stack: its first line is the message.
 */
export function loggableError(error: unknown): { name?: string; code?: string; message?: string } {
  const { name, code, message } = (error ?? {}) as { name?: unknown; code?: unknown; message?: unknown };
  return {
    name: typeof name === 'string' ? name : undefined,
    code: typeof code === 'string' ? code : undefined,
    message: typeof message === 'string' ? message.slice(0, MAX_MESSAGE_LENGTH).replace(KEY_LIKE, '[redacted]') : undefined,
  };
}
