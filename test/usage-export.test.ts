import { get as httpGet } from 'node:http';
import { parse } from 'csv-parse/sync';
import { seedUsageMonth } from '../bench/support/usage-seed';
import { Plan } from '../src/modules/workspace/workspace.enums';
import { expectData } from './support/expectations';
import { SeededWorkspace, seedWorkspace } from './support/fixtures';
import { startTestApp, TestApp, TEST_SERVICE_TOKEN } from './support/test-app';
import { callInput, recordOk } from './support/usage-calls';

/**
 * SPEC.md "Budgets, webhooks, exports, key health": GET /v1/exports/usage streams a month of calls,
 * one row per call, equal to what `usage` answers for that month, to those who read usage, with the
 * same visibility rules, a CSV formula guard, JSON errors and /graphql's CORS policy.
 */

const HEADER =
  'occurred_at,request_id,generation_id,path,model,tier,key_source,actor_user_id,input_tokens,output_tokens,raw_cost_micros,tier_price_micros,billed_micros,flagged,outcome';
const MONTH = '2026-10';
const ORIGIN = 'https://billing.example.com';

const USAGE = `query($w: ID!, $from: DateTime!, $to: DateTime!, $after: String) {
  usage(workspaceId: $w, from: $from, to: $to, first: 100, after: $after) {
    nodes { requestId generationId path model tier keySource actorUserId inputTokens outputTokens rawCostMicros tierPriceMicros billedMicros occurredAt flagged outcome }
    pageInfo { hasNextPage endCursor }
  }
}`;
const CREATE_TOKEN = `mutation($w: ID!, $name: String!) { createPartnerToken(workspaceId: $w, name: $name) { token } }`;

type Row = Record<string, string | number | boolean | null>;

