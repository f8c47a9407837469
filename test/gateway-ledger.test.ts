import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { callGateway, eventually, sendGateway, readAnswer, storedRecords } from './support/gateway-client';
import { byokWorkspace, freshRequestId, GatewayWorld, startGatewayWorld } from './support/gateway-setup';
import { callInput, recordCall } from './support/usage-calls';

/** The usage ledger in one process: what the recorder refuses is kept aside, never dropped. */
describe('usage ledger', () => {
  let world: GatewayWorld;
  beforeAll(async () => {
    world = await startGatewayWorld();
  });
  afterAll(() => world.close());

  it('an answered call the recorder refuses (its id recorded meanwhile with another payload) is kept aside and counted in /readyz', async () => {
    const ws = await byokWorkspace(world.t);
    const requestId = freshRequestId('refused');
    world.fake.chatCompletion({ delayMs: 300 }, { when: (request) => request.headers['x-request-id'] === requestId });
    const sent = sendGateway(world.t, { workspaceId: ws.id, requestId });
    await eventually(async () => (world.fake.requestsTo('POST', '/chat/completions').some((request) => request.headers['x-request-id'] === requestId) ? true : undefined));
    // The runtime reports a call under the same id while the gateway's is at OpenRouter.
    expect((await recordCall(world.t, callInput(ws.id, { requestId, inputTokens: 1, outputTokens: 1 }))).errors).toBeUndefined();
    const answer = await readAnswer(await sent.response);
    expect(answer.status).toBe(200);

    const ready = await eventually(async () => {
      const body = (await world.t.http().get('/readyz')).body as { unrecordableFiles: number };
      return body.unrecordableFiles === 1 ? body : undefined;
    });
    expect(ready).toMatchObject({ status: 'ready', unrecordableFiles: 1 });
    const dataDir = world.t.db.dataDir;
    const kept = readdirSync(dataDir).filter((name) => name.startsWith('usage-unrecordable-'));
    expect(kept).toHaveLength(1);
    const line = JSON.parse(readFileSync(join(dataDir, kept[0]), 'utf8').trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ requestId, workspaceId: ws.id, inputTokens: 12, outputTokens: 34, keySource: 'BYOK' });
    // the runtime's record stands; the gateway's call waits for an operator beside it
    expect((await storedRecords(world.t, ws.id)).filter((record) => record.requestId === requestId)).toHaveLength(1);
    expect((await callGateway(world.t, { workspaceId: ws.id })).status).toBe(200);
  });
  it('records calls answered one after another within the linger in one transaction, and every one of them', async () => {
    const ws = await byokWorkspace(world.t);
    const transactions: string[][] = [];
    world.t.app.seam.usageRecorder.onRecordsWritten(async (_manager, _unit, records) => {
      const ours = records.filter((record) => record.workspaceId === ws.id);
      if (ours.length > 0) transactions.push(ours.map((record) => record.requestId));
    });
    const requestIds = Array.from({ length: 30 }, (_, index) => freshRequestId(`linger-${index}`));
    // One at a time: without the linger each record would go to the database alone, as its call ends.
    for (const requestId of requestIds) expect((await callGateway(world.t, { workspaceId: ws.id, requestId })).status).toBe(200);
    await world.t.app.seam.usageRecorder.settled(ws.id);
    expect(transactions.flat().sort()).toEqual([...requestIds].sort());
    expect(transactions.length).toBeLessThan(requestIds.length);
  });
});
