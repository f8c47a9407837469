import type { Logger } from 'pino';
import { loggableError } from './logging/loggable-error';

/** The frames only: a stack's first line repeats the message, which may quote what a client sent. */
function framesOf(error: unknown): string | undefined {
  const stack = (error as Error | undefined)?.stack;
  return typeof stack === 'string' ? stack.split('\n').slice(1).join('\n') : undefined;
}

/**
 * SPEC.md "Hostile input": a process that dies is a defect. A promise nobody awaited or an
 * exception thrown from a callback is logged (its message cut short, key-shaped text cut out) and the
 * service runs on; every request path already answers its own failures.
 */
export function installProcessGuards(logger: Logger): void {
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: { ...loggableError(reason), stack: framesOf(reason) } }, 'unhandled rejection');
  });
  process.on('uncaughtException', (error) => {
    logger.error({ err: { ...loggableError(error), stack: framesOf(error) } }, 'uncaught exception');
  });
}
