import { CHAT_BODY, callGateway, openGateway, readAnswer, recordFor, storedRecords } from './support/gateway-client';
import { byokWorkspace, freshRequestId, GatewayWorld, startGatewayWorld } from './support/gateway-setup';
import type { SeededWorkspace } from './support/fixtures';
import { callInput, recordCall } from './support/usage-calls';

/**
 * Admission: the X-Request-Id is checked (this worker's claims and kept answers, then the
 * database) and claimed with the last check, before anything else may wait; a used id is
 * answered as such first, whatever else would have refused the call, and takes nothing.
 */

describe('gateway admission', () => {
  let world: GatewayWorld;
  let ws: SeededWorkspace & { key: string };
  beforeAll(async () => {
    world = await startGatewayWorld({ gatewayMaxConcurrentPerWorkspace: 1 });
    ws = await byokWorkspace(world.t);
  });
  afterAll(() => world.close());

  const upstreamCalls = (requestId: string) => world.fake.requestsTo('POST', '/chat/completions').filter((request) => request.headers['x-request-id'] === requestId);
  /** An id on the record that this worker keeps no answer for: only the database says it was used. */
  async function usedId(label: string): Promise<string> {
    const requestId = freshRequestId(label);
    expect((await recordCall(world.t, callInput(ws.id, { requestId, inputTokens: 1, outputTokens: 1 }))).errors).toBeUndefined();
    return requestId;
  }

  it('a used id takes no concurrency slot: after three refusals the workspace’s one slot serves the next call', async () => {
    const requestId = await usedId('used');

    for (let attempt = 0; attempt < 3; attempt++) {
      const refused = await callGateway(world.t, { workspaceId: ws.id, requestId, body: { ...CHAT_BODY, messages: [{ role: 'user', content: `Again ${attempt}` }] } });
      expect(refused.status).toBe(409);
      expect(refused.json?.error?.code).toBe('REQUEST_ID_USED');
    }
    expect(upstreamCalls(requestId)).toHaveLength(0);
    expect((await callGateway(world.t, { workspaceId: ws.id, requestId: freshRequestId('next') })).status).toBe(200);
  });

  it('a used id while the workspace’s only slot is taken: REQUEST_ID_USED, not CONCURRENCY_LIMIT', async () => {
    const used = await usedId('used-busy');

    let release!: () => void;
    world.fake.chatCompletion({ holdAfterEvents: 1, release: new Promise<void>((resolveRelease) => (release = resolveRelease)) }, { times: 1 });
    const stream = await openGateway(world.t, { workspaceId: ws.id, body: { ...CHAT_BODY, stream: true } });
    expect(stream.response.statusCode).toBe(200);

    const refused = await callGateway(world.t, { workspaceId: ws.id, requestId: used, body: { ...CHAT_BODY, messages: [{ role: 'user', content: 'Other' }] } });
    expect(refused.json?.error?.code).toBe('REQUEST_ID_USED');
    const busy = await callGateway(world.t, { workspaceId: ws.id, requestId: freshRequestId('busy') });
    expect(busy.json?.error?.code).toBe('CONCURRENCY_LIMIT');

    release();
    await readAnswer(stream.response);
    expect((await callGateway(world.t, { workspaceId: ws.id })).status).toBe(200);
    expect((await storedRecords(world.t, ws.id)).filter((record) => record.requestId === used)).toHaveLength(1);
  });

  it('two calls with one new id at once, on a workspace whose budget is not loaded yet: one goes upstream, the other gets its answer', async () => {
    // A workspace's first call waits for its budget to load: the id is claimed before that wait.
    const fresh = await byokWorkspace(world.t, undefined, 'Twins');
    const requestId = freshRequestId('twins');
    world.fake.chatCompletion({ delayMs: 200 }, { times: 1, when: (request) => request.headers['x-request-id'] === requestId });
    const answers = await Promise.all([1, 2].map(() => callGateway(world.t, { workspaceId: fresh.id, requestId })));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
    expect(answers[1].text).toBe(answers[0].text);
    expect(upstreamCalls(requestId)).toHaveLength(1);
    await recordFor(world.t, fresh.id, requestId);
    expect((await storedRecords(world.t, fresh.id)).filter((record) => record.requestId === requestId)).toHaveLength(1);
  });
});
