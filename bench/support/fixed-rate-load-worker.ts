import { Agent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import { FixedRateRequest, FixedRateResult, REQUEST_ID_PLACEHOLDER } from './fixed-rate-load';

/**
 * An open-loop load generator, in its own process (forked by ./fixed-rate-load.ts): requests go
 * out on a schedule fixed in advance, whether or not earlier ones have been answered, on keep-alive
 * connections (a new one whenever all are busy). Each answer is timed from the moment its request
 * was due, so neither a slow server nor a generator that falls behind can hide latency (no
 * coordinated omission). Latencies are kept as measured (float ms): autocannon's histogram has a
 * 1 ms resolution, too coarse for targets of a millisecond.
 */

/** Send times in ms from the start: evenly spaced, or a Poisson process (exponential gaps) of the same mean rate. */
function schedule(request: FixedRateRequest): number[] {
  const total = Math.round(request.rate * request.durationSeconds);
  const meanGapMs = 1000 / request.rate;
  const times: number[] = [];
  let at = 0;
  for (let i = 0; i < total; i += 1) {
    times.push(at);
    at += request.arrivals === 'poisson' ? -Math.log(1 - Math.random()) * meanGapMs : meanGapMs;
  }
  return times;
}

function run(request: FixedRateRequest): Promise<FixedRateResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1024 });
  const due = schedule(request);
  const result: FixedRateResult = { latenciesMs: [], failures: 0, statuses: {}, requestsPerSecond: 0 };
  const started = performance.now();
  let sent = 0;
  let settled = 0;
  return new Promise((resolveRun) => {
    const settle = () => {
      settled += 1;
      if (settled === due.length) {
        agent.destroy();
        result.requestsPerSecond = due.length / ((performance.now() - started) / 1000);
        resolveRun(result);
      }
    };
    const fire = (index: number, dueAt: number) => {
      const id = request.requestIdPrefix === undefined ? undefined : `${request.requestIdPrefix}-${index}`;
      const headers = id === undefined ? request.headers : { ...request.headers, 'x-request-id': id };
      const body = id === undefined ? request.body : request.body?.replace(REQUEST_ID_PLACEHOLDER, id);
      const outgoing = httpRequest(request.url, { method: request.method, headers, agent }, (response) => {
        response.resume();
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          result.statuses[status] = (result.statuses[status] ?? 0) + 1;
          if (status >= 200 && status < 300) result.latenciesMs.push(performance.now() - dueAt);
          else result.failures += 1;
          settle();
        });
      });
      outgoing.on('error', () => {
        result.failures += 1;
        settle();
      });
      outgoing.end(body);
    };
    const tick = () => {
      const now = performance.now();
      while (sent < due.length && started + due[sent] <= now) {
        fire(sent, started + due[sent]);
        sent += 1;
      }
      if (sent < due.length) setTimeout(tick, Math.max(0, started + due[sent] - performance.now()));
    };
    tick();
  });
}

process.once('message', (request: FixedRateRequest) => {
  run(request).then(
    (summary) => process.send?.(summary, () => process.exit(0)),
    (error: Error) => {
      process.stderr.write(`load generator failed: ${error.message}\n`);
      process.exit(1);
    },
  );
});
