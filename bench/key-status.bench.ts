import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger as TypeOrmLogger } from 'typeorm';
import { startApp } from '../src/app';
import { JwtCodec } from '../src/auth/jwt';
import { createLogger } from '../src/logging/logger';
import { productionLikeConfig } from './support/bench-config';
import { ErrorLineCounter } from './support/error-line-counter';
import { startBareServer, startNodeHttpServer } from './bare-server';
import { graphqlOrThrow, postGraphql } from './support/graphql-request';
import { LoadResult, measure, rowOf } from './support/load';
import type { BenchContext, BenchSuite, BenchVerdict, SuiteResult } from './support/suite';

const SUITE = 'key-status';
/** From the issue: the status query reaches at least 60% of the bare server's req/s, p99 under 25 ms. */
const TARGET_RATIO = 0.6;
const TARGET_P99_MS = 25;
/** Sequential status requests whose database queries are counted, after the load runs. */
const PROFILED_REQUESTS = 20;

export const STATUS_QUERY =
  'query KeyStatus($w: ID!) { aiInferenceKey(workspaceId: $w) { workspaceId configured maskedHint eligible canManage updatedAt updatedBy status limitMicros limitRemainingMicros isFreeTier lastCheckedAt } }';
/** A query the service answers without the database (anonymous caller: no memberships to load). */
const NO_DATABASE_QUERY = '{ viewer { userId platformAdmin } }';
const BENCH_KEY = `sk-or-v1-bench-${'0123456789abcdef'.repeat(3)}`;

/** Wraps TypeORM's logger to count queries (and remember their shapes) while `counting` is on. */
class QueryCounter {
  counting = false;
  readonly shapes = new Map<string, number>();
  total = 0;

  wrap(inner: TypeOrmLogger): TypeOrmLogger {
    return new Proxy(inner, {
      get: (target, property, receiver) => {
        if (property !== 'logQuery') return Reflect.get(target, property, receiver);
        return (query: string, ...rest: unknown[]) => {
          if (this.counting) {
            this.total += 1;
            const shape = query.replace(/\s+/g, ' ').slice(0, 140);
            this.shapes.set(shape, (this.shapes.get(shape) ?? 0) + 1);
          }
          return (target.logQuery as (...args: unknown[]) => unknown)(query, ...rest);
        };
      },
    });
  }
}

/** An ENTERPRISE workspace with an owner who saves a key and a plain member, made through the API. */
export async function seed(url: string, jwt: JwtCodec): Promise<{ workspaceId: string; memberToken: string }> {
  const admin = await jwt.sign({ userId: 'bench-admin', platformAdmin: true });
  const { createWorkspace } = await graphqlOrThrow<{ createWorkspace: { id: string } }>(
    url,
    'mutation($n: String!) { createWorkspace(name: $n, plan: ENTERPRISE) { id } }',
    { n: 'Bench Enterprise' },
    admin,
  );
  const workspaceId = createWorkspace.id;
  for (const [userId, role] of [
    ['bench-owner', 'OWNER'],
    ['bench-member', 'MEMBER'],
  ]) {
    await graphqlOrThrow(url, 'mutation($w: ID!, $u: ID!, $r: MemberRole!) { addMember(workspaceId: $w, userId: $u, role: $r) { userId } }', { w: workspaceId, u: userId, r: role }, admin);
  }
  const owner = await jwt.sign({ userId: 'bench-owner', platformAdmin: false });
  await graphqlOrThrow(url, 'mutation($w: ID!, $k: String!) { saveKey(workspaceId: $w, key: $k) { configured } }', { w: workspaceId, k: BENCH_KEY }, owner);
  return { workspaceId, memberToken: await jwt.sign({ userId: 'bench-member', platformAdmin: false }, '2h') };
}

/** Checks the answer once, then returns its exact text: every answer under load must equal it. */
export async function expectedStatusBody(url: string, workspaceId: string, token: string): Promise<string> {
  const { status, text, json } = await postGraphql(url, STATUS_QUERY, { w: workspaceId }, token);
  const key = json.data?.aiInferenceKey as { configured?: boolean } | undefined;
  if (status !== 200 || json.errors || key?.configured !== true) throw new Error(`status query answered unexpectedly (${status}): ${text.slice(0, 500)}`);
  return text;
}

export function loadRequest(url: string, workspaceId: string, token: string, expectBody: string) {
  return {
    url: `${url}/graphql`,
    method: 'POST' as const,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: STATUS_QUERY, variables: { w: workspaceId } }),
    expectBody,
  };
}

interface ServiceFigures {
  result: LoadResult;
  /** the same service answering a query that needs no database: what the rest of the stack costs */
  noDatabase: LoadResult;
  errorLines: number;
  /** the first error lines the service logged */
  logSample: string[];
}

