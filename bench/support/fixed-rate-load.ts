import { fork } from 'node:child_process';
import { join } from 'node:path';

export interface FixedRateRequest {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  connections: number;
  /** requests per second over all connections (autocannon's overallRate) */
  overallRate: number;
  durationSeconds: number;
  /** evenly spaced requests from a minimal open-loop generator (`connections` is ignored) instead of autocannon's per-second bursts */
  spread?: boolean;
}

export interface FixedRateResult {
  /** every 2xx answer's latency in ms, unrounded */
  latenciesMs: number[];
  /** non-2xx answers, socket errors and timeouts */
  failures: number;
  /** answers by HTTP status */
  statuses: Record<string, number>;
  requestsPerSecond: number;
}

/** Runs a fixed request rate in a separate process and returns every latency it saw. */
export function runAtFixedRate(request: FixedRateRequest): Promise<FixedRateResult> {
  return new Promise((resolveRun, reject) => {
    const worker = fork(join(__dirname, 'fixed-rate-load-worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: FixedRateResult | undefined;
    worker.once('message', (message: FixedRateResult) => (result = message));
    worker.once('error', reject);
    worker.once('exit', (code) => (result ? resolveRun(result) : reject(new Error(`load generator exited with code ${code}`))));
    worker.send(request);
  });
}
