import type { Logger } from 'pino';
import type { SqlDialect } from '../../db/dialect';
import type { TransactionRunner } from '../../db/transaction-runner';
import { InferencePath } from './usage.enums';
import { utcDay } from './utc-day';

/** Why a call was refused: OpenRouter's refusal of the workspace's key, or the workspace's budget. */
export type RefusalCause = 'BYOK_KEY_INVALID' | 'BYOK_OUT_OF_CREDITS' | 'BYOK_LIMIT_EXCEEDED' | 'BYOK_MODEL_REFUSED' | 'BUDGET_EXCEEDED' | (string & {});

export interface RefusedCall {
  workspaceId: string;
  path: InferencePath;
  actorUserId?: string | null;
  cause: RefusalCause;
  /** default: now */
  at?: Date;
}

/** What analytics can group refused calls by: the counters' own dimensions. */
export type RefusalDimension = 'day' | 'path' | 'actor_key';

const COLUMNS = ['workspace_id', 'day', 'path', 'actor_key', 'cause', 'refused'];
const KEY_COLUMNS = COLUMNS.slice(0, 5);
const MAX_CAUSE_LENGTH = 40;
const MAX_ACTOR_LENGTH = 191;

/**
 * Calls that were refused, counted per day, path, member and cause (SPEC.md, "LLM analytics …
 * reports refusedCalls (counters, not usage records)"): a refused call is never billed, so it
 * never becomes a usage record. The gateway counts OpenRouter's refusals of a workspace's key; a
 * budget block counts itself through `count`.
 */
export class RefusedCallsService {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly dialect: SqlDialect,
    private readonly log: Logger,
  ) {}

  /** Adds one refused call. Never throws: a counter that cannot be written is logged, and the refusal still answered. */
  async count(call: RefusedCall): Promise<void> {
    try {
      const row = [call.workspaceId, utcDay(call.at ?? new Date()), call.path, (call.actorUserId ?? '').slice(0, MAX_ACTOR_LENGTH), call.cause.slice(0, MAX_CAUSE_LENGTH), 1];
      await this.transactions.run((manager) => manager.query(this.dialect.addingUpsertSql('refused_call_counter', COLUMNS, KEY_COLUMNS, 1), row));
    } catch (error) {
      this.log.warn({ workspaceId: call.workspaceId, cause: call.cause, reason: (error as Error)?.message }, 'refused call not counted');
    }
  }

  /**
   * Refused calls of the UTC days that [from, to) touches, by `dimension`. Counters are per day:
   * a range that starts or ends inside a day counts that whole day's refusals.
   */
  async byDimension(workspaceId: string, from: Date, to: Date, dimension: RefusalDimension): Promise<Map<string, number>> {
    const rows = (await this.transactions.manager.query(
      `SELECT ${dimension} AS bucket, SUM(refused) AS refused FROM refused_call_counter
        WHERE workspace_id = ? AND day >= ? AND day <= ? GROUP BY ${dimension}`,
      [workspaceId, utcDay(from), utcDay(new Date(to.getTime() - 1))],
    )) as Array<{ bucket: string; refused: string | number }>;
    return new Map(rows.map((row) => [String(row.bucket), Number(row.refused)]));
  }
}
