import { LoadRequest, LoadResult, measure, rowOf } from './load';
import type { BenchContext, BenchRow, BenchVerdict } from './suite';

/** One service variant ready for load: the same service with metrics on or off. */
export interface OverheadTarget {
  /** the request every load round sends (its body is checked against `expectBody`) */
  request: Omit<LoadRequest, 'connections' | 'durationSeconds'>;
  /** what Prometheus would do meanwhile: one scrape per metrics-on round (none when off) */
  scrape(): Promise<void>;
  /** error lines the service logged so far */
  errorLines(): number;
  stop(): Promise<void>;
}

/**
 * A service path whose metrics cost is measured: starts the variant with metrics on or off. Both
 * variants live in this process (the load generator is a separate one), so this process's CPU
 * time during a round is the service's.
 */
export interface OverheadCase {
  name: string;
  start(metricsOn: boolean): Promise<OverheadTarget>;
}

export interface OverheadSettings {
  /** rounds per variant; on and off alternate ABBA-wise so drift of the machine cancels out */
  rounds: number;
  roundSeconds: number;
  /** the most metrics may add to the median CPU time per request, e.g. 0.05 */
  maxOverhead: number;
}

interface Round {
  result: LoadResult;
  /** CPU time (user + system) of this process during the round, per answered request, in µs */
  cpuMicrosPerRequest: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function round(target: OverheadTarget, settings: OverheadSettings, context: BenchContext, metricsOn: boolean): Promise<Round> {
  const before = process.cpuUsage();
  const load = measure(target.request, { connections: context.load.connections, warmupSeconds: 0, durationSeconds: settings.roundSeconds });
  if (metricsOn) await target.scrape();
  const result = await load;
  const cpu = process.cpuUsage(before);
  const answered = Math.max(1, result.totalRequests);
  return { result, cpuMicrosPerRequest: (cpu.user + cpu.system) / answered };
}

/** Off, on, on, off, off, on…: each variant runs as often first as second in a pair. */
function schedule(rounds: number): boolean[] {
  return Array.from({ length: rounds * 2 }, (_, i) => (Math.floor(i / 2) % 2 === 0 ? i % 2 === 1 : i % 2 === 0));
}

/**
 * Interleaves metrics-on and metrics-off rounds of one case in one run and compares the median
 * CPU time per request: a machine shared with other work slows both variants alike, where
 * back-to-back runs of each would take whatever load came and went.
 */
export async function measureMetricsOverhead(
  suite: string,
  context: BenchContext,
  overheadCase: OverheadCase,
  settings: OverheadSettings,
): Promise<{ rows: BenchRow[]; verdict: BenchVerdict; correctness: BenchVerdict; notes: string[]; medianCpuMicros: { on: number; off: number } }> {
  const targets = { off: await overheadCase.start(false), on: await overheadCase.start(true) };
  try {
    // A round's length at least: the first rounds ran visibly slower after the suites' usual 2 s.
    const warmupSeconds = Math.max(context.load.warmupSeconds, settings.roundSeconds);
    context.log(`${overheadCase.name}: warm-up of both variants, ${warmupSeconds} s each`);
    for (const target of [targets.off, targets.on]) await measure(target.request, { ...context.load, durationSeconds: warmupSeconds, warmupSeconds: 0 });
    const rounds: Record<'on' | 'off', Round[]> = { on: [], off: [] };
    const order = schedule(settings.rounds);
    context.log(`${overheadCase.name}: ${order.length} rounds of ${settings.roundSeconds} s, ${context.load.connections} connections, metrics ${order.map((on) => (on ? 'on' : 'off')).join('/')}`);
    for (const metricsOn of order) {
      const variant = metricsOn ? 'on' : 'off';
      rounds[variant].push(await round(targets[variant], settings, context, metricsOn));
    }

    const cpu = { on: median(rounds.on.map((r) => r.cpuMicrosPerRequest)), off: median(rounds.off.map((r) => r.cpuMicrosPerRequest)) };
    const overhead = cpu.on / cpu.off - 1;
    const rowFor = (variant: 'on' | 'off') => {
      const all = rounds[variant];
      const medianOf = (pick: (result: LoadResult) => number) => median(all.map((r) => pick(r.result)));
      const sum = (pick: (result: LoadResult) => number) => all.reduce((total, r) => total + pick(r.result), 0);
      return rowOf(suite, `${overheadCase.name}, metrics ${variant} (median round)`, {
        requestsPerSecond: medianOf((r) => r.requestsPerSecond),
        totalRequests: sum((r) => r.totalRequests),
        p50Ms: medianOf((r) => r.p50Ms),
        p99Ms: medianOf((r) => r.p99Ms),
        non2xx: sum((r) => r.non2xx),
        errors: sum((r) => r.errors),
        timeouts: sum((r) => r.timeouts),
        mismatches: sum((r) => r.mismatches),
      });
    };
    const rows = [rowFor('off'), rowFor('on')];
    const errorLines = targets.on.errorLines() + targets.off.errorLines();
    const failures = rows.reduce((total, row) => total + row.failures, 0) + errorLines;
    const perRound = (variant: 'on' | 'off') => rounds[variant].map((r) => r.cpuMicrosPerRequest.toFixed(1)).join(', ');
    return {
      rows,
      verdict: {
        label: `${overheadCase.name}: metrics add <= ${(settings.maxOverhead * 100).toFixed(0)} % CPU per request (median of ${settings.rounds} rounds each)`,
        met: overhead <= settings.maxOverhead,
        detail: `${cpu.on.toFixed(1)} µs on vs ${cpu.off.toFixed(1)} µs off: ${overhead >= 0 ? '+' : ''}${(overhead * 100).toFixed(1)} %`,
      },
      correctness: { label: 'every answer correct', met: failures === 0, detail: `${overheadCase.name}: ${failures} failed or different answers, ${errorLines} error lines logged` },
      notes: [`${overheadCase.name}: CPU µs per request by round, off: ${perRound('off')}; on: ${perRound('on')}`],
      medianCpuMicros: cpu,
    };
  } finally {
    await targets.on.stop();
    await targets.off.stop();
  }
}
