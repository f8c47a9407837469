import DataLoader from 'dataloader';
import type { DataSource } from 'typeorm';
import { RequestClaims } from './request-claims';

interface RequestKey {
  workspaceId: string;
  requestId: string;
}

/** Pairs looked up in one statement at most, so that its text and parameters stay small. */
const MAX_PAIRS_PER_QUERY = 100;

const keyOf = (key: RequestKey) => RequestClaims.keyOf(key.workspaceId, key.requestId);

/**
 * Which request ids are already on the record. Every call with an X-Request-Id waits for this
 * before it goes upstream, so calls admitted in the same turn of the event loop share one query
 * on the unique (workspace_id, request_id) index: a busy gateway pays one database round trip for
 * many calls. Nothing is cached: an id recorded a moment ago must be seen.
 */
export class RequestIdLookup {
  private readonly loader: DataLoader<RequestKey, string | null, string>;

  constructor(dataSource: DataSource) {
    this.loader = new DataLoader(
      async (keys) => {
        const where = keys.map(() => '(workspace_id = ? AND request_id = ?)').join(' OR ');
        const rows = (await dataSource.query(
          `SELECT id, workspace_id, request_id FROM usage_record WHERE ${where}`,
          keys.flatMap((key) => [key.workspaceId, key.requestId]),
        )) as Array<{ id: string; workspace_id: string; request_id: string }>;
        const recorded = new Map(rows.map((row) => [keyOf({ workspaceId: row.workspace_id, requestId: row.request_id }), row.id]));
        return keys.map((key) => recorded.get(keyOf(key)) ?? null);
      },
      // Calls read off different sockets in one poll phase are gathered: a tick would hold one.
      { cache: false, cacheKeyFn: keyOf, maxBatchSize: MAX_PAIRS_PER_QUERY, batchScheduleFn: (run) => setImmediate(run) },
    );
  }

  /** The id of the record under (workspace, request id), or null when there is none. */
  recordIdOf(workspaceId: string, requestId: string): Promise<string | null> {
    return this.loader.load({ workspaceId, requestId });
  }
}
