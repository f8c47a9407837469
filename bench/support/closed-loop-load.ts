import { fork } from 'node:child_process';
import { join } from 'node:path';
import type { BenchRow } from './suite';

/**
 * A closed-loop load run (each connection sends its next request when the previous one is
 * answered) in a separate process, keeping every latency as measured: autocannon's own histogram
 * has a 1 ms resolution, too coarse for ratios of a few milliseconds.
 */
export interface ClosedLoopRequest {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  connections: number;
  durationSeconds: number;
  /** replace every `[<id>]` in the body with a fresh unique id per request (autocannon's idReplacement) */
  idReplacement?: boolean;
  /** every answer must be exactly this body, else it counts as a mismatch */
  expectBody?: string;
}

export interface ClosedLoopResult {
  /** every 2xx answer's latency in ms, unrounded */
  latenciesMs: number[];
  totalRequests: number;
  requestsPerSecond: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  mismatches: number;
}

export function runClosedLoop(request: ClosedLoopRequest): Promise<ClosedLoopResult> {
  return new Promise((resolveRun, reject) => {
    const worker = fork(join(__dirname, 'closed-loop-load-worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: ClosedLoopResult | undefined;
    worker.once('message', (message: ClosedLoopResult) => (result = message));
    worker.once('error', reject);
    worker.once('exit', (code) => (result ? resolveRun(result) : reject(new Error(`load generator exited with code ${code}`))));
    worker.send(request);
  });
}

/** The p-th percentile (0–100) by nearest rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

export function failuresOf(result: ClosedLoopResult): number {
  return result.non2xx + result.errors + result.timeouts + result.mismatches;
}

export function closedLoopRow(suite: string, caseName: string, result: ClosedLoopResult): BenchRow {
  return {
    suite,
    case: caseName,
    requestsPerSecond: result.requestsPerSecond,
    p50Ms: percentile(result.latenciesMs, 50),
    p99Ms: percentile(result.latenciesMs, 99),
    failures: failuresOf(result),
  };
}
