import './support/production-env';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { JwtCodec } from '../src/auth/jwt';
import { prepareBenchDatabase, PreparedDatabase } from './support/database';
import { FixedRateRequest, REQUEST_ID_PLACEHOLDER, runAtFixedRate } from './support/fixed-rate-load';
import { benchKey, seedWorkspaceWithKey } from './support/gateway-fixture';
import { graphqlOrThrow } from './support/graphql-request';
import { processCpuSeconds } from './support/process-cpu';
import { CompareOptions, interleavedOrder, parseCompareArgs } from './support/revision-args';
import { buildRevision, RevisionBuild } from './support/revision-build';
import { cpuMicrosPerRequest, cpuVerdict, MAX_CPU_INCREASE_PERCENT, median, pairedMedianDifference, percentDifference } from './support/revision-stats';
import { ServiceChild, startServiceChild } from './support/service-child';
import { startFakeUpstream } from './support/fake-upstream-process';

/**
 * npm run bench:compare -- --old 0cb59cb --new main --rounds 7 [--database-url mysql://…/<db>]
 *
 * Issue 9's "within 5 % CPU per request": both revisions' services run side by side, each on a
 * fresh database of its own (its own migrations), and take the same fixed workloads in turns
 * (old, new, old, new…). Each turn reads the service process's CPU seconds from /proc before and
 * after a fixed number of requests sent at a fixed rate. On a shared machine latency drifts with
 * the neighbours; CPU per request drifts far less, and the interleaving spreads what is left over
 * both revisions alike.
 */

type Side = 'old' | 'new';
type PathName = 'graphql read: member viewer + workspace + key' | 'graphql read: owner usage page (20)' | 'recordInferenceCall' | 'gateway (fake upstream)';

interface Workload {
  path: PathName;
  request: Omit<FixedRateRequest, 'rate' | 'durationSeconds' | 'arrivals' | 'requestIdPrefix'>;
}

interface RunningRevision {
  side: Side;
  build: RevisionBuild;
  service: ServiceChild;
  database?: PreparedDatabase;
  workloads: Workload[];
}

/** Settling time after the last answer: the gateway records its calls after answering. */
const SETTLE_MS = 1_000;
const BODY = JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello.' }] });
const RANGE = { from: '2020-01-01T00:00:00.000Z', to: '2100-01-01T00:00:00.000Z' };
/** What a member's page load asks: who am I, the workspace and its key's state (members may not read usage). */
const MEMBER_READ =
  'query Read($w: ID!) { viewer { userId memberships { workspaceId role canManageBilling } } workspace(id: $w) { id name plan defaultTier byokFallback aiInferenceKey { configured maskedHint eligible canManage } } }';
/** The owner's usage table: a 20-row page of the workspace's calls. */
const USAGE_PAGE =
  'query Usage($w: ID!, $from: DateTime!, $to: DateTime!) { usage(workspaceId: $w, from: $from, to: $to, first: 20) { nodes { id path model tier keySource inputTokens outputTokens billedMicros occurredAt actor { userId role } } pageInfo { hasNextPage endCursor } } }';
const RECORD = 'mutation($input: RecordInferenceCallInput!) { recordInferenceCall(input: $input) { id billedMicros } }';
const SEEDED_RECORDS = 30;
/**
 * One principal sends every request here; a burst of queued requests (on MariaDB, on a busy host)
 * would meet the per-principal and per-workspace limits and measure 429s instead of the path.
 */
const UNLIMITED = { GRAPHQL_MAX_CONCURRENT_PER_PRINCIPAL: '100000', GATEWAY_MAX_CONCURRENT_PER_WORKSPACE: '100000' };

function recordBody(workspaceId: string, requestId: string): string {
  return JSON.stringify({
    query: RECORD,
    variables: { input: { requestId, workspaceId, path: 'AGENT_RUN', model: 'openai/gpt-4o', tier: 'BALANCED', keySource: 'BYOK', inputTokens: 1000, outputTokens: 500, rawCostUsd: '0.0041235', actorUserId: 'bench-member' } },
  });
}

function log(line: string): void {
  process.stdout.write(`  … ${line}\n`);
}

function databaseUrlFor(base: string, side: Side): string {
  const url = new URL(base.replace(/^mariadb:/, 'mysql:'));
  url.pathname = `/${url.pathname.slice(1) || 'byok_bench_compare'}_${side}`;
  return url.toString();
}

