import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApp } from '../src/app';
import type { RequestContext } from '../src/request-context';
import { createLogger } from '../src/logging/logger';
import { WebhookEndpointEntity } from '../src/modules/webhook/webhook-endpoint.entity';
import { benchKey, freshBenchSecrets, gatewayBenchConfig, percentile, seedWorkspaceWithKey } from './support/gateway-fixture';
import type { BenchContext, BenchSuite, SuiteResult } from './support/suite';

const SUITE = 'webhook-delivery';
/** From the issue: delivery keeps up with 200 events/s with a receiver answering in 50 ms. */
const TARGET_EVENTS_PER_SECOND = 200;
const RECEIVER_MS = 50;

export const webhookDeliverySuite: BenchSuite = {
  name: SUITE,
  description: `events enqueued at ${TARGET_EVENTS_PER_SECOND}/s (one transaction each) to one endpoint whose receiver answers in ${RECEIVER_MS} ms: delivery rate and lag`,

  async run(context: BenchContext): Promise<SuiteResult> {
    const arrivals = new Map<string, number>();
    const receiver = createServer((request, response) => {
      const id = String(request.headers['webhook-id']);
      request.resume();
      request.on('end', () => {
        setTimeout(() => {
          if (!arrivals.has(id)) arrivals.set(id, performance.now());
          response.writeHead(204).end();
        }, RECEIVER_MS);
      });
    });
    await new Promise<void>((resolveListen) => receiver.listen(0, '127.0.0.1', () => resolveListen()));
    const secrets = freshBenchSecrets();
    const dataDir = mkdtempSync(join(tmpdir(), 'byok-bench-'));
    // Outside production, so the endpoint may be the receiver on loopback (the address check of an IP literal costs no lookup).
    const config = { ...gatewayBenchConfig(context.database, dataDir, secrets), nodeEnv: 'development' as const };
    const app = await startApp(config, createLogger(config.logLevel), { host: '127.0.0.1' });
    try {
      const { workspaceId } = await seedWorkspaceWithKey(app.url, secrets.jwtSecret, benchKey('webhooks'));
      const { id: endpointId } = await app.seam.webhooks
        .create({ auth: { userId: 'bench' } } as unknown as RequestContext, workspaceId, `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`, null)
        .then(({ endpoint }) => endpoint);
      const seconds = context.load.durationSeconds;
      const total = TARGET_EVENTS_PER_SECOND * seconds;
      const enqueuedAt = new Map<string, number>();
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      const writes: Array<Promise<void>> = [];
      for (let n = 0; n < total; n += 1) {
        const due = started + (n * 1000) / TARGET_EVENTS_PER_SECOND;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((resolveWait) => setTimeout(resolveWait, wait));
        writes.push(
          app.seam.transactions
            .run((manager) => app.seam.webhookOutbox.enqueue(manager, workspaceId, 'usage.settled', { workspaceId, usageRecordId: `bench-${n}` }))
            .then((id) => {
              enqueuedAt.set(`msg_${id}`, performance.now());
            }),
        );
      }
      await Promise.all(writes);
      const enqueueEnded = performance.now();
      const deadline = enqueueEnded + 60_000;
      while (arrivals.size < total && performance.now() < deadline) await new Promise((resolveWait) => setTimeout(resolveWait, 50));
      const ended = Math.max(...arrivals.values());
      const cpu = process.cpuUsage(cpuBefore);
      const lags = [...arrivals].map(([id, at]) => at - (enqueuedAt.get(id) ?? at));
      const rate = arrivals.size / ((ended - started) / 1000);
      const enqueueRate = total / ((enqueueEnded - started) / 1000);
      const endpoint = await app.dataSource.getRepository(WebhookEndpointEntity).findOneByOrFail({ id: endpointId });
      context.log(`${arrivals.size} of ${total} delivered`);
      return {
        rows: [],
        verdicts: [
          {
            label: `delivery keeps up with ${TARGET_EVENTS_PER_SECOND} events/s (receiver ${RECEIVER_MS} ms)`,
            met: arrivals.size === total && rate >= TARGET_EVENTS_PER_SECOND * 0.95 && percentile(lags, 99) < 1_000,
            detail: `${arrivals.size}/${total} delivered at ${rate.toFixed(0)} events/s (enqueued at ${enqueueRate.toFixed(0)}/s); lag from commit to the receiver's answer p50 ${percentile(lags, 50).toFixed(0)} ms, p99 ${percentile(lags, 99).toFixed(0)} ms`,
          },
        ],
        notes: [
          `endpoint still enabled: ${endpoint.enabled}`,
          `this process (service, enqueuer and receiver) used ${((cpu.user + cpu.system) / 1000 / total).toFixed(2)} ms of CPU per event`,
        ],
      };
    } finally {
      await app.stop();
      rmSync(dataDir, { recursive: true, force: true });
      receiver.closeAllConnections();
      await new Promise<void>((resolveClose) => receiver.close(() => resolveClose()));
    }
  },
};
