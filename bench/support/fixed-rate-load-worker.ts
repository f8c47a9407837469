import autocannon from 'autocannon';
import { Agent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { FixedRateRequest, FixedRateResult } from './fixed-rate-load';

/**
 * A fixed request rate, in its own process (forked by ./fixed-rate-load.ts). Each 2xx answer's
 * latency is kept as measured (float ms): autocannon's own histogram has a 1 ms resolution, too
 * coarse for targets of a millisecond.
 *
 * autocannon's overallRate is a budget per connection per second, refilled by a 1 s timer: at each
 * tick every connection sends its share back to back, then waits for the next tick. At 200 req/s
 * over 10 connections, each second starts with all 200 requests, 10 at a time. With `spread`, a
 * minimal open-loop generator sends one request every 1000/rate ms instead, on keep-alive
 * connections, and times each answer from the moment its request was due (so a generator that
 * falls behind cannot hide latency).
 */

type Collector = Pick<FixedRateResult, 'latenciesMs' | 'statuses'> & { failures: number };

function collect(collector: Collector, statusCode: number, latencyMs: number): void {
  collector.statuses[statusCode] = (collector.statuses[statusCode] ?? 0) + 1;
  if (statusCode >= 200 && statusCode < 300) collector.latenciesMs.push(latencyMs);
  else collector.failures += 1;
}

function withAutocannon(request: FixedRateRequest, collector: Collector): Promise<number> {
  return new Promise((resolveRun, rejectRun) => {
    const instance = autocannon(
      {
        url: request.url,
        method: request.method,
        headers: request.headers,
        body: request.body,
        connections: request.connections,
        overallRate: request.overallRate,
        duration: request.durationSeconds,
      },
      (error, result) => {
        if (error) return rejectRun(error);
        collector.failures += result.errors + result.timeouts;
        resolveRun(result.requests.average);
      },
    );
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTimeMs: number) => collect(collector, statusCode, responseTimeMs));
  });
}

function evenlySpaced(request: FixedRateRequest, collector: Collector): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: 512 });
  const interval = 1000 / request.overallRate;
  const total = Math.round(request.overallRate * request.durationSeconds);
  const started = performance.now();
  let sent = 0;
  let settled = 0;
  return new Promise((resolveRun) => {
    const settle = () => {
      settled += 1;
      if (settled === total) {
        agent.destroy();
        resolveRun(total / ((performance.now() - started) / 1000));
      }
    };
    const fire = (dueAt: number) => {
      const outgoing = httpRequest(request.url, { method: request.method, headers: request.headers, agent }, (response) => {
        response.resume();
        response.on('end', () => {
          collect(collector, response.statusCode ?? 0, performance.now() - dueAt);
          settle();
        });
      });
      outgoing.on('error', () => {
        collector.failures += 1;
        settle();
      });
      outgoing.end(request.body);
    };
    const tick = () => {
      const now = performance.now();
      while (sent < total && started + sent * interval <= now) {
        fire(started + sent * interval);
        sent += 1;
      }
      if (sent < total) setTimeout(tick, Math.max(0, started + sent * interval - performance.now()));
    };
    tick();
  });
}

process.once('message', (request: FixedRateRequest) => {
  const collector: Collector = { latenciesMs: [], statuses: {}, failures: 0 };
  (request.spread ? evenlySpaced(request, collector) : withAutocannon(request, collector)).then(
    (requestsPerSecond) => {
      const summary: FixedRateResult = { ...collector, requestsPerSecond };
      process.send?.(summary, () => process.exit(0));
    },
    (error: Error) => {
      process.stderr.write(`load generator failed: ${error.message}\n`);
      process.exit(1);
    },
  );
});
