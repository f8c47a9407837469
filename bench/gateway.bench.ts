import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageRecordEntity } from '../src/modules/usage/usage-record.entity';
import type { RunningApp } from '../src/app';
import { failuresOf, runClosedLoop, ClosedLoopResult } from './support/closed-loop-load';
import { fileIoShare, FileIoShare, profileWhile } from './support/cpu-profile';
import { runAtFixedRate, FixedRateResult } from './support/fixed-rate-load';
import { benchKey, freshBenchSecrets, percentile, seedWorkspaceWithKey, startBenchApp } from './support/gateway-fixture';
import { startPortkey } from './support/portkey';
import { processCpuSeconds } from './support/process-cpu';
import type { BenchContext, BenchRow, BenchSuite, BenchVerdict, SuiteResult } from './support/suite';
import { startFakeUpstream } from './support/fake-upstream-process';
import { startBareProxy, startLedgerFloorProxy } from './support/bare-proxy';
import { startNodeHttpServer } from './bare-server';

const SUITE = 'gateway';
/**
 * From issue 8: the same run measures the fake upstream called directly, this gateway and Portkey
 * OSS; and two floors: a bare proxy, and (on MariaDB/MySQL) the bare proxy plus the ledger's
 * request-id check and durable intent, the least any gateway keeping SPEC.md's rules adds.
 */
const PORTKEY = 'Portkey 1.15.2';
const RATE = 200;
const CONNECTIONS = 50;
const WARMUP_SECONDS = 2;
const PROFILE_SECONDS = 5;
/** each load's measured seconds are split over this many rounds, in alternating target order */
const ROUNDS = 2;
const TARGET_P50_SHARE_OF_PORTKEY = 1 / 3;
const TARGET_THROUGHPUT_TIMES_PORTKEY = 3;
/** on a quiet machine (plain node:http ≥ 60k req/s) */
const TARGET_P50_ADDED_MS = 1;
const TARGET_P99_ADDED_MS = 5;
const QUIET_PLAIN_HTTP_RPS = 60_000;
const QUIET_CHECK_SECONDS = 3;

const BODY = JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello.' }] });

type TargetName = 'direct' | 'bare' | 'floor' | 'gateway' | 'portkey';
const TARGET_NAMES: readonly TargetName[] = ['direct', 'bare', 'floor', 'gateway', 'portkey'];
/** every target but the ledger floor, which needs MariaDB/MySQL */
const ALWAYS_RUN = ['direct', 'bare', 'gateway', 'portkey'] as const;

interface Target {
  name: TargetName;
  label: string;
  url: string;
  headers: Record<string, string>;
}

/** CPU seconds used so far by the fake upstream, the floors, this process (where the gateway runs) and Portkey (0 for a target not run). */
type CpuReading = Record<TargetName, number>;

interface Measured<R> {
  target: Target;
  result: R;
  calls: number;
  seconds: number;
  cpu: CpuReading;
}

/** One target's rounds as one run: latencies and counts together, CPU and seconds summed, throughput averaged. */
function pooled<R>(runs: Array<Measured<R>>, results: (all: R[]) => R): Measured<R> {
  const sum = (value: (run: Measured<R>) => number) => runs.reduce((total, run) => total + value(run), 0);
  return {
    target: runs[0].target,
    result: results(runs.map((run) => run.result)),
    calls: sum((run) => run.calls),
    seconds: sum((run) => run.seconds),
    cpu: Object.fromEntries(TARGET_NAMES.map((name) => [name, sum((run) => run.cpu[name])])) as CpuReading,
  };
}

const meanRate = (results: Array<{ requestsPerSecond: number }>) => results.reduce((total, result) => total + result.requestsPerSecond, 0) / results.length;

function pooledOpenLoop(results: FixedRateResult[]): FixedRateResult {
  const statuses: Record<string, number> = {};
  for (const result of results) for (const [status, count] of Object.entries(result.statuses)) statuses[status] = (statuses[status] ?? 0) + count;
  return { latenciesMs: results.flatMap((result) => result.latenciesMs), failures: results.reduce((total, result) => total + result.failures, 0), statuses, requestsPerSecond: meanRate(results) };
}

