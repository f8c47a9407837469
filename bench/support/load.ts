import { fork } from 'node:child_process';
import { join } from 'node:path';
import type { BenchRow, LoadSettings } from './suite';

export interface LoadRequest {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  connections: number;
  durationSeconds: number;
  /** every answer must be exactly this body, else it counts as a mismatch */
  expectBody?: string;
}

export interface LoadResult {
  requestsPerSecond: number;
  totalRequests: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  mismatches: number;
}

function runInWorker(request: LoadRequest): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = fork(join(__dirname, 'load-worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: LoadResult | undefined;
    worker.once('message', (message: LoadResult) => (result = message));
    worker.once('error', reject);
    worker.once('exit', (code) => (result ? resolve(result) : reject(new Error(`load generator exited with code ${code}`))));
    worker.send(request);
  });
}

/** A warm-up run whose figures are thrown away, then the measured run. */
export async function measure(request: Omit<LoadRequest, 'connections' | 'durationSeconds'>, settings: LoadSettings): Promise<LoadResult> {
  if (settings.warmupSeconds > 0) await runInWorker({ ...request, connections: settings.connections, durationSeconds: settings.warmupSeconds });
  return runInWorker({ ...request, connections: settings.connections, durationSeconds: settings.durationSeconds });
}

export function rowOf(suite: string, caseName: string, result: LoadResult): BenchRow {
  return {
    suite,
    case: caseName,
    requestsPerSecond: result.requestsPerSecond,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    failures: result.non2xx + result.errors + result.timeouts + result.mismatches,
  };
}
