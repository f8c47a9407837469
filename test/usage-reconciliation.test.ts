import { Plan } from '../src/modules/workspace/workspace.enums';
import { expectData } from './support/expectations';
import { SeededWorkspace, seedWorkspace } from './support/fixtures';
import { CHAT_BODY, callGateway, recordFor } from './support/gateway-client';
import { byokWorkspace, freshRequestId, GatewayWorld, startGatewayWorld, tierPrice } from './support/gateway-setup';
import type { UsageObject } from './support/fake-openrouter';
import { TEST_SERVICE_TOKEN } from './support/test-app';
import { callInput, expectCode, recordCall } from './support/usage-calls';

/**
 * SPEC.md "Budgets, webhooks, exports, key health": every record keeps OpenRouter's generation id,
 * `is_byok` and the upstream inference cost, so a month can be reconciled with OpenRouter's
 * activity export; the upstream cost is added to the raw cost only when `is_byok`, once.
 */

const RECORD = `mutation($input: RecordInferenceCallInput!) {
  recordInferenceCall(input: $input) { id requestId rawCostMicros billedMicros tierPriceMicros flagged generationId isByok }
}`;
const TIER_PRICE = tierPrice('BALANCED', 1000, 500);

describe('records that reconcile', () => {
  let world: GatewayWorld;
  let byok: SeededWorkspace & { key: string };
  let platform: SeededWorkspace;

  beforeAll(async () => {
    world = await startGatewayWorld();
    byok = await byokWorkspace(world.t);
    platform = await seedWorkspace(world.t, Plan.ENTERPRISE, 'Platform only');
  });
  afterAll(() => world.close());

  async function stored(workspaceId: string, requestId: string): Promise<{ generationId: string | null; isByok: number | null; upstream: number | null }> {
    await recordFor(world.t, workspaceId, requestId);
    const [row] = await world.t.app.dataSource.query(
      'SELECT generation_id, is_byok, upstream_inference_cost_micros FROM usage_record WHERE workspace_id = ? AND request_id = ?',
      [workspaceId, requestId],
    );
    return {
      generationId: row.generation_id,
      isByok: row.is_byok === null ? null : Number(row.is_byok),
      upstream: row.upstream_inference_cost_micros === null ? null : Number(row.upstream_inference_cost_micros),
    };
  }

  describe('recordInferenceCall', () => {
    const record = (input: Record<string, unknown>) => world.t.gql(RECORD, { input }, TEST_SERVICE_TOKEN);

    it('adds upstreamInferenceCostUsd to rawCostUsd when isByok, and keeps both apart with the generation id', async () => {
      const input = callInput(byok.id, { keySource: 'BYOK', rawCostUsd: '0.0002' });
      const answer = expectData(await record({ ...input, generationId: 'gen-abc', isByok: true, upstreamInferenceCostUsd: '0.0038' })).recordInferenceCall;
      expect(answer).toMatchObject({ rawCostMicros: 4000, billedMicros: TIER_PRICE - 4000, flagged: false, generationId: 'gen-abc', isByok: true });
      expect(await stored(byok.id, input.requestId)).toEqual({ generationId: 'gen-abc', isByok: 1, upstream: 3800 });
    });

    it('never adds the upstream cost of a call that is not BYOK: it is already inside cost', async () => {
      const input = callInput(byok.id, { keySource: 'BYOK', rawCostUsd: '0.004' });
      const answer = expectData(await record({ ...input, isByok: false, upstreamInferenceCostUsd: '0.0038' })).recordInferenceCall;
      expect(answer).toMatchObject({ rawCostMicros: 4000, isByok: false, generationId: null });
      expect(await stored(byok.id, input.requestId)).toEqual({ generationId: null, isByok: 0, upstream: 3800 });
    });

    it('a BYOK call without its upstream cost has an unknown raw cost: flagged, billed 0 until settled', async () => {
      const input = callInput(byok.id, { keySource: 'BYOK', rawCostUsd: '0.0002' });
      const answer = expectData(await record({ ...input, isByok: true })).recordInferenceCall;
      expect(answer).toMatchObject({ rawCostMicros: null, billedMicros: 0, flagged: true });
    });

    it('calls without the new fields are recorded as before, and their retries still match', async () => {
      const input = callInput(platform.id);
      const first = expectData(await record({ ...input })).recordInferenceCall;
      expect(first).toMatchObject({ flagged: false, generationId: null, isByok: null });
      expect(expectData(await recordCall(world.t, input)).recordInferenceCall.id).toBe(first.id);
      expect(await stored(platform.id, input.requestId)).toEqual({ generationId: null, isByok: null, upstream: null });
    });

    it('the reconciliation fields are part of the payload a retry must repeat', async () => {
      const input = { ...callInput(byok.id, { keySource: 'BYOK', rawCostUsd: '0.0002' }), isByok: true, upstreamInferenceCostUsd: '0.0038' };
      expectData(await record(input));
      expectData(await record({ ...input, upstreamInferenceCostUsd: '0.00380' }));
      expectCode(await record({ ...input, upstreamInferenceCostUsd: '0.0039' }), 'CONFLICT');
      expectCode(await record({ ...input, generationId: 'gen-other' }), 'CONFLICT');
    });

    it('refuses an upstream cost that is not a decimal, or a sum beyond one call’s limit', async () => {
      expectCode(await record({ ...callInput(byok.id, { keySource: 'BYOK' }), isByok: true, upstreamInferenceCostUsd: '-1' }), 'BAD_USER_INPUT');
      expectCode(await record({ ...callInput(byok.id, { keySource: 'BYOK', rawCostUsd: '600' }), isByok: true, upstreamInferenceCostUsd: '600' }), 'BAD_USER_INPUT');
    });
  });

  describe('the gateway', () => {
    async function call(ws: SeededWorkspace, usage: Partial<UsageObject>, stream: boolean): Promise<string> {
      const requestId = freshRequestId('recon');
      world.fake.chatCompletion({ usage }, { times: 1, when: (request) => request.headers['x-request-id'] === requestId });
      const answer = await callGateway(world.t, { workspaceId: ws.id, requestId, path: 'AGENT_RUN', body: { ...CHAT_BODY, stream } });
      expect(answer.status).toBe(200);
      return requestId;
    }

    it.each([false, true])('stores the generation id, is_byok and the upstream cost (stream: %s)', async (stream) => {
      const requestId = await call(byok, { prompt_tokens: 1000, completion_tokens: 500, cost: 0.0002, is_byok: true, cost_details: { upstream_inference_cost: 0.0038 } }, stream);
      const row = await stored(byok.id, requestId);
      expect(row).toMatchObject({ isByok: 1, upstream: 3800 });
      expect(row.generationId).toMatch(/^gen-fake-\d+$/);
      expect(await recordFor(world.t, byok.id, requestId)).toMatchObject({ rawCostMicros: 4000, billedMicros: TIER_PRICE - 4000 });
    });

    it('a platform call reports is_byok false: the upstream cost is kept, not added', async () => {
      const requestId = await call(platform, { prompt_tokens: 1000, completion_tokens: 500, cost: 0.004, is_byok: false, cost_details: { upstream_inference_cost: 0.0038 } }, false);
      expect(await stored(platform.id, requestId)).toMatchObject({ isByok: 0, upstream: 3800 });
      expect(await recordFor(world.t, platform.id, requestId)).toMatchObject({ rawCostMicros: 4000, billedMicros: TIER_PRICE });
    });
  });
});
