import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createConnection } from 'mysql2/promise';
import { JwtCodec } from '../src/auth/jwt';
import { FakeOpenRouter } from './support/fake-openrouter';
import { eventually } from './support/gateway-client';
import { canaryKey } from './support/leak-search';
import { buildIfStale, gqlOn, ServiceProcess, serviceProcessEnv, startServiceProcess } from './support/service-process';
import { createTestDatabase, recordsWithRequestId, TestDatabase } from './support/test-database';
import { TEST_JWT_SECRET, TEST_SERVICE_TOKEN } from './support/test-app';

/**
 * SPEC.md "Inference gateway": a completed call is never lost. The gateway journals each completed
 * call (fsync'd) before it answers and records it right after; here the service process is killed
 * (SIGKILL) after answering while its database write is held back, and the next process on the same
 * DATA_DIR records the call from the journal, exactly once.
 */

jest.setTimeout(90_000);

const fake = new FakeOpenRouter();
const jwt = new JwtCodec(TEST_JWT_SECRET);
const processes: ServiceProcess[] = [];
let db: TestDatabase;

async function start(): Promise<ServiceProcess> {
  const service = await startServiceProcess(serviceProcessEnv(db, { baseUrl: fake.baseUrl, platformKey: canaryKey() }));
  processes.push(service);
  return service;
}

/**
 * Holds every write to the database until released, from outside the service: on SQLite a second
 * connection takes the write lock, on MySQL a second session locks the rollup table.
 */
async function holdWrites(): Promise<() => Promise<void>> {
  if (!db.databaseUrl) {
    const holder = new Database(join(db.dataDir, 'service.sqlite'));
    holder.exec('BEGIN IMMEDIATE');
    return async () => {
      holder.exec('ROLLBACK');
      holder.close();
    };
  }
  const session = await createConnection({ uri: db.databaseUrl });
  await session.query('LOCK TABLES usage_rollup WRITE');
  return async () => {
    await session.query('UNLOCK TABLES');
    await session.end();
  };
}

const usageFiles = () => readdirSync(db.dataDir).filter((name) => name.startsWith('usage-'));

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

it('a call answered 200 survives a crash before its record was written: the next process records it once', async () => {
  const first = await start();
  const admin = await jwt.sign({ userId: 'crash-admin', platformAdmin: true });
  const workspaceId = (await gqlOn(first, 'mutation { createWorkspace(name: "Crash", plan: ENTERPRISE) { id } }', {}, admin)).createWorkspace.id as string;
  fake.chatCompletion({ usage: { prompt_tokens: 1000, completion_tokens: 500, cost: 0.004 } });

  const release = await holdWrites();
  const requestId = `crash-${Date.now()}`;
  try {
    const answer = await fetch(`${first.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${TEST_SERVICE_TOKEN}`,
        'x-workspace-id': workspaceId,
        'x-inference-path': 'AGENT_RUN',
        'x-request-id': requestId,
      },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] }),
    });
    expect(answer.status).toBe(200);
    await answer.text();
    await first.kill();
  } finally {
    await release();
  }
  expect(await recordsWithRequestId(db, requestId)).toBe(0);
  expect(usageFiles()).toEqual([expect.stringMatching(/^usage-journal-/)]);

  await start();
  await eventually(async () => ((await recordsWithRequestId(db, requestId)) === 1 ? true : undefined), 20_000, 'the journaled call to be recorded');
  await eventually(async () => (usageFiles().length === 0 ? true : undefined), 10_000, 'the journal to be cleared');
  expect(await recordsWithRequestId(db, requestId)).toBe(1);
});
