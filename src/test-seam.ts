import type { LargeBodySlots } from './http/large-body-slots';
import type { AppServices } from './services';

/**
 * What tests and benchmarks may reach inside a running app beyond its HTTP API, by name: each is
 * there to inject a fault or inspect a state no response shows. Nothing in src/ goes through it.
 */
export type TestSeam = Pick<
  AppServices,
  /** to decrypt stored blobs (what was written) and to write blobs under another phrase */
  | 'secrets'
  /** to record verdicts on a key version directly and to listen for status changes */
  | 'keyHealth'
  | 'keyRecheck'
  /** to record calls directly and to wait for recordings to settle */
  | 'usageRecorder'
  | 'usageLedger'
  | 'usageJournal'
  | 'usageExport'
  | 'refusedCalls'
  /** to see what this worker holds and to deliver another worker's invalidation */
  | 'secretsCache'
  | 'directory'
  | 'workspaceEvents'
  | 'invalidationBus'
  /** to hold the database's writer, and to enqueue or deliver webhook events on cue */
  | 'transactions'
  /** to run the re-encryption jobs in this app's transactions, as the CLI does in its own */
  | 'dialect'
  | 'webhooks'
  | 'webhookOutbox'
  | 'webhookDispatcher'
  | 'budgetGuard'
> & {
  /** to see how many large-body slots no request holds (that every path releases its slot) */
  largeBodySlots: Pick<LargeBodySlots, 'available' | 'count'>;
};