describe('usage export', () => {
  let t: TestApp;
  let ws: SeededWorkspace;
  let other: SeededWorkspace;
  let partnerToken: string;
  let otherPartnerToken: string;

  beforeAll(async () => {
    t = await startTestApp({ overrides: { corsOrigins: [ORIGIN] } });
    ws = await seedWorkspace(t, Plan.ENTERPRISE, 'Exporter');
    other = await seedWorkspace(t, Plan.ENTERPRISE, 'Other');
    partnerToken = expectData(await t.gql(CREATE_TOKEN, { w: ws.id, name: 'bi' }, ws.tokens.billing)).createPartnerToken.token;
    otherPartnerToken = expectData(await t.gql(CREATE_TOKEN, { w: other.id, name: 'bi' }, other.tokens.billing)).createPartnerToken.token;
    const calls = [
      { occurredAt: '2026-09-30T23:59:59.999Z' },
      { occurredAt: '2026-10-01T00:00:00.000Z', keySource: 'BYOK', generationId: 'gen-1', isByok: true, rawCostUsd: '0.0002', upstreamInferenceCostUsd: '0.0038' },
      { occurredAt: '2026-10-05T12:00:00.000Z', model: '=HYPERLINK("http://x","y")', actorUserId: ws.userIds.member },
      { occurredAt: '2026-10-05T12:00:00.000Z', model: '+cmd', actorUserId: '@evil' },
      { occurredAt: '2026-10-05T12:00:00.000Z', model: '-1+1', path: 'SEARCH_INDEXER', tier: 'FRONTIER' },
      { occurredAt: '2026-10-05T12:00:00.000Z', model: 'vendor/model, "quoted"\nline', keySource: 'BYOK', rawCostUsd: '0.5' },
      { occurredAt: '2026-10-20T08:30:00.123Z', keySource: 'BYOK', isByok: true, rawCostUsd: '0.0001' },
      { occurredAt: '2026-10-31T23:59:59.999Z', tier: 'COST_EFFECTIVE', generationId: 'gen-last' },
      { occurredAt: '2026-11-01T00:00:00.000Z' },
    ];
    for (const call of calls) await recordOk(t, { ...callInput(ws.id), ...call } as ReturnType<typeof callInput>);
    await recordOk(t, callInput(other.id, { occurredAt: '2026-10-10T00:00:00.000Z' }));
  });
  afterAll(() => t.close());

  function get(query: string, token?: string, headers: Record<string, string> = {}) {
    const request = t.http().get(`/v1/exports/usage${query}`).buffer(true).parse((response, done) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => done(null, text));
    });
    if (token) request.set('authorization', `Bearer ${token}`);
    for (const [name, value] of Object.entries(headers)) request.set(name, value);
    return request;
  }

  /** What `usage` answers for the month, oldest first, as export rows (the guard applied by `guard`). */
  async function usageOfMonth(token: string, guard: (cell: string) => string): Promise<Row[]> {
    const nodes: Array<Record<string, any>> = [];
    let after: string | undefined;
    do {
      const page = expectData(await t.gql(USAGE, { w: ws.id, from: '2026-10-01T00:00:00.000Z', to: '2026-11-01T00:00:00.000Z', after }, token)).usage;
      nodes.push(...page.nodes);
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : undefined;
    } while (after);
    const text = (value: string | null) => (value === null ? null : guard(value));
    return nodes.reverse().map((node) => ({
      occurred_at: node.occurredAt,
      request_id: text(node.requestId),
      generation_id: text(node.generationId),
      path: node.path,
      model: text(node.model),
      tier: node.tier,
      key_source: node.keySource,
      actor_user_id: text(node.actorUserId),
      input_tokens: node.inputTokens,
      output_tokens: node.outputTokens,
      raw_cost_micros: node.rawCostMicros,
      tier_price_micros: node.tierPriceMicros,
      billed_micros: node.billedMicros,
      flagged: node.flagged,
      outcome: node.outcome,
    }));
  }

  const formulaGuard = (cell: string) => (/^[=+\-@]/.test(cell) ? `'${cell}` : cell);

  /** CSV cells typed back as the export wrote them: integers, booleans, empty = null. */
  function csvRows(text: string): Row[] {
    const records = parse(text, { columns: true, skip_empty_lines: true }) as Array<Record<string, string>>;
    const integers = ['input_tokens', 'output_tokens', 'raw_cost_micros', 'tier_price_micros', 'billed_micros'];
    return records.map((record) =>
      Object.fromEntries(
        Object.entries(record).map(([column, cell]) => {
          if (cell === '') return [column, null];
          if (integers.includes(column)) {
            expect(cell).toMatch(/^\d+$/);
            return [column, Number(cell)];
          }
          if (column === 'flagged') return [column, cell === 'true'];
          return [column, cell];
        }),
      ),
    );
  }

  it.each([
    ['a Manage billing holder', () => ws.tokens.billing],
    ['a platform admin', () => ws.adminToken],
    ['a partner token of the workspace', () => partnerToken],
  ])('CSV rows equal usage for the month, one per call, as %s sees them', async (_, tokenOf) => {
    const response = await get(`?workspaceId=${ws.id}&month=${MONTH}&format=csv`, tokenOf());
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('text/csv; charset=utf-8');
    const text = response.body as string;
    expect(text.split('\r\n')[0]).toBe(HEADER);
    const rows = csvRows(text);
    expect(rows).toEqual(await usageOfMonth(tokenOf(), formulaGuard));
    expect(rows).toHaveLength(7);
    for (const row of rows) expect(row.occurred_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('JSONL rows equal usage for the month, unguarded, typed', async () => {
    const response = await get(`?workspaceId=${ws.id}&month=${MONTH}&format=jsonl`, ws.tokens.owner);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    const rows = (response.body as string).trimEnd().split('\n').map((line) => JSON.parse(line) as Row);
    expect(rows).toEqual(await usageOfMonth(ws.tokens.owner, (cell) => cell));
    expect(Object.keys(rows[0])).toEqual(HEADER.split(','));
  });

  it('visibility: the platform raw cost of platform-key calls only for platform admins; BYOK raw costs for every reader', async () => {
    const rawCosts = async (token: string) =>
      csvRows((await get(`?workspaceId=${ws.id}&month=${MONTH}`, token)).body as string).map((row) => [row.key_source, row.raw_cost_micros]);
    expect(await rawCosts(ws.adminToken)).toContainEqual(['PLATFORM', 1000]);
    for (const token of [partnerToken, ws.tokens.billing]) {
      const costs = await rawCosts(token);
      expect(costs.filter(([source]) => source === 'PLATFORM').every(([, raw]) => raw === null)).toBe(true);
      expect(costs).toContainEqual(['BYOK', 4000]);
      expect(costs).toContainEqual(['BYOK', 500_000]);
    }
  });

  it('the formula guard prefixes cells starting with = + - @, and quoting keeps commas, quotes and newlines in one cell', async () => {
    const rows = csvRows((await get(`?workspaceId=${ws.id}&month=${MONTH}`, ws.tokens.billing)).body as string);
    const models = rows.map((row) => row.model);
    expect(models).toEqual(expect.arrayContaining([`'=HYPERLINK("http://x","y")`, "'+cmd", "'-1+1", 'vendor/model, "quoted"\nline']));
    expect(rows.map((row) => row.actor_user_id)).toContain("'@evil");
  });

  it('an empty month is the header alone; the default format is CSV', async () => {
    const response = await get(`?workspaceId=${ws.id}&month=2025-01`, ws.tokens.billing);
    expect(response.status).toBe(200);
    expect(response.body).toBe(`${HEADER}\r\n`);
  });

  it.each([
    ['no credential', 401, 'UNAUTHENTICATED', () => undefined, `?workspaceId=WS&month=${MONTH}`],
    ['an invalid token', 401, 'UNAUTHENTICATED', () => 'not-a-token', `?workspaceId=WS&month=${MONTH}`],
    ['a revoked-looking partner token', 401, 'UNAUTHENTICATED', () => 'mpt_unknown', `?workspaceId=WS&month=${MONTH}`],
    ['a MEMBER', 403, 'FORBIDDEN', () => ws.tokens.member, `?workspaceId=WS&month=${MONTH}`],
    ['an outsider', 403, 'FORBIDDEN', () => ws.tokens.outsider, `?workspaceId=WS&month=${MONTH}`],
    ['the service token', 403, 'FORBIDDEN', () => TEST_SERVICE_TOKEN, `?workspaceId=WS&month=${MONTH}`],
    ["another workspace's partner token", 403, 'FORBIDDEN', () => otherPartnerToken, `?workspaceId=WS&month=${MONTH}`],
    ['a workspace that does not exist', 403, 'FORBIDDEN', () => ws.tokens.billing, `?workspaceId=00000000-0000-0000-0000-000000000000&month=${MONTH}`],
    ['no workspaceId', 400, 'BAD_USER_INPUT', () => ws.tokens.billing, `?month=${MONTH}`],
    ['no month', 400, 'BAD_USER_INPUT', () => ws.tokens.billing, '?workspaceId=WS'],
    ['a month 13', 400, 'BAD_USER_INPUT', () => ws.tokens.billing, '?workspaceId=WS&month=2026-13'],
    ['a day for a month', 400, 'BAD_USER_INPUT', () => ws.tokens.billing, '?workspaceId=WS&month=2026-10-01'],
    ['an unknown format', 400, 'BAD_USER_INPUT', () => ws.tokens.billing, `?workspaceId=WS&month=${MONTH}&format=xlsx`],
    ['a repeated parameter', 400, 'BAD_USER_INPUT', () => ws.tokens.billing, `?workspaceId=WS&workspaceId=WS&month=${MONTH}`],
  ])('%s: %d {"error":{"code":"%s"}}', async (_, status, code, tokenOf, query) => {
    const response = await get(query.replace(/WS/g, ws.id), tokenOf());
    expect(response.status).toBe(status);
    expect(response.headers['content-type']).toBe('application/json');
    const body = JSON.parse(response.body as string);
    expect(body).toEqual({ error: { code, message: expect.any(String) } });
    expect(body.error.message).not.toContain('xlsx');
  });

  it('CORS as /graphql: an allowed origin may read it, another gets no CORS header; preflights answered', async () => {
    const allowed = await get(`?workspaceId=${ws.id}&month=${MONTH}`, ws.tokens.billing, { origin: ORIGIN });
    expect(allowed.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(allowed.headers.vary).toBe('Origin');
    const refused = await get(`?workspaceId=${ws.id}&month=${MONTH}`, ws.tokens.billing, { origin: 'https://evil.example' });
    expect(refused.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await t
      .http()
      .options('/v1/exports/usage')
      .set('origin', ORIGIN)
      .set('access-control-request-method', 'GET')
      .set('access-control-request-headers', 'authorization');
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(preflight.headers['access-control-allow-headers']).toContain('authorization');
  });

  it('a slow client gets the whole month: no request timeout, backpressure without piling up listeners', async () => {
    const slow = await startTestApp({ overrides: { httpLimits: { ...t.config.httpLimits, requestTimeoutMs: 300 } } });
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const big = await seedWorkspace(slow, Plan.ENTERPRISE, 'Big');
      const calls = 20_000;
      await seedUsageMonth(slow.app.dataSource, { workspaceId: big.id, month: MONTH, calls, seed: 7 }, () => undefined);
      const text = await new Promise<string>((resolveText, reject) => {
        httpGet(`${slow.url}/v1/exports/usage?workspaceId=${big.id}&month=${MONTH}`, { headers: { authorization: `Bearer ${big.tokens.billing}` } }, (response) => {
          expect(response.statusCode).toBe(200);
          const chunks: Buffer[] = [];
          response.pause();
          // Longer than the request timeout, with the server's socket buffer full long before.
          setTimeout(() => {
            response.on('data', (chunk: Buffer) => chunks.push(chunk));
            response.on('end', () => resolveText(Buffer.concat(chunks).toString('utf8')));
            response.resume();
          }, 1_000);
        }).on('error', reject);
      });
      const lines = text.split('\r\n').filter((line) => line !== '');
      expect(lines[0]).toBe(HEADER);
      expect(lines).toHaveLength(calls + 1);
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
      await slow.close();
    }
  });

  it('keyset pages: calls at one instant are neither skipped nor repeated across page boundaries', async () => {
    const seen: string[] = [];
    for await (const page of t.app.seam.usageExport.pages(ws.id, MONTH, 2)) {
      expect(page.length).toBeLessThanOrEqual(2);
      seen.push(...page.map((row) => row.request_id));
    }
    const all = csvRows((await get(`?workspaceId=${ws.id}&month=${MONTH}`, ws.tokens.billing)).body as string).map((row) => String(row.request_id).replace(/^'/, ''));
    expect(seen).toEqual(all);
    expect(new Set(seen).size).toBe(7);
  });
});
