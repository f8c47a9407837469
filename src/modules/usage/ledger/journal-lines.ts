import type { InferenceCall } from '../usage-recorder.service';
import { InferencePath, KeySource, UsageOutcome } from '../usage.enums';
import type { ModelTier } from '../../workspace/workspace.enums';

/** The journal's files in DATA_DIR, by what their name starts with. */
export const JOURNAL_PREFIX = 'usage-journal-';
export const SPOOL_PREFIX = 'usage-spool-';
export const REPLAYING_PREFIX = 'usage-spool-replaying-';
/** Calls the database answered but would not take (not a refusal: a failure), kept for an operator. */
export const UNRECORDABLE_PREFIX = 'usage-unrecordable-';

type SpooledCall = Omit<InferenceCall, 'occurredAt'> & { occurredAt: string };

/** What is journaled before a call goes upstream: enough to put it on the record if it never ends. */
export interface CallIntent {
  requestId: string;
  workspaceId: string;
  path: InferencePath;
  tier: ModelTier;
  keySource: KeySource;
  /** the model the request asked for */
  model: string;
  occurredAt: Date;
  actorUserId: string | null;
}

/**
 * Journal lines: `intent` before the upstream request, then either the completed call (a line
 * with no `t`, as spool files have always held) or `void` when the call ended with nothing to
 * record (the upstream refused it, or could not be reached).
 */
export type JournalLine = (SpooledCall & { t?: undefined }) | (Omit<CallIntent, 'occurredAt'> & { t: 'intent'; occurredAt: string }) | { t: 'void'; requestId: string; workspaceId: string };

/** A completed call as a journal line (and as a kept-aside file's line). */
export function completedLine(call: InferenceCall): JournalLine {
  return { ...call, occurredAt: (call.occurredAt ?? new Date()).toISOString() };
}

/**
 * The calls a journal or spool file puts on the record, in its order: each completed call, then
 * each call whose intent has no outcome, as INTERRUPTED (flagged, billed 0 until settled). A call
 * that ended with nothing to record (`void`) is not among them.
 */
export function callsToRecord(lines: readonly string[], unreadable: () => void): Array<{ call: InferenceCall; line: string; interrupted: boolean }> {
  const calls: Array<{ call: InferenceCall; line: string; interrupted: boolean }> = [];
  const unfinished = new Map<string, Extract<JournalLine, { t: 'intent' }>>();
  for (const line of lines) {
    let parsed: JournalLine;
    try {
      parsed = JSON.parse(line) as JournalLine;
    } catch {
      unreadable();
      continue;
    }
    const key = `${parsed.workspaceId}\u0000${parsed.requestId}`;
    if (parsed.t === 'intent') {
      unfinished.set(key, parsed);
    } else if (parsed.t === 'void') {
      unfinished.delete(key);
    } else {
      unfinished.delete(key);
      calls.push({ call: { ...parsed, occurredAt: new Date(parsed.occurredAt) }, line, interrupted: false });
    }
  }
  for (const intent of unfinished.values()) {
    const call: InferenceCall = {
      requestId: intent.requestId,
      workspaceId: intent.workspaceId,
      path: intent.path,
      model: intent.model || 'unknown',
      tier: intent.tier,
      keySource: intent.keySource,
      inputTokens: 0,
      outputTokens: 0,
      rawCostMicros: null,
      occurredAt: new Date(intent.occurredAt),
      actorUserId: intent.actorUserId,
      outcome: UsageOutcome.INTERRUPTED,
    };
    calls.push({ call, line: JSON.stringify({ ...call, occurredAt: intent.occurredAt }), interrupted: true });
  }
  return calls;
}

/**
 * The part of a journal, spool or claimed file's name that it was journaled under, which starts
 * with the time its segment opened: sorting by it replays calls in the order they were made.
 */
export function originOf(name: string): string {
  if (name.startsWith(REPLAYING_PREFIX)) return name.slice(REPLAYING_PREFIX.length).split('-').slice(2).join('-');
  if (name.startsWith(JOURNAL_PREFIX)) return name.slice(JOURNAL_PREFIX.length);
  return name.slice(SPOOL_PREFIX.length);
}

export function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'ENOENT';
}
