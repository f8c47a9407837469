import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { DataSource } from 'typeorm';
import { sqlDialectOf } from '../src/db/data-source';
import { startBillingBenchService } from './support/billing-bench-service';
import { closedLoopRow, ClosedLoopResult, failuresOf, percentile, runClosedLoop } from './support/closed-loop-load';
import { graphqlOrThrow } from './support/graphql-request';
import type { BenchContext, BenchSuite, BenchVerdict, SuiteResult } from './support/suite';

const SUITE = 'billing-recording';
/** From the issue: ≥ 1,500 calls/s with 16 concurrent clients on the 2-core machine, p99 < 50 ms (MariaDB). */
const CONNECTIONS = 16;
const TARGET_CALLS_PER_SECOND = 1_500;
const TARGET_P99_MS = 50;

const RECORD = 'mutation($input: RecordInferenceCallInput!) { recordInferenceCall(input: $input) { id billedMicros } }';

/**
 * What the inference runtime sends after each completed call: a BYOK call with a raw cost to parse,
 * so the margin path is billed. `[<id>]` becomes a fresh request id per request, so every request
 * is a new call (a repeated id would measure the idempotent-retry path instead).
 */
function recordBody(workspaceId: string, requestId: string): string {
  return JSON.stringify({
    query: RECORD,
    variables: {
      input: {
        requestId,
        workspaceId,
        path: 'AGENT_RUN',
        model: 'openai/gpt-4o',
        tier: 'BALANCED',
        keySource: 'BYOK',
        inputTokens: 1000,
        outputTokens: 500,
        rawCostUsd: '0.0041235',
        actorUserId: 'bench-user',
      },
    },
  });
}

/** CPU time (ms) of the local database server, when it runs on this machine; undefined otherwise. */
function databaseCpuMs(): number | undefined {
  try {
    const pid = execFileSync('pgrep', ['-x', 'mariadbd|mysqld'], { encoding: 'utf8' }).trim().split('\n')[0];
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, in clock ticks of 10 ms
  } catch {
    return undefined;
  }
}

const LOCK_STATUS = ['Innodb_row_lock_waits', 'Innodb_row_lock_time', 'Innodb_deadlocks'];

async function lockStatus(dataSource: DataSource): Promise<Record<string, number>> {
  if (sqlDialectOf(dataSource).name === 'sqlite') return {};
  const rows = (await dataSource.query(`SHOW GLOBAL STATUS WHERE Variable_name IN (${LOCK_STATUS.map(() => '?').join(', ')})`, LOCK_STATUS)) as Array<{ Variable_name: string; Value: string }>;
  return Object.fromEntries(rows.map((row) => [row.Variable_name, Number(row.Value)]));
}

/** Where a call's time goes during one measured run: CPU of this process (the service) and of the database, queries, lock waits. */
async function profiled<T extends { totalRequests: number }>(dataSource: DataSource, run: () => Promise<T>): Promise<{ result: T; notes: string[] }> {
  let queries = 0;
  const logger = dataSource.logger;
  const logQuery = logger.logQuery;
  logger.logQuery = function (query, parameters, queryRunner) {
    queries += 1;
    return logQuery.call(this, query, parameters, queryRunner);
  };
  const locksBefore = await lockStatus(dataSource);
  const dbBefore = databaseCpuMs();
  const cpuBefore = process.cpuUsage();
  let result: T;
  try {
    result = await run();
  } finally {
    logger.logQuery = logQuery;
  }
  const cpu = process.cpuUsage(cpuBefore);
  const dbAfter = databaseCpuMs();
  const locksAfter = await lockStatus(dataSource);
  const calls = Math.max(1, result.totalRequests);
  const perCall = (ms: number) => `${(ms / calls).toFixed(2)} ms`;
  const notes = [
    `per call: service CPU ${perCall((cpu.user + cpu.system) / 1000)}${dbBefore !== undefined && dbAfter !== undefined ? `, database server CPU ${perCall(dbAfter - dbBefore)}` : ''}, ${(queries / calls).toFixed(1)} SQL statements`,
  ];
  if (LOCK_STATUS.every((name) => name in locksAfter)) {
    const waits = locksAfter.Innodb_row_lock_waits - locksBefore.Innodb_row_lock_waits;
    notes.push(
      `row lock waits: ${waits} (${((waits / calls) * 100).toFixed(0)}% of calls), ${locksAfter.Innodb_row_lock_time - locksBefore.Innodb_row_lock_time} ms waited in all, ${locksAfter.Innodb_deadlocks - locksBefore.Innodb_deadlocks} deadlocks (server-wide counters)`,
    );
  }
  return { result, notes };
}

