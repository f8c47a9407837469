import { fork } from 'node:child_process';
import { join } from 'node:path';

/** In a body, stands for the request's id (see FixedRateRequest.requestIdPrefix). */
export const REQUEST_ID_PLACEHOLDER = '[<id>]';

export interface FixedRateRequest {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  /** mean requests per second */
  rate: number;
  durationSeconds: number;
  /** `even`: one request every 1000/rate ms; `poisson`: exponentially distributed gaps of the same mean */
  arrivals: 'even' | 'poisson';
  /**
   * each request carries `X-Request-Id: <prefix>-<n>`, unique per request when the prefix is unique
   * per run; the same id replaces REQUEST_ID_PLACEHOLDER in the body (a mutation's own request id)
   */
  requestIdPrefix?: string;
}

export interface FixedRateResult {
  /** every 2xx answer's latency in ms from when its request was due, unrounded */
  latenciesMs: number[];
  /** non-2xx answers, socket errors and timeouts */
  failures: number;
  /** answers by HTTP status */
  statuses: Record<string, number>;
  requestsPerSecond: number;
}

/** Runs an open-loop fixed mean rate in a separate process and returns every latency it saw. */
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
