import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { createLogger } from '../src/logging/logger';
import { ServiceMetrics } from '../src/metrics/service-metrics';
import { KeySource } from '../src/modules/usage/usage.enums';
import { SAVE_KEY } from './support/documents';
import { expectData } from './support/expectations';
import { SeededWorkspace, seedWorkspace } from './support/fixtures';
import { callGateway, CHAT_BODY } from './support/gateway-client';
import { byokWorkspace, replaceKey, startGatewayWorld } from './support/gateway-setup';
import { canaryKey, findLeak } from './support/leak-search';
import { Scrape } from './support/prometheus';
import { rawRequestLine } from './support/raw-http';
import { buildIfStale, freePort, serviceProcessEnv, startServiceProcess } from './support/service-process';
import { startTestApp, TEST_SERVICE_TOKEN, TestApp } from './support/test-app';
import { createTestDatabase, usingMysql } from './support/test-database';

/**
 * /metrics (Prometheus text format) as an operator scrapes it: only when configured, behind
 * METRICS_TOKEN on the main port or on METRICS_PORT/METRICS_HOST; counts that match the calls
 * made; labels from fixed sets only, so no id, name, token, key or operation name ever shows.
 */

const metricsToken = () => `metrics-token-${randomBytes(16).toString('hex')}`;

