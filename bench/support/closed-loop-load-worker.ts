import autocannon from 'autocannon';
import type { ClosedLoopRequest, ClosedLoopResult } from './closed-loop-load';

/** autocannon in its own process (forked by ./closed-loop-load.ts), so it does not share the server's event loop. */
process.once('message', (request: ClosedLoopRequest) => {
  const latencies: number[] = [];
  const instance = autocannon(
    {
      url: request.url,
      method: request.method,
      headers: request.headers,
      body: request.body,
      connections: request.connections,
      duration: request.durationSeconds,
      idReplacement: request.idReplacement ?? false,
      expectBody: request.expectBody,
    },
    (error, result) => {
      if (error) {
        process.stderr.write(`autocannon failed: ${error.message}\n`);
        process.exit(1);
      }
      const summary: ClosedLoopResult = {
        latenciesMs: latencies,
        totalRequests: result.requests.total,
        requestsPerSecond: result.requests.average,
        non2xx: result.non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
        mismatches: result.mismatches,
      };
      process.send?.(summary, () => process.exit(0));
    },
  );
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTimeMs: number) => {
    if (statusCode >= 200 && statusCode < 300) latencies.push(responseTimeMs);
  });
});
