import autocannon from 'autocannon';
import type { LoadRequest, LoadResult } from './load';

/**
 * Runs autocannon in its own process (forked by ./load.ts), so the load generator does not share
 * an event loop with the server it measures.
 */
process.once('message', (request: LoadRequest) => {
  autocannon({
    url: request.url,
    method: request.method,
    headers: request.headers,
    body: request.body,
    connections: request.connections,
    duration: request.durationSeconds,
    expectBody: request.expectBody,
  })
    .then((result) => {
      const summary: LoadResult = {
        requestsPerSecond: result.requests.average,
        totalRequests: result.requests.total,
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        non2xx: result.non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
        mismatches: result.mismatches,
      };
      process.send?.(summary, () => process.exit(0));
    })
    .catch((error: Error) => {
      process.stderr.write(`autocannon failed: ${error.message}\n`);
      process.exit(1);
    });
});