function pooledClosedLoop(results: ClosedLoopResult[]): ClosedLoopResult {
  const sum = (value: (result: ClosedLoopResult) => number) => results.reduce((total, result) => total + value(result), 0);
  return {
    latenciesMs: results.flatMap((result) => result.latenciesMs),
    totalRequests: sum((result) => result.totalRequests),
    requestsPerSecond: meanRate(results),
    non2xx: sum((result) => result.non2xx),
    errors: sum((result) => result.errors),
    timeouts: sum((result) => result.timeouts),
    mismatches: sum((result) => result.mismatches),
  };
}

/** Requests a second plain node:http answers (GET, constant body) flat out, the machine's quietness check. */
async function plainHttpRate(): Promise<number> {
  const plain = await startNodeHttpServer();
  try {
    const result = await runClosedLoop({ url: plain.url, method: 'GET', headers: {}, connections: CONNECTIONS, durationSeconds: QUIET_CHECK_SECONDS });
    return result.requestsPerSecond;
  } finally {
    await plain.stop();
  }
}

async function probe(target: Target): Promise<void> {
  const response = await fetch(target.url, { method: 'POST', headers: { ...target.headers, 'x-request-id': `probe-${randomBytes(8).toString('hex')}` }, body: BODY });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${target.label} probe answered ${response.status}: ${text.slice(0, 300)}`);
  if (target.name === 'gateway' && response.headers.get('x-key-source') !== 'BYOK') throw new Error(`gateway probe answered from key source ${response.headers.get('x-key-source')}`);
}

/** Resolves once `expected` calls of the workspace are in usage_record and the count has stopped moving. */
async function recordedCalls(app: RunningApp, workspaceId: string, expected: number): Promise<number> {
  const repository = app.dataSource.getRepository(UsageRecordEntity);
  const deadline = Date.now() + 60_000;
  let last = -1;
  for (;;) {
    const count = await repository.count({ where: { workspaceId } });
    if ((count >= expected && count === last) || Date.now() > deadline) return count;
    last = count;
    await new Promise((resolveWait) => setTimeout(resolveWait, 500));
  }
}

function rowOf(caseName: string, requestsPerSecond: number, latenciesMs: number[], failures: number): BenchRow {
  return { suite: SUITE, case: caseName, requestsPerSecond, p50Ms: percentile(latenciesMs, 50), p99Ms: percentile(latenciesMs, 99), failures };
}

/** A difference in ms with its sign: the floor can come out a hair below direct. */
function signedMs(ms: number): string {
  return `${ms < 0 ? '−' : '+'}${Math.abs(ms).toFixed(2)}`;
}

function percent(part: number, whole: number): string {
  return `${((100 * part) / Math.max(1, whole)).toFixed(1)} %`;
}

function profileNote(label: string, share: FileIoShare): string {
  return (
    `CPU profile of the gateway's process, ${label}: file I/O ${percent(share.fileIoSamples, share.samples)} of all samples (${percent(share.fileIoSamples, share.busySamples)} of busy ones), ` +
    `synchronous file I/O ${percent(share.syncFileIoSamples, share.samples)} (${share.syncFileIoSamples} of ${share.samples} samples, ${share.busySamples} busy${share.syncFunctions.length > 0 ? `; in ${share.syncFunctions.join(', ')}` : ''})` +
    (share.topFrames.length > 0 ? `; file I/O frames by self samples: ${share.topFrames.join(', ')}` : '')
  );
}

