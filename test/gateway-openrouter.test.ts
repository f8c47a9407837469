import { CHAT_BODY, callGateway, openGateway, readAnswer, recordFor } from './support/gateway-client';
import { byokWorkspace, freshRequestId, GatewayWorld, startGatewayWorld } from './support/gateway-setup';

/** More of OpenRouter's behaviour, as the gateway meets it: streams, fairness between workspaces. */
describe('gateway and OpenRouter', () => {
  let world: GatewayWorld;
  beforeAll(async () => {
    world = await startGatewayWorld({ gatewayMaxConcurrentPerWorkspace: 2 });
  });
  afterAll(() => world.close());

  it('streams carry X-Accel-Buffering: no, and a stream whose chunks name no model is recorded under the model asked for', async () => {
    const ws = await byokWorkspace(world.t);
    const requestId = freshRequestId('no-model');
    world.fake.chatCompletion({ omitModel: true }, { times: 1 });
    const answer = await callGateway(world.t, { workspaceId: ws.id, requestId, body: { ...CHAT_BODY, model: 'mistralai/mistral-small', stream: true } });
    expect(answer.status).toBe(200);
    expect(answer.headers['x-accel-buffering']).toBe('no');
    expect(answer.text).not.toContain('mistralai/mistral-small');
    expect((await recordFor(world.t, ws.id, requestId)).model).toBe('mistralai/mistral-small');
    // not streamed: nothing to say to a buffering proxy
    expect((await callGateway(world.t, { workspaceId: ws.id })).headers['x-accel-buffering']).toBeUndefined();
  });

  it('at most GATEWAY_MAX_CONCURRENT_PER_WORKSPACE calls of one workspace at once: beyond, 429 CONCURRENCY_LIMIT with Retry-After, other workspaces unaffected', async () => {
    const busy = await byokWorkspace(world.t, undefined, 'Busy');
    const other = await byokWorkspace(world.t, undefined, 'Other');
    let release!: () => void;
    const held = new Promise<void>((resolveHeld) => (release = resolveHeld));
    world.fake.chatCompletion({ holdAfterEvents: 1, release: held }, { key: busy.key });
    const streams = await Promise.all([1, 2].map(() => openGateway(world.t, { workspaceId: busy.id, body: { ...CHAT_BODY, stream: true } })));
    expect(streams.map((stream) => stream.response.statusCode)).toEqual([200, 200]);

    const refused = await callGateway(world.t, { workspaceId: busy.id });
    expect(refused.status).toBe(429);
    expect(refused.json?.error?.code).toBe('CONCURRENCY_LIMIT');
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.headers['x-should-retry']).toBeUndefined();
    expect((await callGateway(world.t, { workspaceId: other.id })).status).toBe(200);

    release();
    await Promise.all(streams.map((stream) => readAnswer(stream.response)));
    world.fake.reset();
    expect((await callGateway(world.t, { workspaceId: busy.id })).status).toBe(200);
  });
});
