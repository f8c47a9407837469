import { BUDGET_LOAD_WAIT_MS, BUDGET_RELOAD_MS } from '../src/modules/budget/budget-guard';
import { Plan } from '../src/modules/workspace/workspace.enums';
import { expectData } from './support/expectations';
import { seedWorkspace, SeededWorkspace } from './support/fixtures';
import { callGateway } from './support/gateway-client';
import { holdUsageWrites } from './support/hold-usage-writes';
import { currentMonth, freshRequestId, startGatewayWorld, tierPrice } from './support/gateway-setup';
import { queryOutside } from './support/test-database';
import { startTestApp, TestApp } from './support/test-app';

const SET_BUDGET = `mutation($w: ID!, $limit: SafeInt!, $action: BudgetAction) {
  setAiBudget(workspaceId: $w, monthlyLimitMicros: $limit, action: $action) { spentMicros }
}`;
const SPENT = 'query($w: ID!) { aiBudget(workspaceId: $w) { spentMicros monthlyLimitMicros } }';

/** Every call below costs this: the fake's default usage (12 in, 34 out) at BALANCED prices on the platform key. */
const CALL_COST = tierPrice('BALANCED', 12, 34);

async function spent(t: TestApp, ws: SeededWorkspace): Promise<number> {
  return expectData(await t.gql(SPENT, { w: ws.id }, ws.tokens.billing)).aiBudget.spentMicros;
}

