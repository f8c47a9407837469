import { seedWorkspace, SeededWorkspace } from './support/fixtures';
import { startTestApp, TestApp } from './support/test-app';
import { callInput, dataOf, expectCode, mapConcurrently, recordOk, USAGE_COUNT, USAGE_PAGE, userIdOf } from './support/usage-calls';

/**
 * The usage list: keyset pages (newest first on occurredAt, then id) that never skip or repeat a
 * record, even while calls are recorded between pages; filters; totalCount over partial days;
 * argument validation; and actors resolved with one batched query per page.
 */

const BASE = Date.parse('2026-04-10T20:00:00.000Z');
const STEP_MS = 45 * 60_000;
const RANGE = { from: '2026-04-01T00:00:00.000Z', to: '2026-05-01T00:00:00.000Z' };
const PATHS = ['AGENT_RUN', 'SEARCH_INDEXER', 'DOCUMENT_OCR', 'MENTION_EMBEDDING_CACHE'];

interface Node {
  id: string;
  requestId: string;
  occurredAt: string;
  keySource: string;
  path: string;
}

/** Newest first; ties on occurredAt broken by id, descending. */
function newestFirst(a: Node, b: Node): number {
  if (a.occurredAt !== b.occurredAt) return a.occurredAt < b.occurredAt ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

describe('usage paging', () => {
  let t: TestApp;
  let ws: SeededWorkspace;
  let originals: Node[];

  beforeAll(async () => {
    t = await startTestApp();
    ws = await seedWorkspace(t, undefined, 'Paging');
    const actors = [userIdOf(ws, 'owner'), userIdOf(ws, 'admin'), userIdOf(ws, 'billing'), userIdOf(ws, 'member'), 'not-a-member', undefined];
    // 130 calls over three UTC days, three at each instant, so that pages end inside a tie
    originals = await mapConcurrently(Array.from({ length: 130 }, (_, i) => i), 8, async (i) => {
      const record = await recordOk(
        t,
        callInput(ws.id, {
          requestId: `page-${i}`,
          occurredAt: new Date(BASE + Math.floor(i / 3) * STEP_MS).toISOString(),
          // background paths run on the platform key only
          keySource: i % 2 === 0 || PATHS[i % PATHS.length] === 'SEARCH_INDEXER' || PATHS[i % PATHS.length] === 'MENTION_EMBEDDING_CACHE' ? 'PLATFORM' : 'BYOK',
          path: PATHS[i % PATHS.length],
          actorUserId: actors[i % actors.length],
        }),
      );
      return record as Node;
    });
    originals.sort(newestFirst);
  });
  afterAll(() => t.close());

  async function page(variables: Record<string, unknown>, token = ws.tokens.billing) {
    return dataOf(await t.gql(USAGE_PAGE, { w: ws.id, ...RANGE, ...variables }, token)).usage as { nodes: Node[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
  }

  async function count(variables: Record<string, unknown>): Promise<number> {
    return dataOf(await t.gql(USAGE_COUNT, { w: ws.id, ...RANGE, ...variables }, ws.tokens.billing)).usage.totalCount;
  }

  it('pages through 130 calls 50 at a time, newest first, each exactly once', async () => {
    const seen: Node[] = [];
    const sizes: number[] = [];
    const hasNext: boolean[] = [];
    let after: string | undefined;
    for (;;) {
      const result = await page({ first: 50, after });
      seen.push(...result.nodes);
      sizes.push(result.nodes.length);
      hasNext.push(result.pageInfo.hasNextPage);
      if (!result.pageInfo.hasNextPage) break;
      after = result.pageInfo.endCursor!;
    }
    expect(sizes).toEqual([50, 50, 30]);
    expect(hasNext).toEqual([true, true, false]);
    expect(seen.map((node) => node.id)).toEqual(originals.map((node) => node.id));
    expect(new Set(seen.map((node) => node.id)).size).toBe(130);
    // pages 1 and 2 end inside a group of three calls at the same instant
    expect(seen[49].occurredAt).toBe(seen[50].occurredAt);
  });

  it('never skips or repeats the original calls while new ones are recorded between pages', async () => {
    const target = await seedWorkspace(t, undefined, 'Moving');
    const initial: Node[] = [];
    for (let i = 0; i < 130; i++) {
      initial.push(
        (await recordOk(t, callInput(target.id, { requestId: `orig-${i}`, occurredAt: new Date(BASE + Math.floor(i / 3) * STEP_MS).toISOString() }))) as Node,
      );
    }
    const seen: Node[] = [];
    let after: string | undefined;
    let round = 0;
    for (;;) {
      const result = dataOf(await t.gql(USAGE_PAGE, { w: target.id, ...RANGE, first: 50, after }, target.tokens.owner)).usage;
      seen.push(...result.nodes);
      if (!result.pageInfo.hasNextPage) break;
      after = result.pageInfo.endCursor;
      // between pages: newer calls, calls at the very instant of the page's last row, and older ones
      const last = result.nodes[result.nodes.length - 1] as Node;
      const lastAt = Date.parse(last.occurredAt);
      const instants = [BASE + 200 * STEP_MS, lastAt + 1, lastAt, lastAt, lastAt - 1, BASE + 3 * STEP_MS, BASE - 1];
      for (const [j, at] of instants.entries()) {
        await recordOk(t, callInput(target.id, { requestId: `new-${round}-${j}`, occurredAt: new Date(at).toISOString() }));
      }
      round += 1;
    }
    expect(round).toBeGreaterThanOrEqual(2);
    const ids = seen.map((node) => node.id);
    expect(new Set(ids).size).toBe(ids.length);
    const originalIds = new Set(initial.map((node) => node.id));
    const originalsSeen = seen.filter((node) => originalIds.has(node.id));
    initial.sort(newestFirst);
    expect(originalsSeen.map((node) => node.id)).toEqual(initial.map((node) => node.id));
    // and the whole walk stayed in order
    expect([...seen].sort(newestFirst).map((node) => node.id)).toEqual(ids);
  });

  it('filters by key source and path, paging within the filter', async () => {
    const filters: Array<Record<string, string>> = [{ keySource: 'BYOK' }, { keySource: 'PLATFORM' }, { path: 'SEARCH_INDEXER' }, { path: 'MENTION_EMBEDDING_CACHE' }, { keySource: 'BYOK', path: 'DOCUMENT_OCR' }, { keySource: 'PLATFORM', path: 'DOCUMENT_OCR' }];
    for (const filter of filters) {
      const expected = originals.filter((node) => Object.entries(filter).every(([key, value]) => node[key as keyof Node] === value));
      const seen: Node[] = [];
      let after: string | undefined;
      for (;;) {
        const result = await page({ first: 20, after, ...filter });
        seen.push(...result.nodes);
        if (!result.pageInfo.hasNextPage) break;
        after = result.pageInfo.endCursor!;
      }
      expect({ filter, ids: seen.map((node) => node.id) }).toEqual({ filter, ids: expected.map((node) => node.id) });
      expect({ filter, total: await count(filter) }).toEqual({ filter, total: expected.length });
    }
  });

  it('counts exactly with and without filters, over whole and partial days', async () => {
    const ranges: Array<[string, string]> = [
      [RANGE.from, RANGE.to],
      ['2026-04-10T00:00:00.000Z', '2026-04-13T00:00:00.000Z'],
      ['2026-04-10T20:00:00.000Z', '2026-04-12T05:00:00.000Z'], // from the first call, to the last one (excluded)
      ['2026-04-10T20:00:00.001Z', '2026-04-12T04:59:59.999Z'],
      ['2026-04-10T23:30:00.000Z', '2026-04-11T00:45:00.000Z'], // across midnight, no whole day
      ['2026-04-11T00:00:00.000Z', '2026-04-12T00:00:00.000Z'], // exactly one whole day
      ['2026-04-11T06:00:00.000Z', '2026-04-11T06:45:00.000Z'], // inside one day
      ['2026-04-12T05:00:00.001Z', RANGE.to], // after the last call
    ];
    for (const [from, to] of ranges) {
      for (const filter of [{}, { keySource: 'BYOK' }, { path: 'SEARCH_INDEXER' }, { keySource: 'PLATFORM', path: 'AGENT_RUN' }] as Array<Record<string, string>>) {
        const expected = originals.filter(
          (node) => node.occurredAt >= from && node.occurredAt < to && Object.entries(filter).every(([key, value]) => node[key as keyof Node] === value),
        ).length;
        expect({ from, to, filter, total: await count({ from, to, ...filter }) }).toEqual({ from, to, filter, total: expected });
      }
    }
    expect(await count({})).toBe(130);
  });

  it('refuses invalid cursors, page sizes and ranges with BAD_USER_INPUT', async () => {
    const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
    const invalid: Array<Record<string, unknown>> = [
      { after: 'not-a-cursor' },
      { after: b64('{}') },
      { after: b64(['not a date', 'x']) },
      { after: b64([123, 'x']) },
      { after: b64(['2026-04-11T00:00:00.000Z', 42]) },
      { after: b64('null') },
      { first: 0 },
      { first: 101 },
      { first: -1 },
      { first: 1.5 },
      { from: RANGE.to, to: RANGE.from },
      { from: RANGE.from, to: RANGE.from },
      { from: 'last week' },
      { keySource: 'SOMETIMES' },
      { path: 'NOWHERE' },
    ];
    for (const variables of invalid) {
      const result = await t.gql(USAGE_PAGE, { w: ws.id, ...RANGE, ...variables }, ws.tokens.billing);
      expect({ variables, data: result.data ?? null }).toEqual({ variables, data: null });
      expectCode(result, 'BAD_USER_INPUT');
    }
    expect((await page({ first: 100 })).nodes).toHaveLength(100);
    expect((await page({ first: 1 })).nodes).toHaveLength(1);
    // a well-formed cursor of another list just positions this one
    const cursor = b64(['2026-04-11T12:00:00.000Z', 'ffffffff-ffff-7fff-bfff-ffffffffffff']);
    const positioned = await page({ first: 100, after: cursor });
    expect(positioned.nodes.map((node) => node.id)).toEqual(originals.filter((node) => node.occurredAt <= '2026-04-11T12:00:00.000Z').map((node) => node.id).slice(0, 100));
  });

  it('resolves the actors of a 100-node page with at most 3 SQL queries for the whole request', async () => {
    // The outbox dispatcher and the key re-check poll the same database: they would be counted too.
    await t.app.seam.webhookDispatcher.stop();
    await t.app.seam.keyRecheck.stop();
    const queries: string[] = [];
    const logger = t.app.dataSource.logger;
    const logQuery = logger.logQuery;
    // instrumentation, not mocking: every query still runs; TypeORM reports each one here
    logger.logQuery = function (query, parameters, queryRunner) {
      queries.push(query);
      return logQuery.call(this, query, parameters, queryRunner);
    };
    let result;
    try {
      result = await t.gql(
        `query($w: ID!, $from: DateTime!, $to: DateTime!) { usage(workspaceId: $w, from: $from, to: $to, first: 100) { nodes { id requestId actor { userId role canManageBilling } } } }`,
        { w: ws.id, ...RANGE },
        ws.tokens.billing,
      );
    } finally {
      logger.logQuery = logQuery;
    }
    const nodes = dataOf(result).usage.nodes as Array<{ requestId: string; actor: { userId: string; role: string; canManageBilling: boolean } | null }>;
    expect(nodes).toHaveLength(100);
    const roles = new Map([
      [userIdOf(ws, 'owner'), ['OWNER', true]],
      [userIdOf(ws, 'admin'), ['ADMIN', true]],
      [userIdOf(ws, 'billing'), ['BILLING_MANAGER', true]],
      [userIdOf(ws, 'member'), ['MEMBER', false]],
    ]);
    const actorIds = [userIdOf(ws, 'owner'), userIdOf(ws, 'admin'), userIdOf(ws, 'billing'), userIdOf(ws, 'member'), 'not-a-member', undefined];
    for (const node of nodes) {
      const i = Number(node.requestId.replace('page-', ''));
      const actorId = actorIds[i % actorIds.length];
      const role = actorId ? roles.get(actorId) : undefined;
      expect({ requestId: node.requestId, actor: node.actor }).toEqual({
        requestId: node.requestId,
        actor: role ? { userId: actorId, role: role[0], canManageBilling: role[1] } : null,
      });
    }
    expect(new Set(nodes.map((node) => node.actor?.userId).filter(Boolean)).size).toBe(4);
    // memberships of the caller (the auth check), the page, and one batch for every actor
    expect(queries.filter((query) => /usage_record/.test(query))).toHaveLength(1);
    expect(queries.filter((query) => /\bmember\b/.test(query)).length).toBeGreaterThanOrEqual(1);
    expect(queries.length).toBeLessThanOrEqual(3);
  });
});
