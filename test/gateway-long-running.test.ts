import { DEFAULT_HTTP_LIMITS } from '../src/config/http-limits';
import { seedWorkspace } from './support/fixtures';
import { callGateway, CHAT_BODY } from './support/gateway-client';
import { GatewayWorld, startGatewayWorld } from './support/gateway-setup';

/**
 * SPEC.md "Hostile input": the request timeout bounds everything but gateway calls, which
 * OPENROUTER_TIMEOUT_MS bounds: a stream outlasting HTTP_REQUEST_TIMEOUT_MS keeps working.
 */
describe('gateway calls under a short request timeout', () => {
  let world: GatewayWorld;
  beforeAll(async () => {
    world = await startGatewayWorld({ httpLimits: { ...DEFAULT_HTTP_LIMITS, requestTimeoutMs: 300 }, openrouterTimeoutMs: 5_000 });
  });
  afterAll(() => world.close());

  it('relays a stream that lasts longer than the request timeout, to its end', async () => {
    const ws = await seedWorkspace(world.t);
    world.fake.chatCompletion({ chunks: ['one ', 'two ', 'three ', 'four ', 'five'], chunkDelayMs: 150 });
    const answer = await callGateway(world.t, { workspaceId: ws.id, body: { ...CHAT_BODY, stream: true } });
    expect(answer.status).toBe(200);
    expect(answer.text).toContain('five');
    expect(answer.text).toContain('[DONE]');
  });
});