/** One revision's service on its own fresh database, seeded through its API, with the three workloads ready. */
async function startRevision(side: Side, build: RevisionBuild, options: CompareOptions, upstreamUrl: string): Promise<RunningRevision> {
  const database = options.databaseUrl ? await prepareBenchDatabase(databaseUrlFor(options.databaseUrl, side)) : undefined;
  if (database?.fallbackReason) throw new Error(database.fallbackReason);
  const serviceToken = randomBytes(32).toString('base64url');
  const service = await startServiceChild(database?.database.url, { SERVICE_TOKEN: serviceToken, OPENROUTER_BASE_URL: upstreamUrl, ...UNLIMITED }, build.main);
  const { workspaceId, ownerToken } = await seedWorkspaceWithKey(service.url, service.jwtSecret, benchKey('compare'), `Compare ${side}`);
  const jwt = new JwtCodec(service.jwtSecret);
  const admin = await jwt.sign({ userId: 'bench-admin', platformAdmin: true }, '4h');
  await graphqlOrThrow(service.url, 'mutation($w: ID!, $u: ID!) { addMember(workspaceId: $w, userId: $u, role: MEMBER) { userId } }', { w: workspaceId, u: 'bench-member' }, admin);
  const memberToken = await jwt.sign({ userId: 'bench-member', platformAdmin: false }, '4h');
  for (let i = 0; i < SEEDED_RECORDS; i += 1) await graphqlOrThrow(service.url, RECORD, JSON.parse(recordBody(workspaceId, `seed-${i}`)).variables, serviceToken);
  const member = await graphqlOrThrow<{ workspace: { aiInferenceKey: { configured: boolean } } }>(service.url, MEMBER_READ, { w: workspaceId }, memberToken);
  if (!member.workspace.aiInferenceKey.configured) throw new Error(`${side}: the member sees no configured key`);
  const page = await graphqlOrThrow<{ usage: { nodes: unknown[] } }>(service.url, USAGE_PAGE, { w: workspaceId, ...RANGE }, ownerToken);
  if (page.usage.nodes.length !== 20) throw new Error(`${side}: the owner's usage page has ${page.usage.nodes.length} nodes, expected 20`);

  const json = { 'content-type': 'application/json' };
  const workloads: Workload[] = [
    { path: 'graphql read: member viewer + workspace + key', request: { url: `${service.url}/graphql`, method: 'POST', headers: { ...json, authorization: `Bearer ${memberToken}` }, body: JSON.stringify({ query: MEMBER_READ, variables: { w: workspaceId } }) } },
    { path: 'graphql read: owner usage page (20)', request: { url: `${service.url}/graphql`, method: 'POST', headers: { ...json, authorization: `Bearer ${ownerToken}` }, body: JSON.stringify({ query: USAGE_PAGE, variables: { w: workspaceId, ...RANGE } }) } },
    { path: 'recordInferenceCall', request: { url: `${service.url}/graphql`, method: 'POST', headers: { ...json, authorization: `Bearer ${serviceToken}` }, body: recordBody(workspaceId, REQUEST_ID_PLACEHOLDER) } },
    {
      path: 'gateway (fake upstream)',
      request: { url: `${service.url}/v1/chat/completions`, method: 'POST', headers: { ...json, authorization: `Bearer ${serviceToken}`, 'x-workspace-id': workspaceId, 'x-inference-path': 'AGENT_RUN' }, body: BODY },
    },
  ];
  const gateway = workloads[3].request;
  const probe = await fetch(gateway.url, { method: 'POST', headers: { ...gateway.headers, 'x-request-id': `probe-${side}` }, body: BODY });
  if (probe.status !== 200 || probe.headers.get('x-key-source') !== 'BYOK') throw new Error(`${side}: gateway probe answered ${probe.status} from key source ${probe.headers.get('x-key-source')}: ${(await probe.text()).slice(0, 300)}`);
  log(`${side} (${build.commit.slice(0, 7)}) up at ${service.url} (pid ${service.pid}) on ${database ? database.database.url : 'SQLite in its own DATA_DIR'}`);
  return { side, build, service, database, workloads };
}

/** CPU µs per request the service used for `requests` requests of one workload; failures make the run fail. */
async function measure(revision: RunningRevision, workload: Workload, requests: number, rate: number, label: string): Promise<number> {
  const before = processCpuSeconds(revision.service.pid);
  const result = await runAtFixedRate({ ...workload.request, rate, durationSeconds: requests / rate, arrivals: 'even', requestIdPrefix: `cmp-${label}-${randomBytes(6).toString('hex')}` });
  await new Promise((resolveWait) => setTimeout(resolveWait, SETTLE_MS));
  const after = processCpuSeconds(revision.service.pid);
  if (result.failures > 0) throw new Error(`${revision.side} ${workload.path}: ${result.failures} failed requests (${JSON.stringify(result.statuses)})`);
  if (!revision.service.alive()) throw new Error(`${revision.side}: the service exited`);
  return cpuMicrosPerRequest(after - before, requests);
}

