import { JwtCodec } from '../src/auth/jwt';
import { FakeOpenRouter } from './support/fake-openrouter';
import { callGateway, eventually } from './support/gateway-client';
import { canaryKey } from './support/leak-search';
import { buildIfStale, gqlOn, ServiceProcess, serviceProcessEnv, startServiceProcess } from './support/service-process';
import { TEST_JWT_SECRET } from './support/test-app';
import { createTestDatabase, queryOutside, TestDatabase } from './support/test-database';

/**
 * Two service processes writing one database at once. On MariaDB/MySQL row locks order them; on
 * SQLite both write the same file, and a transaction that finds the other process holding the
 * write lock must wait its turn and run again, never fail the request.
 */

jest.setTimeout(120_000);

const REPLACES = 60;

const fake = new FakeOpenRouter();
const jwt = new JwtCodec(TEST_JWT_SECRET);
let db: TestDatabase;
let a: ServiceProcess;
let b: ServiceProcess;

beforeAll(async () => {
  buildIfStale();
  await fake.start();
  db = await createTestDatabase();
  const env = serviceProcessEnv(db, { baseUrl: fake.baseUrl, platformKey: canaryKey() });
  a = await startServiceProcess(env);
  b = await startServiceProcess(env);
}, 180_000);

afterAll(async () => {
  await Promise.allSettled([a?.stop(), b?.stop()]);
  await fake.stop();
  await db?.drop();
});

it(`${REPLACES} key replacements on one process while the other serves and records gateway calls: every request succeeds`, async () => {
  const admin = await jwt.sign({ userId: 'shared-admin', platformAdmin: true });
  const owner = await jwt.sign({ userId: 'shared-owner', platformAdmin: false });
  const workspaceId = (await gqlOn(a, 'mutation { createWorkspace(name: "Shared", plan: ENTERPRISE) { id } }', {}, admin)).createWorkspace.id as string;
  await gqlOn(a, 'mutation($w: ID!) { addMember(workspaceId: $w, userId: "shared-owner", role: OWNER) { userId } }', { w: workspaceId }, admin);
  await gqlOn(a, 'mutation($w: ID!, $k: String!) { saveKey(workspaceId: $w, key: $k) { configured } }', { w: workspaceId, k: canaryKey() }, owner);

  let replacing = true;
  const gatewayStatuses: number[] = [];
  const caller = (async () => {
    while (replacing) gatewayStatuses.push((await callGateway(b, { workspaceId })).status);
  })();
  const replaceErrors: unknown[] = [];
  let lastKey = '';
  for (let i = 0; i < REPLACES; i++) {
    lastKey = canaryKey();
    await gqlOn(a, 'mutation($w: ID!, $k: String!) { replaceKey(workspaceId: $w, key: $k) { configured } }', { w: workspaceId, k: lastKey }, owner).catch((error: Error) => replaceErrors.push(error.message));
  }
  replacing = false;
  await caller;

  expect(replaceErrors).toEqual([]);
  expect(gatewayStatuses.length).toBeGreaterThan(REPLACES / 2);
  expect(gatewayStatuses.filter((status) => status !== 200)).toEqual([]);
  // Every answered call recorded (the record follows the answer), and the last replacement won.
  await eventually(
    async () => {
      const [row] = await queryOutside<{ n: number | string }>(db, 'SELECT COUNT(*) AS n FROM usage_record WHERE workspace_id = ?', [workspaceId]);
      return Number(row.n) === gatewayStatuses.length ? true : undefined;
    },
    10_000,
    'every gateway call recorded',
  );
  const audit = await gqlOn(a, 'query($w: ID!) { auditEvents(workspaceId: $w, first: 1) { nodes { action maskedHint } } }', { w: workspaceId }, owner);
  expect(audit.auditEvents.nodes).toEqual([{ action: 'KEY_REPLACED', maskedHint: `${lastKey.slice(0, 8)}…${lastKey.slice(-4)}` }]);
  expect(a.output() + b.output()).not.toContain('"level":50');
});
