import { JwtCodec } from '../src/auth/jwt';
import { Plan } from '../src/modules/workspace/workspace.enums';
import { MemberRole } from '../src/auth/member-role';
import { ADD_MEMBER, CREATE_WORKSPACE, REMOVE_MEMBER } from './support/documents';
import { FakeOpenRouter } from './support/fake-openrouter';
import { canaryKey } from './support/leak-search';
import { buildIfStale, ServiceProcess, serviceProcessEnv, startServiceProcess } from './support/service-process';
import { startTestApp, TEST_JWT_SECRET, TestApp } from './support/test-app';
import { createTestDatabase, queryOutside, TestDatabase } from './support/test-database';

/**
 * A workspace keeps an OWNER however its last two are raced away (SPEC.md, "The domain"): two
 * removals or demotions at once leave one OWNER, the other answered LAST_OWNER (or FORBIDDEN, when
 * the caller was the one removed first). Within one process, and across two processes sharing the
 * database (SQLite's file lock, or MySQL's row locks, must order them).
 */

jest.setTimeout(180_000);

const ROUNDS = 8;
const { OWNER, ADMIN } = MemberRole;
const jwt = new JwtCodec(TEST_JWT_SECRET);

interface Answer {
  data?: Record<string, any> | null;
  errors?: Array<{ extensions?: { code?: string } }>;
}

/** 'ok', or the one error code the request was answered with. */
function outcomeOf(answer: Answer): string {
  const codes = (answer.errors ?? []).map((error) => error.extensions?.code);
  if (codes.length === 0) return 'ok';
  expect(codes).toHaveLength(1);
  return String(codes[0]);
}

type Send = (target: 0 | 1, query: string, variables: Record<string, unknown>, token: string) => Promise<Answer>;

interface Race {
  name: string;
  /** the two requests, sent at once, each to its own worker where there are two */
  requests(workspaceId: string, tokens: { admin: string; first: string; second: string }): Array<[string, Record<string, unknown>, 'admin' | 'first' | 'second']>;
  /** the two outcomes, in any order */
  outcomes: string[];
}

const RACES: Race[] = [
  {
    name: 'a platform admin removes both OWNERs at once',
    requests: (w) => [
      [REMOVE_MEMBER, { w, u: 'first' }, 'admin'],
      [REMOVE_MEMBER, { w, u: 'second' }, 'admin'],
    ],
    outcomes: ['LAST_OWNER', 'ok'],
  },
  {
    name: 'a platform admin demotes both OWNERs at once',
    requests: (w) => [
      [ADD_MEMBER, { w, u: 'first', r: ADMIN }, 'admin'],
      [ADD_MEMBER, { w, u: 'second', r: ADMIN }, 'admin'],
    ],
    outcomes: ['LAST_OWNER', 'ok'],
  },
  {
    name: 'both OWNERs leave at once',
    requests: (w) => [
      [REMOVE_MEMBER, { w, u: 'first' }, 'first'],
      [REMOVE_MEMBER, { w, u: 'second' }, 'second'],
    ],
    outcomes: ['LAST_OWNER', 'ok'],
  },
  {
    name: 'both OWNERs step down to ADMIN at once',
    requests: (w) => [
      [ADD_MEMBER, { w, u: 'first', r: ADMIN }, 'first'],
      [ADD_MEMBER, { w, u: 'second', r: ADMIN }, 'second'],
    ],
    outcomes: ['LAST_OWNER', 'ok'],
  },
  {
    // Whoever is second is no longer a member (removed) when its change is decided.
    name: 'each OWNER removes the other at once',
    requests: (w) => [
      [REMOVE_MEMBER, { w, u: 'second' }, 'first'],
      [REMOVE_MEMBER, { w, u: 'first' }, 'second'],
    ],
    outcomes: ['FORBIDDEN', 'ok'],
  },
  {
    // Whoever is second is an ADMIN by then, and an ADMIN does not touch an OWNER.
    name: 'each OWNER demotes the other at once',
    requests: (w) => [
      [ADD_MEMBER, { w, u: 'second', r: ADMIN }, 'first'],
      [ADD_MEMBER, { w, u: 'first', r: ADMIN }, 'second'],
    ],
    outcomes: ['FORBIDDEN', 'ok'],
  },
];

/** Runs every race ROUNDS times on fresh workspaces and checks what each left behind. */
function raceSuite(setup: () => { send: Send; query: (sql: string, params: unknown[]) => Promise<Array<Record<string, any>>> }) {
  it.each(RACES)('$name: one OWNER stays, every round', async (race) => {
    const { send, query } = setup();
    const admin = await jwt.sign({ userId: 'race-admin', platformAdmin: true });
    const tokens = { admin, first: await jwt.sign({ userId: 'first', platformAdmin: false }), second: await jwt.sign({ userId: 'second', platformAdmin: false }) };
    for (let round = 0; round < ROUNDS; round++) {
      const created = await send(0, CREATE_WORKSPACE, { name: `Race ${round}`, plan: Plan.ENTERPRISE }, admin);
      const workspaceId = created.data?.createWorkspace.id as string;
      for (const userId of ['first', 'second']) expect(outcomeOf(await send(round % 2 === 0 ? 0 : 1, ADD_MEMBER, { w: workspaceId, u: userId, r: OWNER }, admin))).toBe('ok');

      const answers = await Promise.all(race.requests(workspaceId, tokens).map(([document, variables, who], i) => send(i === 0 ? 0 : 1, document, variables, tokens[who])));

      expect(answers.map(outcomeOf).sort()).toEqual(race.outcomes);
      const owners = await query("SELECT user_id AS userId FROM member WHERE workspace_id = ? AND role = 'OWNER'", [workspaceId]);
      expect(owners).toHaveLength(1);
      const changes = await query("SELECT action FROM audit_event WHERE workspace_id = ? AND action IN ('MEMBER_REMOVED', 'MEMBER_ROLE_CHANGED')", [workspaceId]);
      expect(changes).toHaveLength(1);
    }
  });
}

describe('the last OWNER, raced within one process', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  raceSuite(() => ({
    send: async (_target, query, variables, token) => {
      const result = await t.gql(query, variables, token);
      expect(result.status).toBe(200);
      return result;
    },
    query: (sql, params) => t.app.dataSource.query(sql, params),
  }));
});

describe('the last OWNER, raced across two processes on one database', () => {
  const fake = new FakeOpenRouter();
  let db: TestDatabase;
  const workers: ServiceProcess[] = [];

  beforeAll(async () => {
    buildIfStale();
    await fake.start();
    db = await createTestDatabase();
    const env = serviceProcessEnv(db, { baseUrl: fake.baseUrl, platformKey: canaryKey() });
    // One at a time: the first applies the migrations.
    workers.push(await startServiceProcess(env));
    workers.push(await startServiceProcess(env));
  }, 180_000);
  afterAll(async () => {
    await Promise.allSettled(workers.map((worker) => worker.stop()));
    await fake.stop();
    await db?.drop();
  });

  raceSuite(() => ({
    send: async (target, query, variables, token) => {
      const response = await fetch(`${workers[target].url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      });
      expect(response.status).toBe(200);
      return (await response.json()) as Answer;
    },
    query: (sql, params) => queryOutside(db, sql, params),
  }));

  it('no worker logged an error', () => {
    expect(workers.map((worker) => worker.output()).join('')).not.toContain('"level":50');
  });
});