const loadAverage = () => loadavg().map((value) => value.toFixed(2)).join(' / ');

function formatReport(options: CompareOptions, samples: Map<string, number[]>, paths: PathName[]): { table: string; over: PathName[] } {
  const header = ['path', 'old µs/req', 'new µs/req', 'diff', 'paired diff', `verdict (≤ +${MAX_CPU_INCREASE_PERCENT} %)`];
  const signed = (value: number) => `${value >= 0 ? '+' : ''}${value.toFixed(1)} %`;
  const over: PathName[] = [];
  const body = paths.map((path) => {
    const oldValues = samples.get(`old|${path}`) ?? [];
    const newValues = samples.get(`new|${path}`) ?? [];
    const oldMicros = median(oldValues);
    const newMicros = median(newValues);
    const verdict = cpuVerdict(oldMicros, newMicros);
    if (verdict === 'over') over.push(path);
    return [path, oldMicros.toFixed(0), newMicros.toFixed(0), signed(percentDifference(oldMicros, newMicros)), signed(pairedMedianDifference(oldValues, newValues)), verdict === 'within' ? 'within' : 'OVER'];
  });
  const widths = header.map((_, i) => Math.max(header[i].length, ...body.map((cells) => cells[i].length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  const perRound = paths.flatMap((path) =>
    (['old', 'new'] as const).map((side) => `  ${side} ${path}: ${(samples.get(`${side}|${path}`) ?? []).map((value) => value.toFixed(0)).join(', ')} µs/req`),
  );
  const legend = 'diff: median new against median old (the verdict); paired diff: median of each round’s new-against-old difference';
  return { table: [line(header), rule, ...body.map(line), '', legend, '', `per round (${options.rounds} rounds of ${options.requests} requests at ${options.rate} req/s):`, ...perRound].join('\n'), over };
}

async function main(): Promise<number> {
  const options = parseCompareArgs(process.argv.slice(2));
  const builds = { old: buildRevision(options.oldRevision, log), new: buildRevision(options.newRevision, log) };
  process.stdout.write(
    [
      `old:      ${options.oldRevision} = ${builds.old.commit}`,
      `new:      ${options.newRevision} = ${builds.new.commit}`,
      `database: ${options.databaseUrl ? `${databaseUrlFor(options.databaseUrl, 'old')} and …_new, created afresh` : 'SQLite, a fresh DATA_DIR per revision'}`,
      `load:     ${options.rounds} rounds, interleaved old/new; per round and path ${options.requests} requests at ${options.rate} req/s (open loop, even spacing)`,
      `busy:     load average ${loadAverage()} before the run (shared machine: CPU per request is the measure, not latency)`,
      '',
    ].join('\n'),
  );
  const upstream = await startFakeUpstream();
  const running: RunningRevision[] = [];
  try {
    const revisions = { old: await startRevision('old', builds.old, options, upstream.url), new: await startRevision('new', builds.new, options, upstream.url) };
    running.push(revisions.old, revisions.new);
    const paths = revisions.old.workloads.map((workload) => workload.path);
    const warmup = Math.max(1, Math.round(options.requests / 3));
    for (const side of ['old', 'new'] as const) for (const workload of revisions[side].workloads) await measure(revisions[side], workload, warmup, options.rate, `warm-${side}`);

    const samples = new Map<string, number[]>();
    const order = interleavedOrder(options.rounds);
    for (const [turn, side] of order.entries()) {
      const round = Math.floor(turn / 2) + 1;
      const revision = revisions[side];
      for (const workload of revision.workloads) {
        const micros = await measure(revision, workload, options.requests, options.rate, `r${round}-${side}`);
        samples.set(`${side}|${workload.path}`, [...(samples.get(`${side}|${workload.path}`) ?? []), micros]);
      }
      if (side === 'new') log(`round ${round}/${options.rounds} done`);
    }
    const { table, over } = formatReport(options, samples, paths);
    process.stdout.write(`\n${table}\n\nverdict: ${over.length === 0 ? `every path within +${MAX_CPU_INCREASE_PERCENT} % CPU per request` : `OVER +${MAX_CPU_INCREASE_PERCENT} % on ${over.join(', ')}`}\n`);
    process.stdout.write(`load average ${loadAverage()} after the run (includes the benchmark itself)\n`);
    return over.length === 0 ? 0 : 1;
  } finally {
    for (const revision of running) {
      await revision.service.stop();
      await revision.database?.drop();
    }
    upstream.process.kill();
  }
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`bench:compare: ${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