async function scrapeMain(t: TestApp, token: string): Promise<Scrape> {
  const answer = await t.http().get('/metrics').set('authorization', `Bearer ${token}`);
  expect(answer.status).toBe(200);
  expect(answer.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  return Scrape.parse(answer.text);
}

/** `after - before` for one counter sample. */
const delta = (before: Scrape, after: Scrape, name: string, labels: Record<string, string>) => after.value(name, labels) - before.value(name, labels);
const histogramCount = (scrape: Scrape, name: string, labels: Record<string, string>) => scrape.histogram(name, labels)?.count ?? 0;

describe('metrics', () => {
  describe('not configured (the default)', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp();
    });
    afterAll(() => t.close());

    it('serves no /metrics at all, whatever the caller sends', async () => {
      expect((await t.http().get('/metrics')).status).toBe(404);
      expect((await t.http().get('/metrics').set('authorization', 'Bearer anything')).status).toBe(404);
      expect(t.app.metricsUrl).toBeUndefined();
    });
  });

  describe('on the main port, behind METRICS_TOKEN', () => {
    const token = metricsToken();
    const key = canaryKey();
    let t: TestApp;
    let ws: SeededWorkspace;
    beforeAll(async () => {
      t = await startTestApp({ overrides: { metricsToken: token } });
      ws = await seedWorkspace(t);
      expectData(await t.gql(SAVE_KEY, { w: ws.id, k: key }, ws.tokens.owner));
    });
    afterAll(() => t.close());

    it('answers 401 without the token, with another one or another scheme, and 405 to anything but GET', async () => {
      for (const authorization of [undefined, 'Bearer wrong-token', `Basic ${Buffer.from(`x:${token}`).toString('base64')}`, `Bearer ${token}x`, token]) {
        const req = t.http().get('/metrics');
        if (authorization) req.set('authorization', authorization);
        const answer = await req;
        expect(answer.status).toBe(401);
        expect(answer.headers['www-authenticate']).toBe('Bearer realm="metrics"');
        expect(answer.body.error.code).toBe('UNAUTHENTICATED');
        expect(answer.body.error.code).not.toBe('INTERNAL_SERVER_ERROR');
        expect(answer.text).not.toContain('process_cpu');
      }
      const post = await t.http().post('/metrics').set('authorization', `Bearer ${token}`);
      expect(post.status).toBe(405);
      expect(post.headers.allow).toBe('GET, HEAD');
      expect((await t.http().get('/metrics').set('authorization', `bearer ${token}`)).status).toBe(200);
    });

    it('counts GraphQL operations by root field and outcome, and HTTP requests by route and status, exactly as made', async () => {
      const before = await scrapeMain(t, token);
      const operationName = `CanaryOperation${randomBytes(6).toString('hex')}`;
      const unknownField = `canaryField${randomBytes(6).toString('hex')}`;
      const unknownPath = `/canary-path-${randomBytes(6).toString('hex')}`;
      const keyStatus = 'query($w: ID!) { aiInferenceKey(workspaceId: $w) { configured } }';

      for (let i = 0; i < 3; i += 1) expectData(await t.gql(`query ${operationName} { viewer { userId } }`));
      for (let i = 0; i < 2; i += 1) expectData(await t.gql(keyStatus, { w: ws.id }, ws.tokens.member));
      const forbidden = await t.gql(keyStatus, { w: ws.id }, ws.tokens.outsider);
      expect(forbidden.errors?.[0].extensions?.code).toBe('FORBIDDEN');
      expect((await t.gql('{ viewer { userId ')).status).toBe(400);
      expect((await t.gql(`{ ${unknownField} }`)).status).toBe(400);
      expectData(await t.gql('query($w: ID!) { viewer { userId } aiInferenceKey(workspaceId: $w) { configured } }', { w: ws.id }, ws.tokens.member));
      expect((await t.http().get(unknownPath)).status).toBe(404);

      const after = await scrapeMain(t, token);
      const operations = 'graphql_operations_total';
      expect(after.typeOf(operations)).toBe('counter');
      expect(delta(before, after, operations, { root_field: 'viewer', operation: 'query', outcome: 'ok' })).toBe(4);
      expect(delta(before, after, operations, { root_field: 'aiInferenceKey', operation: 'query', outcome: 'ok' })).toBe(3);
      expect(delta(before, after, operations, { root_field: 'aiInferenceKey', operation: 'query', outcome: 'FORBIDDEN' })).toBe(1);
      expect(delta(before, after, operations, { root_field: '_none', operation: '_none', outcome: 'GRAPHQL_PARSE_FAILED' })).toBe(1);
      expect(delta(before, after, operations, { root_field: '_unknown', operation: 'query', outcome: 'GRAPHQL_VALIDATION_FAILED' })).toBe(1);
      const durations = 'graphql_operation_duration_seconds';
      expect(after.typeOf(durations)).toBe('histogram');
      expect(histogramCount(after, durations, { root_field: 'viewer', operation: 'query', outcome: 'ok' }) - histogramCount(before, durations, { root_field: 'viewer', operation: 'query', outcome: 'ok' })).toBe(4);
      expect(after.histogram(durations, { root_field: 'viewer', operation: 'query', outcome: 'ok' })?.sum).toBeGreaterThan(0);

      const requests = 'http_requests_total';
      expect(delta(before, after, requests, { route: '/graphql', method: 'POST', status: '200' })).toBe(7);
      expect(delta(before, after, requests, { route: '/graphql', method: 'POST', status: '400' })).toBe(2);
      expect(delta(before, after, requests, { route: 'unmatched', method: 'GET', status: '404' })).toBe(1);
      // the scrape before this one, counted once its answer ended
      expect(delta(before, after, requests, { route: '/metrics', method: 'GET', status: '200' })).toBe(1);
      expect(histogramCount(after, 'http_request_duration_seconds', { route: '/graphql' }) - histogramCount(before, 'http_request_duration_seconds', { route: '/graphql' })).toBe(9);

      const forbiddenText = [operationName, unknownField, unknownPath, ws.id, ...Object.values(ws.userIds), ...Object.values(ws.tokens), ws.adminToken, token, TEST_SERVICE_TOKEN];
      for (const secret of forbiddenText) expect(after.text).not.toContain(secret);
      expect(findLeak(after.text, key)).toBeUndefined();
      for (const value of after.labelValues()) expect(value).toMatch(/^[A-Za-z0-9_./*+:-]{0,40}$/);
    });

    it('reports key statuses, workspace-access cache lookups, the database pool and the event loop', async () => {
      const before = await scrapeMain(t, token);
      expect(before.value('inference_keys', { status: 'UNVERIFIED' })).toBe(1);
      for (const status of ['ACTIVE', 'INVALID', 'OUT_OF_CREDITS', 'LIMIT_EXCEEDED', 'NONE']) expect(before.value('inference_keys', { status })).toBe(0);

      const other = await seedWorkspace(t, undefined, 'Second');
      expectData(await t.gql(SAVE_KEY, { w: other.id, k: canaryKey() }, other.tokens.owner));
      for (let i = 0; i < 3; i += 1) expectData(await t.gql('query($w: ID!) { workspace(id: $w) { id } }', { w: other.id }, other.tokens.member));
      const after = await scrapeMain(t, token);
      expect(after.value('inference_keys', { status: 'UNVERIFIED' })).toBe(2);
      const lookups = (scrape: Scrape, result: string) => scrape.value('cache_lookups_total', { cache: 'workspace_access', result });
      expect(lookups(after, 'miss') - lookups(before, 'miss')).toBeGreaterThanOrEqual(1);
      expect(lookups(after, 'hit') - lookups(before, 'hit')).toBeGreaterThanOrEqual(2);
      expect(after.has('cache_lookups_total')).toBe(true);
      expect(after.samples('cache_lookups_total', { cache: 'secrets' })).toHaveLength(2);

      expect(after.value('nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
      expect(after.has('nodejs_eventloop_lag_p99_seconds')).toBe(true);
      if (usingMysql()) {
        expect(after.value('db_pool_connections', { state: 'limit' })).toBe(20);
        expect(after.value('db_pool_connections', { state: 'in_use' }) + after.value('db_pool_connections', { state: 'idle' })).toBeGreaterThanOrEqual(1);
        expect(after.value('db_pool_connections', { state: 'queued' })).toBe(0);
      } else {
        // SQLite: one connection, no pool to report
        expect(after.samples('db_pool_connections')).toEqual([]);
      }
      for (const name of ['gateway_calls_total', 'gateway_added_latency_seconds', 'gateway_upstream_latency_seconds', 'usage_journal_sync_seconds']) expect(after.has(name)).toBe(true);
    });
  });

  describe('decrypted-secret cache and key statuses, through gateway calls', () => {
    it('counts hits while a workspace’s key stays cached, a miss once a change dropped it, and the key’s status as it changes', async () => {
      const token = metricsToken();
      const world = await startGatewayWorld({ metricsToken: token });
      try {
        const ws = await byokWorkspace(world.t);
        const call = async () => expect((await callGateway(world.t, { workspaceId: ws.id, path: 'AGENT_RUN' })).status).toBe(200);
        const lookups = (scrape: Scrape, result: string) => scrape.value('cache_lookups_total', { cache: 'secrets', result });
        // The first success marks the new key ACTIVE, which drops the cached copy once more.
        await call();
        await call();
        const settled = await scrapeMain(world.t, token);
        expect(lookups(settled, 'miss')).toBeGreaterThanOrEqual(1);

        for (let i = 0; i < 3; i += 1) await call();
        const cached = await scrapeMain(world.t, token);
        expect(lookups(cached, 'hit') - lookups(settled, 'hit')).toBe(3);
        expect(lookups(cached, 'miss') - lookups(settled, 'miss')).toBe(0);

        await replaceKey(world.t, ws, canaryKey());
        await call();
        const replaced = await scrapeMain(world.t, token);
        expect(lookups(replaced, 'miss') - lookups(cached, 'miss')).toBe(1);
        expect(replaced.value('inference_keys', { status: 'ACTIVE' })).toBe(1);

        // OpenRouter refuses the key: its status, and so the key-status series, say INVALID.
        world.fake.chatCompletion({ status: 401 }, { times: 1 });
        expect((await callGateway(world.t, { workspaceId: ws.id, path: 'AGENT_RUN' })).status).not.toBe(200);
        const refused = await scrapeMain(world.t, token);
        expect(refused.value('inference_keys', { status: 'INVALID' })).toBe(1);
        expect(refused.value('inference_keys', { status: 'ACTIVE' })).toBe(0);
        for (const scrape of [replaced, refused]) {
          expect(findLeak(scrape.text, ws.key)).toBeUndefined();
          expect(findLeak(scrape.text, world.platformKey)).toBeUndefined();
        }
      } finally {
        await world.close();
      }
    });
  });

  describe('gateway calls, as the gateway reports them', () => {
    it('counts each call by path, key source and outcome, with its latencies, the journal syncs and the ledger files', async () => {
      const token = metricsToken();
      const world = await startGatewayWorld({ metricsToken: token });
      try {
        const ws = await byokWorkspace(world.t);
        const before = await scrapeMain(world.t, token);
        const call = (path: string, extra: Parameters<typeof callGateway>[1] = {}) => callGateway(world.t, { workspaceId: ws.id, path, ...extra });
        for (let i = 0; i < 2; i += 1) expect((await call('AGENT_RUN')).status).toBe(200);
        expect((await call('AGENT_RUN', { body: { ...CHAT_BODY, stream: true } })).status).toBe(200);
        expect((await call('SEARCH_INDEXER')).status).toBe(200);
        const invalidPath = `canary-path-${randomBytes(4).toString('hex')}`;
        expect((await call(invalidPath)).status).toBe(400);
        world.fake.chatCompletion({ status: 401 }, { times: 1 });
        expect((await call('AGENT_RUN')).status).toBe(401);
        world.fake.chatCompletion({ drop: true }, { times: 1 });
        expect((await call('SEARCH_INDEXER')).status).toBe(502);
        world.fake.chatCompletion({ status: 429, headers: { 'retry-after': '3' } }, { times: 1 });
        expect((await call('SEARCH_INDEXER')).status).toBe(429);
        const after = await scrapeMain(world.t, token);

        const calls = (labels: Record<string, string>) => delta(before, after, 'gateway_calls_total', labels);
        expect(calls({ path: 'AGENT_RUN', key_source: 'BYOK', outcome: 'answered' })).toBe(3);
        expect(calls({ path: 'SEARCH_INDEXER', key_source: 'PLATFORM', outcome: 'answered' })).toBe(2);
        expect(calls({ path: 'INVALID', key_source: 'NONE', outcome: 'refused' })).toBe(1);
        expect(calls({ path: 'AGENT_RUN', key_source: 'BYOK', outcome: 'key_rejected' })).toBe(1);
        expect(calls({ path: 'SEARCH_INDEXER', key_source: 'PLATFORM', outcome: 'upstream_unreachable' })).toBe(1);
        const total = (scrape: Scrape) => scrape.samples('gateway_calls_total').reduce((sum, sample) => sum + sample.value, 0);
        expect(total(after) - total(before)).toBe(8);
        // every call has the gateway's own share; the one refused before OpenRouter has no upstream time
        expect(histogramCount(after, 'gateway_added_latency_seconds', {}) - histogramCount(before, 'gateway_added_latency_seconds', {})).toBe(8);
        expect(histogramCount(after, 'gateway_upstream_latency_seconds', {}) - histogramCount(before, 'gateway_upstream_latency_seconds', {})).toBe(7);
        // each call that went upstream journals its intent and its outcome; group commits may sync several at once
        const syncs = histogramCount(after, 'usage_journal_sync_seconds', {}) - histogramCount(before, 'usage_journal_sync_seconds', {});
        expect(syncs).toBeGreaterThanOrEqual(4);
        expect(syncs).toBeLessThanOrEqual(14);
        expect(after.value('usage_spooled_files')).toBe(0);
        expect(after.value('usage_kept_aside_files')).toBe(0);
        expect(after.text).not.toContain(invalidPath);
        expect(after.text).not.toContain(ws.id);
        expect(findLeak(after.text, ws.key)).toBeUndefined();
        expect(findLeak(after.text, world.platformKey)).toBeUndefined();
      } finally {
        await world.close();
      }
    });
  });

  describe('on METRICS_PORT, bound to METRICS_HOST', () => {
    it('serves /metrics there without a token when none is set, and nowhere on the main port', async () => {
      const t = await startTestApp({ overrides: { metricsPort: 0, metricsHost: '127.0.0.1' } });
      try {
        const metricsUrl = new URL(t.app.metricsUrl!);
        expect(metricsUrl.hostname).toBe('127.0.0.1');
        expect(metricsUrl.port).not.toBe(new URL(t.url).port);
        expectData(await t.gql('{ viewer { userId } }'));
        const answer = await request(metricsUrl.origin).get('/metrics');
        expect(answer.status).toBe(200);
        const scrape = await Scrape.parse(answer.text);
        expect(scrape.value('graphql_operations_total', { root_field: 'viewer', operation: 'query', outcome: 'ok' })).toBe(1);
        expect((await request(metricsUrl.origin).get('/graphql')).status).toBe(404);
        expect((await request(metricsUrl.origin).get('/')).status).toBe(404);
        // a request target that is no URL is compared, never parsed: the listener stays up
        expect((await rawRequestLine(metricsUrl, 'GET // HTTP/1.1')).startsWith('HTTP/1.1 404')).toBe(true);
        expect((await request(metricsUrl.origin).get('/metrics')).status).toBe(200);
        expect((await t.http().get('/metrics')).status).toBe(404);
      } finally {
        await t.close();
      }
      // stopped with the service
      await expect(request(t.app.metricsUrl!).get('')).rejects.toThrow(/ECONNREFUSED/);
    });

    it('needs no token there, its bind address being its guard, while the main port still asks for METRICS_TOKEN', async () => {
      const token = metricsToken();
      const t = await startTestApp({ overrides: { metricsPort: 0, metricsToken: token } });
      try {
        const origin = new URL(t.app.metricsUrl!).origin;
        expect((await request(origin).get('/metrics')).status).toBe(200);
        expect((await request(origin).get('/metrics').set('authorization', `Bearer ${token}`)).status).toBe(200);
        expect((await t.http().get('/metrics')).status).toBe(401);
        expect((await t.http().get('/metrics').set('authorization', `Bearer ${token}`)).status).toBe(200);
      } finally {
        await t.close();
      }
    });
  });

  describe('the compiled service, configured through its environment', () => {
    beforeAll(() => buildIfStale(), 180_000);

    it('serves /metrics on METRICS_PORT at METRICS_HOST and behind METRICS_TOKEN on PORT', async () => {
      const db = await createTestDatabase();
      const token = metricsToken();
      const metricsPort = await freePort();
      const service = await startServiceProcess(
        serviceProcessEnv(db, { baseUrl: 'http://127.0.0.1:9', platformKey: canaryKey() }, { METRICS_TOKEN: token, METRICS_PORT: String(metricsPort), METRICS_HOST: '127.0.0.1' }),
      );
      try {
        const onPort = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
        expect(onPort.status).toBe(200);
        expect((await Scrape.parse(await onPort.text())).has('http_requests_total')).toBe(true);
        expect((await fetch(`${service.url}/metrics`)).status).toBe(401);
        const onMain = await fetch(`${service.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
        expect(onMain.status).toBe(200);
        const text = await onMain.text();
        expect((await Scrape.parse(text)).value('http_requests_total', { route: '/metrics', method: 'GET', status: '401' })).toBe(1);
        expect(service.output()).not.toContain(token);
      } finally {
        await service.stop();
        await db.drop();
      }
    });
  });
});

describe('gateway and ledger metrics (the recording API the gateway calls)', () => {
  const render = async (metrics: ServiceMetrics) => Scrape.parse(await metrics.render());

  it('counts calls by path, key source and outcome, with both latencies, journal syncs and the ledger files', async () => {
    const metrics = new ServiceMetrics(createLogger('silent'));
    const gateway = metrics.gateway;
    const canary = canaryKey();
    gateway.callFinished({ path: 'AGENT_RUN', keySource: KeySource.BYOK, outcome: 'answered', addedSeconds: 0.003, upstreamSeconds: 0.8 });
    gateway.callFinished({ path: 'AGENT_RUN', keySource: KeySource.BYOK, outcome: 'answered', addedSeconds: 0.002, upstreamSeconds: 1.2 });
    gateway.callFinished({ path: 'SEARCH_INDEXER', keySource: KeySource.PLATFORM, outcome: 'upstream_timeout', addedSeconds: 0.001, upstreamSeconds: 120 });
    gateway.callFinished({ path: canary, keySource: 'NONE', outcome: 'refused' });
    gateway.callFinished({ path: `workspace-${randomBytes(4).toString('hex')}`, keySource: 'NONE', outcome: 'refused' });
    gateway.journalSynced(0.0004);
    gateway.journalSynced(0.002);

    let scrape = await render(metrics);
    expect(scrape.typeOf('gateway_calls_total')).toBe('counter');
    expect(scrape.value('gateway_calls_total', { path: 'AGENT_RUN', key_source: 'BYOK', outcome: 'answered' })).toBe(2);
    expect(scrape.value('gateway_calls_total', { path: 'SEARCH_INDEXER', key_source: 'PLATFORM', outcome: 'upstream_timeout' })).toBe(1);
    expect(scrape.value('gateway_calls_total', { path: 'INVALID', key_source: 'NONE', outcome: 'refused' })).toBe(2);
    expect(scrape.histogram('gateway_added_latency_seconds')).toMatchObject({ count: 3 });
    expect(scrape.histogram('gateway_added_latency_seconds')?.sum).toBeCloseTo(0.006, 6);
    expect(scrape.histogram('gateway_upstream_latency_seconds')).toMatchObject({ count: 3, buckets: { '1': 1, '120': 3 } });
    expect(scrape.histogram('usage_journal_sync_seconds')).toMatchObject({ count: 2, buckets: { '0.0005': 1, '0.0025': 2 } });
    expect(findLeak(scrape.text, canary)).toBeUndefined();
    // not wired to a ledger: no made-up zero
    expect(scrape.has('usage_spooled_files')).toBe(false);

    let spooled = 3;
    gateway.watchLedgerFiles({ spooled: () => spooled, keptAside: async () => 1 });
    scrape = await render(metrics);
    expect(scrape.value('usage_spooled_files')).toBe(3);
    expect(scrape.value('usage_kept_aside_files')).toBe(1);
    spooled = 0;
    expect((await render(metrics)).value('usage_spooled_files')).toBe(0);
  });
});