export const gatewaySuite: BenchSuite = {
  name: SUITE,
  description: `the fake upstream called directly, a bare node:http + undici proxy, this gateway (non-streaming, BYOK, journaled and recorded in the database) and ${PORTKEY} in front of it, in one run: open-loop Poisson arrivals at ${RATE} req/s, then ${CONNECTIONS} connections flat out; CPU per call; a CPU profile of the gateway; plain node:http flat out before and after, to tell whether the machine was quiet`,

  async run(context: BenchContext): Promise<SuiteResult> {
    const loadBefore = loadavg();
    const upstream = await startFakeUpstream();
    const secrets = freshBenchSecrets();
    const service = await startBenchApp(context.database, secrets, { OPENROUTER_BASE_URL: upstream.url });
    const portkey = await startPortkey();
    const bare = await startBareProxy(upstream.url);
    const journalDir = mkdtempSync(join(tmpdir(), 'byok-floor-'));
    const floor = context.database.url ? await startLedgerFloorProxy(upstream.url, context.database.url, join(journalDir, 'intents.jsonl')) : undefined;
    try {
      context.log(`quiet check: plain node:http (GET, constant body), ${CONNECTIONS} connections flat out for ${QUIET_CHECK_SECONDS} s`);
      const quietBefore = await plainHttpRate();
      const { workspaceId } = await seedWorkspaceWithKey(service.app.url, secrets.jwtSecret, benchKey('gateway'));
      const key = benchKey('gateway');
      const json = { 'content-type': 'application/json' };
      const targets: Target[] = [
        { name: 'direct', label: 'direct', url: `${upstream.url}/chat/completions`, headers: { ...json, authorization: `Bearer ${key}` } },
        { name: 'bare', label: 'bare proxy', url: `${bare.url}/v1/chat/completions`, headers: { ...json, authorization: `Bearer ${key}` } },
        ...(floor ? [{ name: 'floor' as const, label: 'bare proxy + ledger', url: `${floor.url}/v1/chat/completions`, headers: { ...json, authorization: `Bearer ${key}` } }] : []),
        {
          name: 'gateway',
          label: `gateway (${context.database.kind})`,
          url: `${service.app.url}/v1/chat/completions`,
          headers: { ...json, authorization: `Bearer ${secrets.serviceToken}`, 'x-workspace-id': workspaceId, 'x-inference-path': 'AGENT_RUN' },
        },
        {
          name: 'portkey',
          label: PORTKEY,
          url: `${portkey.url}/v1/chat/completions`,
          headers: { ...json, authorization: `Bearer ${key}`, 'x-portkey-provider': 'openai', 'x-portkey-custom-host': upstream.url },
        },
      ];
      for (const target of targets) await probe(target);
      const floorPid = floor?.process.pid;
      const readCpu = (): CpuReading => {
        const own = process.cpuUsage();
        return {
          direct: processCpuSeconds(upstream.process.pid as number),
          bare: processCpuSeconds(bare.process.pid as number),
          floor: floorPid === undefined ? 0 : processCpuSeconds(floorPid),
          gateway: (own.user + own.system) / 1e6,
          portkey: processCpuSeconds(portkey.pid),
        };
      };
      const measure = async <R>(target: Target, load: () => Promise<R>, callsOf: (result: R) => number): Promise<Measured<R>> => {
        const before = readCpu();
        const started = process.hrtime.bigint();
        const result = await load();
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        const after = readCpu();
        const cpu = Object.fromEntries(TARGET_NAMES.map((name) => [name, after[name] - before[name]])) as CpuReading;
        return { target, result, calls: callsOf(result), seconds, cpu };
      };
      const runId = randomBytes(6).toString('hex');
      const poisson = (target: Target, seconds: number, phase: string) => () =>
        runAtFixedRate({ url: target.url, method: 'POST', headers: target.headers, body: BODY, rate: RATE, durationSeconds: seconds, arrivals: 'poisson', requestIdPrefix: `bench-${runId}-${phase}-${target.name}` });
      // autocannon replaces `[<id>]` with a fresh id per request (idReplacement).
      const flatOut = (target: Target, seconds: number) => () =>
        runClosedLoop({ url: target.url, method: 'POST', headers: { ...target.headers, 'x-request-id': '[<id>]' }, body: BODY, connections: CONNECTIONS, durationSeconds: seconds, idReplacement: true });
      const openLoopCalls = (result: FixedRateResult) => result.latenciesMs.length + result.failures;
      const closedLoopCalls = (result: ClosedLoopResult) => result.totalRequests;

      context.log(`warm-up: ${WARMUP_SECONDS} s each of Poisson ${RATE} req/s and ${CONNECTIONS} connections flat out, on each target`);
      const warmPoisson: Array<Measured<FixedRateResult>> = [];
      const warmFlat: Array<Measured<ClosedLoopResult>> = [];
      for (const target of targets) {
        warmPoisson.push(await measure(target, poisson(target, WARMUP_SECONDS, 'warm'), openLoopCalls));
        warmFlat.push(await measure(target, flatOut(target, WARMUP_SECONDS), closedLoopCalls));
      }
      // The machine's load drifts while other work comes and goes: each load runs in rounds, the
      // targets in one order and then in the reverse, so that none is always measured last.
      const seconds = context.load.durationSeconds / ROUNDS;
      const poissonRounds: Array<Measured<FixedRateResult>> = [];
      const flatRounds: Array<Measured<ClosedLoopResult>> = [];
      for (let round = 0; round < ROUNDS; round += 1) {
        for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
          context.log(`round ${round + 1}/${ROUNDS}, Poisson arrivals, ${RATE} req/s mean, ${seconds} s: ${target.label}`);
          poissonRounds.push(await measure(target, poisson(target, seconds, `poisson${round}`), openLoopCalls));
        }
      }
      for (let round = 0; round < ROUNDS; round += 1) {
        for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
          context.log(`round ${round + 1}/${ROUNDS}, ${CONNECTIONS} connections flat out, ${seconds} s: ${target.label}`);
          flatRounds.push(await measure(target, flatOut(target, seconds), closedLoopCalls));
        }
      }
      const poissonRuns = targets.map((target) => pooled(poissonRounds.filter((run) => run.target === target), pooledOpenLoop));
      const flatRuns = targets.map((target) => pooled(flatRounds.filter((run) => run.target === target), pooledClosedLoop));
      context.log(`CPU profile of the gateway: ${PROFILE_SECONDS} s Poisson, then ${PROFILE_SECONDS} s flat out`);
      const gatewayTarget = targets.find((target) => target.name === 'gateway') as Target;
      const profiledPoisson = await profileWhile(poisson(gatewayTarget, PROFILE_SECONDS, 'profile'));
      const profiledFlat = await profileWhile(flatOut(gatewayTarget, PROFILE_SECONDS));
      // For a closer look (Chrome DevTools, speedscope): BENCH_PROFILE_DIR=<dir>.
      const profileDir = process.env.BENCH_PROFILE_DIR;
      if (profileDir) {
        writeFileSync(join(profileDir, 'gateway-poisson.cpuprofile'), JSON.stringify(profiledPoisson.profile));
        writeFileSync(join(profileDir, 'gateway-flat-out.cpuprofile'), JSON.stringify(profiledFlat.profile));
      }

      const ofGateway = <R>(runs: Array<Measured<R>>) => runs.filter((run) => run.target.name === 'gateway').map((run) => run.result);
      const gatewayOpenLoop = [...ofGateway(warmPoisson), ...ofGateway(poissonRounds), profiledPoisson.result];
      const gatewayClosedLoop = [...ofGateway(warmFlat), ...ofGateway(flatRounds), profiledFlat.result];
      // The probe, then every open-loop answer (the generator waits for all of them).
      const gatewayAnswered = 1 + gatewayOpenLoop.reduce((sum, result) => sum + result.latenciesMs.length, 0);
      // autocannon counts the answers it waited for; when it stops, up to one call per connection is
      // still on its way and is recorded too.
      const closedAnswered = gatewayClosedLoop.reduce((sum, result) => sum + result.totalRequests - failuresOf(result), 0);
      const cutOff = CONNECTIONS * gatewayClosedLoop.length;
      const answered = gatewayAnswered + closedAnswered;
      const recorded = await recordedCalls(service.app, workspaceId, answered);
      context.log(`quiet check again`);
      const quietAfter = await plainHttpRate();
      const quietRate = Math.min(quietBefore, quietAfter);
      const quiet = quietRate >= QUIET_PLAIN_HTTP_RPS;
      const quietness = `plain node:http ${Math.round(quietBefore)} req/s before the loads, ${Math.round(quietAfter)} after (quiet: >= ${QUIET_PLAIN_HTTP_RPS})`;

      const byName = <R>(runs: Array<Measured<R>>, name: (typeof ALWAYS_RUN)[number]) => runs.find((run) => run.target.name === name) as Measured<R>;
      const floorOf = <R>(runs: Array<Measured<R>>) => runs.find((run) => run.target.name === 'floor');
      const rows: BenchRow[] = [];
      for (const run of poissonRuns) rows.push(rowOf(`Poisson ${RATE}/s: ${run.target.label}`, run.result.requestsPerSecond, run.result.latenciesMs, run.result.failures));
      for (const run of flatRuns) {
        rows.push(rowOf(`${CONNECTIONS} conns flat out: ${run.target.label}`, run.result.requestsPerSecond, run.result.latenciesMs, failuresOf(run.result)));
      }

      const p = (run: Measured<FixedRateResult>, q: number) => percentile(run.result.latenciesMs, q);
      const [direct, bareRun, gateway, pk] = ALWAYS_RUN.map((name) => byName(poissonRuns, name));
      const floorRun = floorOf(poissonRuns);
      const added = (run: Measured<FixedRateResult>, q: number) => p(run, q) - p(direct, q);
      const [flatDirect, flatBare, flatGateway, flatPortkey] = ALWAYS_RUN.map((name) => byName(flatRuns, name));
      const flatFloor = floorOf(flatRuns);
      const floorNote = floorRun ? `; bare proxy + ledger ${signedMs(added(floorRun, 50))} ms` : '';
      const verdicts: BenchVerdict[] = [];
      const onTargetDatabase = context.database.kind !== 'sqlite';
      verdicts.push(
        {
          label: `added p50 under Poisson ${RATE}/s <= ${PORTKEY}'s / 3`,
          met: onTargetDatabase ? added(gateway, 50) <= added(pk, 50) * TARGET_P50_SHARE_OF_PORTKEY : undefined,
          detail: `gateway ${signedMs(added(gateway, 50))} ms, ${PORTKEY} ${signedMs(added(pk, 50))} ms (ratio ${(added(gateway, 50) / added(pk, 50)).toFixed(2)})${floorNote}; p50 direct ${p(direct, 50).toFixed(2)} ms, gateway ${p(gateway, 50).toFixed(2)} ms, ${PORTKEY} ${p(pk, 50).toFixed(2)} ms`,
        },
        {
          label: `max throughput (${CONNECTIONS} connections) >= ${TARGET_THROUGHPUT_TIMES_PORTKEY} x ${PORTKEY}'s`,
          met: onTargetDatabase ? flatGateway.result.requestsPerSecond >= TARGET_THROUGHPUT_TIMES_PORTKEY * flatPortkey.result.requestsPerSecond : undefined,
          detail: `gateway ${Math.round(flatGateway.result.requestsPerSecond)} req/s, ${PORTKEY} ${Math.round(flatPortkey.result.requestsPerSecond)} req/s (${(flatGateway.result.requestsPerSecond / flatPortkey.result.requestsPerSecond).toFixed(2)}x); direct ${Math.round(flatDirect.result.requestsPerSecond)} req/s`,
        },
        {
          label: `added p50 <= ${TARGET_P50_ADDED_MS} ms (defined on a quiet machine)`,
          met: onTargetDatabase && quiet ? added(gateway, 50) <= TARGET_P50_ADDED_MS : undefined,
          detail: `${added(gateway, 50).toFixed(2)} ms; bare proxy ${signedMs(added(bareRun, 50))} ms${floorNote}; ${quietness}`,
        },
        {
          label: `added p99 <= ${TARGET_P99_ADDED_MS} ms (defined on a quiet machine)`,
          met: onTargetDatabase && quiet ? added(gateway, 99) <= TARGET_P99_ADDED_MS : undefined,
          detail: `${added(gateway, 99).toFixed(2)} ms (p99 direct ${p(direct, 99).toFixed(2)} ms, gateway ${p(gateway, 99).toFixed(2)} ms); bare proxy ${signedMs(added(bareRun, 99))} ms${floorRun ? `; bare proxy + ledger ${signedMs(added(floorRun, 99))} ms` : ''}; ${PORTKEY} ${signedMs(added(pk, 99))} ms; ${quietness}`,
        },
      );
      const poissonShare = fileIoShare(profiledPoisson.profile);
      const flatShare = fileIoShare(profiledFlat.profile);
      verdicts.push({
        label: 'no synchronous file I/O on the event loop (CPU profile)',
        met: poissonShare.syncFileIoSamples + flatShare.syncFileIoSamples === 0,
        detail: `${poissonShare.syncFileIoSamples} of ${poissonShare.samples} samples under Poisson, ${flatShare.syncFileIoSamples} of ${flatShare.samples} flat out, in a *Sync function of node:fs`,
      });
      const failures =
        [...warmPoisson, ...poissonRuns].reduce((sum, run) => sum + run.result.failures, 0) + [...warmFlat, ...flatRuns].reduce((sum, run) => sum + failuresOf(run.result), 0) + profiledPoisson.result.failures + failuresOf(profiledFlat.result);
      const recordedOk = recorded >= answered && recorded <= answered + cutOff;
      verdicts.push({
        label: 'every answer correct',
        met: failures === 0 && recordedOk,
        detail: `${failures} failed answers over all targets; ${recorded} gateway calls recorded for ${answered} answered (plus at most ${cutOff} still in flight when autocannon stopped)`,
      });

      // CPU per call: each server's CPU time during its runs, less what it used per second while
      // it was not called (during the direct run of the same load: for this process that is the
      // benchmark's own bookkeeping; for Portkey its timers).
      const cpuPerCallMs = (runs: Array<Measured<unknown>>, name: Exclude<TargetName, 'direct' | 'floor'>) => {
        const idle = byName(runs, 'direct');
        const run = byName(runs, name);
        const baseline = (idle.cpu[name] / idle.seconds) * run.seconds;
        return { perCall: (1000 * (run.cpu[name] - baseline)) / Math.max(1, run.calls), baselineMsPerSecond: (1000 * idle.cpu[name]) / idle.seconds };
      };
      const cpuNote = (label: string, runs: Array<Measured<unknown>>) => {
        const gw = cpuPerCallMs(runs, 'gateway');
        const pkCpu = cpuPerCallMs(runs, 'portkey');
        const bareCpu = cpuPerCallMs(runs, 'bare');
        const floorRunOf = floorOf(runs);
        const floorCpu = floorRunOf ? ((1000 * floorRunOf.cpu.floor) / Math.max(1, floorRunOf.calls)).toFixed(3) : undefined;
        const up = (name: Exclude<TargetName, 'floor'>) => ((1000 * byName(runs, name).cpu.direct) / Math.max(1, byName(runs, name).calls)).toFixed(3);
        return (
          `CPU per call, ${label}: gateway ${gw.perCall.toFixed(3)} ms (its process used ${gw.baselineMsPerSecond.toFixed(1)} ms/s while not called, subtracted), ` +
          `${PORTKEY} ${pkCpu.perCall.toFixed(3)} ms (${pkCpu.baselineMsPerSecond.toFixed(1)} ms/s idle, subtracted), bare proxy ${bareCpu.perCall.toFixed(3)} ms${floorCpu ? `, bare proxy + ledger ${floorCpu} ms` : ''}; ` +
          `the fake upstream ${up('direct')} ms called directly, ${up('bare')} ms behind the bare proxy, ${up('gateway')} ms behind the gateway, ${up('portkey')} ms behind ${PORTKEY}`
        );
      };
      const notes = [
        `floor: the bare proxy (node:http + undici, nothing else; bench/support/bare-proxy.ts) adds ${signedMs(added(bareRun, 50))} ms p50 and ${signedMs(added(bareRun, 99))} ms p99 under Poisson ${RATE}/s and answers ${Math.round(flatBare.result.requestsPerSecond)} req/s flat out; ` +
          `a third of ${PORTKEY}'s added p50 is ${(added(pk, 50) * TARGET_P50_SHARE_OF_PORTKEY).toFixed(2)} ms`,
        floorRun && flatFloor
          ? `ledger floor: the bare proxy plus the request-id check (one SELECT on usage_record's unique index) before the upstream and the intent's O_DSYNC append while it works (bench/support/bare-proxy.ts) adds ${signedMs(added(floorRun, 50))} ms p50 and ${signedMs(added(floorRun, 99))} ms p99 under Poisson ${RATE}/s and answers ${Math.round(flatFloor.result.requestsPerSecond)} req/s flat out`
          : `ledger floor: not run (it needs MariaDB/MySQL)`,
        cpuNote(`Poisson ${RATE}/s`, poissonRuns),
        cpuNote(`${CONNECTIONS} connections flat out`, flatRuns),
        profileNote(`Poisson ${RATE}/s for ${PROFILE_SECONDS} s`, poissonShare),
        profileNote(`${CONNECTIONS} connections flat out for ${PROFILE_SECONDS} s`, flatShare),
        `load average ${loadBefore.map((value) => value.toFixed(2)).join(' / ')} when the suite started, ${loadavg()
          .map((value) => value.toFixed(2))
          .join(' / ')} at its end; ${quietness}; the fake upstream flat out (node:http reading a POST body) ${Math.round(flatDirect.result.requestsPerSecond)} req/s`,
        `Poisson: open-loop, ${RATE} req/s mean (exponential gaps), each latency timed from when its request was due, unique X-Request-Id per call; flat out: autocannon, ${CONNECTIONS} connections, unique X-Request-Id per call (1 ms latency resolution); ${context.load.durationSeconds} s per target and load in ${ROUNDS} rounds of ${seconds} s (target order reversed in every other round), after ${WARMUP_SECONDS} s of warm-up each; the fake upstream, the bare proxy, each load generator and ${PORTKEY} run in processes of their own, the gateway in this one; every gateway call is journaled in DATA_DIR (fdatasync'd) and recorded in ${context.database.kind}`,
      ];
      return { rows, verdicts, notes };
    } finally {
      await portkey.stop();
      bare.process.disconnect();
      floor?.process.disconnect();
      rmSync(journalDir, { recursive: true, force: true });
      await service.stop();
      upstream.process.disconnect();
    }
  },
};
