import { callGateway, recordFor } from './support/gateway-client';
import { byokWorkspace, freshRequestId, GatewayWorld, startGatewayWorld } from './support/gateway-setup';
import { callInput, expectCode, recordCall, sql } from './support/usage-calls';

/**
 * The key policy holds at the edge, whatever a cache or a caller says: no BYOK call for a
 * workspace that is not ENTERPRISE, no BYOK record on a background path.
 */
describe('key policy at the edge', () => {
  let world: GatewayWorld;
  beforeAll(async () => {
    // no caching: each call reads the workspace row and the key row as they are now
    world = await startGatewayWorld({ secretsCacheTtlMs: 0 });
  });
  afterAll(() => world.close());

  it("a workspace row that says PRO gets the platform key, though the workspace's key is still stored", async () => {
    const ws = await byokWorkspace(world.t);
    expect((await callGateway(world.t, { workspaceId: ws.id })).headers['x-key-source']).toBe('BYOK');
    // As a worker sees it when the plan change reached its workspace row but not yet its cached
    // secrets: a PRO workspace with a key.
    await sql(world.t, 'UPDATE workspace SET plan = ? WHERE id = ?', ['PRO', ws.id]);
    const requestId = freshRequestId('pro');
    const answer = await callGateway(world.t, { workspaceId: ws.id, requestId });
    expect(answer.status).toBe(200);
    expect(answer.headers['x-key-source']).toBe('PLATFORM');
    expect(world.fake.lastRequest?.bearer).toBe(world.platformKey);
    expect((await recordFor(world.t, ws.id, requestId)).keySource).toBe('PLATFORM');
  });

  it('recordInferenceCall refuses BYOK on a background path, and takes it on a user-initiated one', async () => {
    const ws = await byokWorkspace(world.t);
    for (const path of ['SEARCH_INDEXER', 'ATTACHMENT_TEXT_EXTRACTION', 'MENTION_EMBEDDING_CACHE']) {
      const refused = await recordCall(world.t, callInput(ws.id, { keySource: 'BYOK', path }));
      expectCode(refused, 'BAD_USER_INPUT');
      expect(refused.errors?.[0].message).toContain(path);
      expect(refused.errors?.[0].extensions?.code).not.toBe('INTERNAL_SERVER_ERROR');
    }
    expect(Number((await sql(world.t, 'SELECT COUNT(*) AS n FROM usage_record WHERE workspace_id = ?', [ws.id]))[0].n)).toBe(0);
    expect((await recordCall(world.t, callInput(ws.id, { keySource: 'PLATFORM', path: 'SEARCH_INDEXER' }))).errors).toBeUndefined();
    expect((await recordCall(world.t, callInput(ws.id, { keySource: 'BYOK', path: 'SEMANTIC_SEARCH' }))).errors).toBeUndefined();
  });
});
