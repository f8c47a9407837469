import { JwtCodec } from '../src/auth/jwt';
import { FakeOpenRouter } from './support/fake-openrouter';
import { eventually } from './support/gateway-client';
import { canaryKey } from './support/leak-search';
import { buildIfStale, gqlOn, ServiceProcess, serviceProcessEnv, startServiceProcess } from './support/service-process';
import { createTestDatabase, queryOutside, TestDatabase } from './support/test-database';
import { TEST_JWT_SECRET, TEST_SERVICE_TOKEN } from './support/test-app';

/**
 * SPEC.md "The usage ledger", with real processes: a call is on the record from the moment it is
 * sent upstream, whatever happens to the worker then; a deploy's SIGTERM lets streams finish.
 */

jest.setTimeout(90_000);

const fake = new FakeOpenRouter();
const jwt = new JwtCodec(TEST_JWT_SECRET);
const processes: ServiceProcess[] = [];
let db: TestDatabase;

async function start(extra: Record<string, string> = {}): Promise<ServiceProcess> {
  const service = await startServiceProcess(serviceProcessEnv(db, { baseUrl: fake.baseUrl, platformKey: canaryKey() }, extra));
  processes.push(service);
  return service;
}

async function createWorkspace(service: ServiceProcess, name: string): Promise<string> {
  const admin = await jwt.sign({ userId: 'ledger-admin', platformAdmin: true });
  return (await gqlOn(service, `mutation { createWorkspace(name: "${name}", plan: PRO) { id } }`, {}, admin)).createWorkspace.id as string;
}

/** A streamed call on the platform key, opened; resolves once its first bytes arrived. */
async function openStream(service: ServiceProcess, workspaceId: string, requestId: string) {
  const answer = await fetch(`${service.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_SERVICE_TOKEN}`, 'x-workspace-id': workspaceId, 'x-inference-path': 'SEARCH_INDEXER', 'x-request-id': requestId },
    body: JSON.stringify({ model: 'openai/gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Hello' }] }),
  });
  expect(answer.status).toBe(200);
  const reader = answer.body!.getReader();
  const first = await reader.read();
  expect(new TextDecoder().decode(first.value)).toContain('data: ');
  return reader;
}

const recordOf = async (requestId: string) =>
  (await queryOutside<{ outcome: string; flagged: number | string; billed_micros: number | string; output_tokens: number | string }>(db, 'SELECT outcome, flagged, billed_micros, output_tokens FROM usage_record WHERE request_id = ?', [requestId]))[0];

beforeAll(async () => {
  buildIfStale();
  await fake.start();
  db = await createTestDatabase();
});

afterAll(async () => {
  await Promise.allSettled(processes.map((service) => service.kill()));
  await fake.stop();
  await db.drop();
});

it('kill -9 of a worker while a stream is mid-way, then a restart: the call is on the record, INTERRUPTED, flagged, billed 0', async () => {
  const first = await start();
  const workspaceId = await createWorkspace(first, 'Killed');
  const requestId = `killed-${Date.now()}`;
  fake.chatCompletion({ chunks: ['one ', 'two ', 'three'], holdAfterEvents: 2, release: new Promise(() => undefined) }, { times: 1, when: (request) => request.headers['x-request-id'] === requestId });
  await openStream(first, workspaceId, requestId);
  await first.kill();
  expect(await recordOf(requestId)).toBeUndefined();

  await start();
  const record = await eventually(() => recordOf(requestId), 20_000, 'the interrupted call on the record');
  expect(record.outcome).toBe('INTERRUPTED');
  expect(Number(record.flagged)).toBe(1);
  expect(Number(record.billed_micros)).toBe(0);
});

it('SIGTERM during a stream: new calls and /readyz answer 503 meanwhile, the stream completes and is recorded, the process exits 0', async () => {
  const service = await start({ SHUTDOWN_GRACE_MS: '60000' });
  const workspaceId = await createWorkspace(service, 'Drained');
  const requestId = `drained-${Date.now()}`;
  let release!: () => void;
  fake.chatCompletion(
    { chunks: ['one ', 'two ', 'three'], holdAfterEvents: 2, release: new Promise<void>((resolveRelease) => (release = resolveRelease)) },
    { times: 1, when: (request) => request.headers['x-request-id'] === requestId },
  );
  const reader = await openStream(service, workspaceId, requestId);
  const stopped = service.stop(60_000);
  // The draining server closes idle keep-alive connections: a request that raced onto one is sent again.
  const fresh = (path: string, init?: RequestInit) =>
    eventually(() => fetch(`${service.url}${path}`, init).catch(() => undefined), 5_000, `an answer from ${path}`);
  await eventually(async () => ((await fresh('/readyz')).status === 503 ? true : undefined), 5_000, '/readyz to answer 503');
  const refused = await fresh('/v1/chat/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_SERVICE_TOKEN}`, 'x-workspace-id': workspaceId, 'x-inference-path': 'SEARCH_INDEXER' },
    body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] }),
  });
  expect(refused.status).toBe(503);
  expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('SHUTTING_DOWN');
  expect(refused.headers.get('retry-after')).toBe('1');

  release();
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  expect(text).toContain('data: [DONE]');
  await stopped;
  expect(await service.exited).toBe(0);
  const record = await recordOf(requestId);
  expect(record).toMatchObject({ outcome: 'COMPLETED' });
  expect(Number(record.flagged)).toBe(0);
});

it('SIGTERM with a stream still running past SHUTDOWN_GRACE_MS: the stream is cut and recorded INTERRUPTED with the tokens seen, the process exits 0', async () => {
  const service = await start({ SHUTDOWN_GRACE_MS: '500' });
  const workspaceId = await createWorkspace(service, 'Cut');
  const requestId = `cut-${Date.now()}`;
  fake.chatCompletion({ chunks: ['one ', 'two ', 'three'], holdAfterEvents: 2, release: new Promise(() => undefined) }, { times: 1, when: (request) => request.headers['x-request-id'] === requestId });
  const reader = await openStream(service, workspaceId, requestId);
  await service.stop(30_000);
  expect(await service.exited).toBe(0);
  await expect(
    (async () => {
      for (;;) if ((await reader.read()).done) return 'ended';
    })(),
  ).rejects.toThrow();
  const record = await recordOf(requestId);
  expect(record.outcome).toBe('INTERRUPTED');
  expect(Number(record.flagged)).toBe(1);
  expect(Number(record.billed_micros)).toBe(0);
  expect(Number(record.output_tokens)).toBe(2);
});