describe('the gateway and the budget', () => {
  it('BLOCK refuses user-initiated calls with 402 BUDGET_EXCEEDED once the month reaches the limit; background paths are served and counted', async () => {
    const world = await startGatewayWorld();
    try {
      const { t } = world;
      const ws = await seedWorkspace(t, Plan.PRO, 'Blocked');
      expectData(await t.gql(SET_BUDGET, { w: ws.id, limit: 2 * CALL_COST, action: 'BLOCK' }, ws.tokens.billing));
      for (let call = 0; call < 2; call++) {
        expect((await callGateway(t, { workspaceId: ws.id, path: 'AGENT_RUN', requestId: freshRequestId() })).status).toBe(200);
        await spent(t, ws); // waits for the recording
      }
      const refused = await callGateway(t, { workspaceId: ws.id, path: 'CANVAS_AUTOCOMPLETE', requestId: freshRequestId() });
      expect(refused.status).toBe(402);
      expect(refused.headers['x-should-retry']).toBe('false');
      expect(refused.json.error.code).toBe('BUDGET_EXCEEDED');
      expect(refused.json.error.message).toContain(`${2 * CALL_COST} µ$`);
      expect(refused.json.error.message).toMatch(/owner, admin or billing manager can raise/);
      expect(world.fake.requestsTo('POST', '/chat/completions')).toHaveLength(2);
      // a budget block is a refused call: counted for analytics, never a usage record
      const counted = await queryOutside<{ path: string; cause: string; refused: number }>(t.db, 'SELECT path, cause, refused FROM refused_call_counter WHERE workspace_id = ?', [ws.id]);
      expect(counted.map((row) => [row.path, row.cause, Number(row.refused)])).toEqual([['CANVAS_AUTOCOMPLETE', 'BUDGET_EXCEEDED', 1]]);
      const today = new Date(new Date().toISOString().slice(0, 10));
      const analytics = expectData(
        await t.gql('query($w: ID!, $from: DateTime!, $to: DateTime!) { llmAnalytics(workspaceId: $w, from: $from, to: $to, groupBy: DAY) { calls refusedCalls } }', { w: ws.id, from: today.toISOString(), to: new Date(today.getTime() + 86_400_000).toISOString() }, ws.tokens.billing),
      );
      expect(analytics.llmAnalytics).toEqual([{ calls: 2, refusedCalls: 1 }]);

      const background = await callGateway(t, { workspaceId: ws.id, path: 'SEARCH_INDEXER', requestId: freshRequestId() });
      expect(background.status).toBe(200);
      expect(await spent(t, ws)).toBe(3 * CALL_COST);

      // NOTIFY (or a higher limit) lets the calls through again at once on this worker
      expectData(await t.gql(SET_BUDGET, { w: ws.id, limit: 2 * CALL_COST, action: 'NOTIFY' }, ws.tokens.billing));
      expect((await callGateway(t, { workspaceId: ws.id, path: 'AGENT_RUN', requestId: freshRequestId() })).status).toBe(200);

      // each threshold is crossed once this month, whatever the number of calls beyond it
      await spent(t, ws);
      const crossings = await queryOutside<{ threshold: number; month: string }>(t.db, 'SELECT threshold, month FROM ai_budget_crossing WHERE workspace_id = ? ORDER BY threshold', [ws.id]);
      expect(crossings.map((row) => [Number(row.threshold), row.month])).toEqual([
        [50, currentMonth()],
        [80, currentMonth()],
        [100, currentMonth()],
      ]);
    } finally {
      await world.close();
    }
  });

  it('a spend read the database holds up does not hold the call: it is served unchecked after the wait, and checked again once the read lands', async () => {
    const world = await startGatewayWorld();
    try {
      const { t } = world;
      const ws = await seedWorkspace(t, Plan.PRO, 'Stalled');
      expectData(await t.gql(SET_BUDGET, { w: ws.id, limit: CALL_COST, action: 'BLOCK' }, ws.tokens.billing));
      const release = await holdUsageWrites(t);
      try {
        // a background call is never checked; its record now waits, and so does any read of the month's spend
        expect((await callGateway(t, { workspaceId: ws.id, path: 'SEARCH_INDEXER', requestId: freshRequestId() })).status).toBe(200);
        const startedAt = Date.now();
        expect((await callGateway(t, { workspaceId: ws.id, path: 'AGENT_RUN', requestId: freshRequestId() })).status).toBe(200);
        expect(Date.now() - startedAt).toBeGreaterThanOrEqual(BUDGET_LOAD_WAIT_MS);
      } finally {
        await release();
      }
      expect(await spent(t, ws)).toBe(2 * CALL_COST);
      const refused = await callGateway(t, { workspaceId: ws.id, path: 'AGENT_RUN', requestId: freshRequestId() });
      expect(refused.status).toBe(402);
      expect(refused.json.error.code).toBe('BUDGET_EXCEEDED');
    } finally {
      await world.close();
    }
  }, 30_000);

  describe.each([
    ['with Redis', 'redis://127.0.0.1:6379'],
    ['without Redis', undefined],
  ])('the overshoot bound on two workers %s', (_label, redisUrl) => {
    it('stays within calls in flight × their cost plus what the other worker serves during the propagation delay', async () => {
      const world = await startGatewayWorld({ redisUrl });
      const second = await startTestApp({ db: world.t.db, overrides: { ...world.t.config, redisUrl } });
      try {
        const upstreamMs = 50;
        world.fake.chatCompletion({ delayMs: upstreamMs });
        const ws = await seedWorkspace(world.t, Plan.PRO, 'Overshoot');
        const limit = 20 * CALL_COST;
        expectData(await world.t.gql(SET_BUDGET, { w: ws.id, limit, action: 'BLOCK' }, ws.tokens.billing));
        const callersPerWorker = 2;
        const started = Date.now();
        const loop = async (t: TestApp): Promise<number> => {
          for (let served = 0; ; served++) {
            const answer = await callGateway(t, { workspaceId: ws.id, path: 'AGENT_RUN', requestId: freshRequestId() });
            if (answer.status === 402) return served;
            expect(answer.status).toBe(200);
            if (Date.now() - started > 30_000) throw new Error('never blocked');
          }
        };
        await Promise.all([world.t, second].flatMap((t) => Array.from({ length: callersPerWorker }, () => loop(t))));
        await second.app.seam.usageRecorder.settled(ws.id);
        const total = await spent(world.t, ws);
        expect(total).toBeGreaterThanOrEqual(limit);
        const callers = 2 * callersPerWorker;
        // In flight: each caller's call upstream plus its answered call not yet recorded.
        const inFlight = 2 * callers;
        // Propagation: with Redis a recording reaches the other worker within a publish (≪ one call);
        // without, the other worker learns of it at its next reload, serving meanwhile at most one
        // call per caller per upstream latency.
        const propagationCalls = redisUrl ? callersPerWorker : callersPerWorker * Math.ceil((BUDGET_RELOAD_MS + 500) / upstreamMs);
        expect(total - limit).toBeLessThanOrEqual((inFlight + propagationCalls) * CALL_COST);
      } finally {
        await second.close();
        await world.close();
      }
    }, 60_000);
  });
});
