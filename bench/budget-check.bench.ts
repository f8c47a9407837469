import { AiBudgetEntity } from '../src/modules/budget/ai-budget.entity';
import { BudgetAction } from '../src/modules/budget/budget.enums';
import { InferencePath } from '../src/modules/usage/usage.enums';
import { benchKey, freshBenchSecrets, seedWorkspaceWithKey, startBenchApp } from './support/gateway-fixture';
import type { BenchContext, BenchSuite, SuiteResult } from './support/suite';

const SUITE = 'budget-check';
/** From the issue: the budget check adds at most 5 µs per gateway call on a cache hit. */
const TARGET_NS_PER_OP = 5_000;
const ITERATIONS = 1_000_000;
const ROUNDS = 5;

export const budgetCheckSuite: BenchSuite = {
  name: SUITE,
  description: "the gateway's budget check (BudgetGuard.refusalFor) on a loaded counter, BLOCK budget not yet reached, ns per call",

  async run(context: BenchContext): Promise<SuiteResult> {
    const secrets = freshBenchSecrets();
    const service = await startBenchApp(context.database, secrets);
    try {
      const { workspaceId } = await seedWorkspaceWithKey(service.app.url, secrets.jwtSecret, benchKey('budget'));
      await service.app.dataSource.getRepository(AiBudgetEntity).save({
        workspaceId,
        monthlyLimitMicros: 1_000_000_000,
        thresholds: '50,80,100',
        action: BudgetAction.BLOCK,
        updatedBy: null,
        updatedAt: new Date(),
      });
      const guard = service.app.seam.budgetGuard;
      for (let i = 0; i < 50_000; i += 1) {
        if (await guard.refusalFor(workspaceId, InferencePath.AGENT_RUN)) throw new Error('refused below the limit');
      }
      const perRound: number[] = [];
      for (let round = 0; round < ROUNDS; round += 1) {
        const started = process.hrtime.bigint();
        for (let i = 0; i < ITERATIONS; i += 1) await guard.refusalFor(workspaceId, InferencePath.AGENT_RUN);
        perRound.push(Number(process.hrtime.bigint() - started) / ITERATIONS);
      }
      perRound.sort((a, b) => a - b);
      const median = perRound[Math.floor(ROUNDS / 2)];
      context.log(`${ROUNDS} rounds of ${ITERATIONS.toLocaleString('en-US')} checks`);
      return {
        rows: [],
        verdicts: [{ label: `budget check on a loaded counter <= ${TARGET_NS_PER_OP / 1000} µs`, met: median <= TARGET_NS_PER_OP, detail: `${median.toFixed(0)} ns/op median of ${ROUNDS} rounds (best ${perRound[0].toFixed(0)} ns/op)` }],
        notes: ['each op includes one await (a microtask turn), as the gateway pays it'],
      };
    } finally {
      await service.stop();
    }
  },
};