async function measureService(context: BenchContext, counter: QueryCounter): Promise<ServiceFigures> {
  const dataDir = mkdtempSync(join(tmpdir(), 'byok-bench-'));
  const config = productionLikeConfig(context.database.url, dataDir);
  const logs = new ErrorLineCounter();
  const app = await startApp(config, createLogger(config.logLevel, logs), { host: '127.0.0.1' });
  try {
    app.dataSource.logger = counter.wrap(app.dataSource.logger);
    const { workspaceId, memberToken } = await seed(app.url, new JwtCodec(config.jwtSecret));
    const expected = await expectedStatusBody(app.url, workspaceId, memberToken);
    context.log(`service on ${context.database.kind}: ${context.load.warmupSeconds} s warm-up, ${context.load.durationSeconds} s measured, ${context.load.connections} connections`);
    const result = await measure(loadRequest(app.url, workspaceId, memberToken, expected), context.load);

    const anonymous = await postGraphql(app.url, NO_DATABASE_QUERY, {});
    if (anonymous.status !== 200 || anonymous.json.errors) throw new Error(`viewer query answered unexpectedly: ${anonymous.text.slice(0, 300)}`);
    context.log('same service, anonymous viewer query (no database): same load');
    const noDatabase = await measure(
      { url: `${app.url}/graphql`, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: NO_DATABASE_QUERY }), expectBody: anonymous.text },
      context.load,
    );

    counter.counting = true;
    for (let i = 0; i < PROFILED_REQUESTS; i += 1) await expectedStatusBody(app.url, workspaceId, memberToken);
    counter.counting = false;
    return { result, noDatabase, errorLines: logs.errorLines, logSample: logs.firstErrors };
  } finally {
    await app.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function measureBare(context: BenchContext): Promise<LoadResult> {
  const bare = await startBareServer();
  try {
    // Same body and headers as the service run (the token is simply ignored).
    const token = 'bare-server-ignores-this-token';
    const { text } = await postGraphql(bare.url, STATUS_QUERY, { w: 'bench-workspace' }, token);
    context.log('bare type-graphql server: same load');
    return await measure(loadRequest(bare.url, 'bench-workspace', token, text), context.load);
  } finally {
    await bare.stop();
  }
}

/** The same load against plain node:http: how fast (or busy) the machine is, next to MEASURED.md. */
async function measureCalibration(context: BenchContext): Promise<LoadResult> {
  const server = await startNodeHttpServer();
  try {
    const { text } = await postGraphql(server.url, STATUS_QUERY, { w: 'bench-workspace' });
    context.log('calibration: plain node:http, constant body: same load');
    return await measure(loadRequest(server.url, 'bench-workspace', 'unused', text), context.load);
  } finally {
    await server.stop();
  }
}

export const keyStatusSuite: BenchSuite = {
  name: SUITE,
  description: 'aiInferenceKey status query over HTTP (member JWT) vs a bare type-graphql server answering the same shape from constants',

  async run(context: BenchContext): Promise<SuiteResult> {
    const counter = new QueryCounter();
    const service = await measureService(context, counter);
    const bare = await measureBare(context);
    const calibration = await measureCalibration(context);

    const ratio = service.result.requestsPerSecond / bare.requestsPerSecond;
    const onTargetDatabase = context.database.kind !== 'sqlite';
    const rows = [
      rowOf(SUITE, `service (${context.database.kind})`, service.result),
      rowOf(SUITE, 'bare type-graphql', bare),
      rowOf(SUITE, 'ref: service, no-DB query', service.noDatabase),
      rowOf(SUITE, 'ref: plain node:http', calibration),
    ];
    const failures = rows.reduce((sum, row) => sum + row.failures, 0) + service.errorLines;
    const verdicts: BenchVerdict[] = [
      {
        label: `req/s ratio service/bare >= ${TARGET_RATIO}`,
        met: onTargetDatabase ? ratio >= TARGET_RATIO : undefined,
        detail: `${ratio.toFixed(2)}${onTargetDatabase ? '' : ' (on SQLite: the target is defined on MariaDB)'}`,
      },
      {
        label: `service p99 < ${TARGET_P99_MS} ms`,
        met: onTargetDatabase ? service.result.p99Ms < TARGET_P99_MS : undefined,
        detail: `${service.result.p99Ms.toFixed(1)} ms`,
      },
      {
        label: 'every answer correct',
        met: failures === 0,
        detail: `${failures} failed or different answers, ${service.errorLines} error lines logged, ${[service.result, service.noDatabase, bare, calibration].reduce((sum, r) => sum + r.totalRequests, 0)} requests`,
      },
    ];
    const perRequest = counter.total / PROFILED_REQUESTS;
    const notes = [
      `ref rows (not part of the target): the service answering \`${NO_DATABASE_QUERY}\` anonymously, no database (${(service.noDatabase.requestsPerSecond / bare.requestsPerSecond).toFixed(2)} of bare); plain node:http with a constant body, to compare the machine with MEASURED.md`,
      `database queries per status request: ${perRequest.toFixed(2)} (${counter.total} queries over ${PROFILED_REQUESTS} sequential requests after the load)`,
      ...[...counter.shapes.entries()].map(([shape, count]) => `  ${String(count).padStart(3)} x ${shape}`),
      ...service.logSample.map((line) => `service log: ${line.slice(0, 300)}`),
    ];
    return { rows, verdicts, notes };
  },
};