async function counts(app: { dataSource: { query(sql: string, parameters: unknown[]): Promise<Array<Record<string, unknown>>> } }, workspaceId: string) {
  const [records] = await app.dataSource.query('SELECT COUNT(*) AS n, COALESCE(SUM(billed_micros), 0) AS billed FROM usage_record WHERE workspace_id = ?', [workspaceId]);
  const [rollups] = await app.dataSource.query('SELECT COALESCE(SUM(calls), 0) AS n, COALESCE(SUM(billed_micros), 0) AS billed, COUNT(*) AS rows_ FROM usage_rollup WHERE workspace_id = ?', [workspaceId]);
  return { records: Number(records.n), recordBilled: Number(records.billed), rollupCalls: Number(rollups.n), rollupBilled: Number(rollups.billed), rollupRows: Number(rollups.rows_) };
}

export const billingRecordingSuite: BenchSuite = {
  name: SUITE,
  description: `recordInferenceCall throughput and latency with ${CONNECTIONS} concurrent clients (service token, a new request id per call)`,

  async run(context: BenchContext): Promise<SuiteResult> {
    const service = await startBillingBenchService(context);
    try {
      const { id: workspaceId } = await service.createWorkspace('Bench Recording');
      const check = await graphqlOrThrow<{ recordInferenceCall: { billedMicros: number } }>(
        service.url,
        RECORD,
        JSON.parse(recordBody(workspaceId, 'bench-check')).variables,
        service.serviceToken,
      );
      if (check.recordInferenceCall.billedMicros !== 10_500 - 4_124) throw new Error(`unexpected bill: ${JSON.stringify(check)}`);

      const request = {
        url: `${service.url}/graphql`,
        method: 'POST' as const,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${service.serviceToken}` },
        body: recordBody(workspaceId, 'bench-[<id>]'),
        idReplacement: true,
        connections: CONNECTIONS,
      };
      const before = await counts(service.app, workspaceId);
      context.log(`recording on ${context.database.kind}: ${context.load.warmupSeconds} s warm-up, ${context.load.durationSeconds} s measured, ${CONNECTIONS} connections`);
      const warmup: ClosedLoopResult | undefined = context.load.warmupSeconds > 0 ? await runClosedLoop({ ...request, durationSeconds: context.load.warmupSeconds }) : undefined;
      const { result, notes: profile } = await profiled(service.app.dataSource, () => runClosedLoop({ ...request, durationSeconds: context.load.durationSeconds }));
      context.log('the same with 1 client, for the latency of one call without queueing');
      const single = await profiled(service.app.dataSource, () => runClosedLoop({ ...request, connections: 1, durationSeconds: Math.min(5, context.load.durationSeconds) }));
      const after = await counts(service.app, workspaceId);

      // Every answered request must have become exactly one record, billed the same, in records and rollups alike.
      const answered = result.totalRequests + (warmup?.totalRequests ?? 0) + single.result.totalRequests;
      const stored = after.records - before.records;
      // requests still in flight when a run stops are not counted by the load generator but may be stored
      const failed = failuresOf(result) + failuresOf(single.result) + (warmup ? failuresOf(warmup) : 0);
      const storedMatches = stored >= answered - failed && stored <= answered + 3 * CONNECTIONS;
      const consistent = after.records === after.rollupCalls && after.recordBilled === after.rollupBilled && after.recordBilled === after.records * 6_376;
      const failures = failed + service.logs.errorLines;

      const onTarget = context.database.kind !== 'sqlite';
      const p99 = percentile(result.latenciesMs, 99);
      const verdicts: BenchVerdict[] = [
        {
          label: `calls/s >= ${TARGET_CALLS_PER_SECOND.toLocaleString('en-US')} with ${CONNECTIONS} clients`,
          met: onTarget ? result.requestsPerSecond >= TARGET_CALLS_PER_SECOND : undefined,
          detail: `${Math.round(result.requestsPerSecond).toLocaleString('en-US')}${onTarget ? '' : ' (on SQLite: the target is defined on MariaDB)'}`,
        },
        { label: `p99 < ${TARGET_P99_MS} ms`, met: onTarget ? p99 < TARGET_P99_MS : undefined, detail: `${p99.toFixed(1)} ms` },
        {
          label: 'every answer correct',
          met: failures === 0 && storedMatches && consistent,
          detail: `${failures} failed answers or error lines; ${stored} records stored for ${answered} answered requests; records and rollups ${consistent ? 'agree' : 'DISAGREE'} (${after.records} calls, ${after.recordBilled} µ$)`,
        },
      ];
      const notes = [
        ...profile.map((line) => `${CONNECTIONS} clients: ${line}`),
        ...single.notes.map((line) => `1 client: ${line}`),
        `rollup rows for the workspace after the run: ${after.rollupRows} (one day, one dimension set, spread over the shards)`,
        ...service.logs.firstErrors.map((line) => `service error: ${line}`),
      ];
      const rows = [
        closedLoopRow(SUITE, `recordInferenceCall, ${CONNECTIONS} clients (${context.database.kind})`, result),
        closedLoopRow(SUITE, `recordInferenceCall, 1 client (${context.database.kind})`, single.result),
      ];
      return { rows, verdicts, notes };
    } finally {
      await service.stop();
    }
  },
};
