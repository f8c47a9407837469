import { SignJWT } from 'jose';
import { abilityForMembership, Action, defineAbilityFor, Membership, roleCanManageBilling, scoped, SubjectType } from '../src/auth/ability.factory';
import type { Principal } from '../src/auth/principal';
import { Plan } from '../src/modules/workspace/workspace.enums';
import { MemberRole } from '../src/auth/member-role';
import {
  ADD_MEMBER,
  AUDIT_EVENTS,
  CHANGE_PLAN,
  CREATE_WORKSPACE,
  KEY_STATUS,
  REMOVE_KEY,
  REMOVE_MEMBER,
  REPLACE_KEY,
  SAVE_KEY,
  WORKSPACE,
} from './support/documents';
import { expectData, expectErrorCode } from './support/expectations';
import { sampleKey } from './support/fixtures';
import { GraphQLResult, startTestApp, TestApp } from './support/test-app';

/**
 * Who may do what (SPEC.md "The key: rules" 2 and 7, "Identity"), checked over HTTP for every
 * role × operation, and at the ability factory that every check goes through.
 */

const ACTORS = [
  'OWNER',
  'ADMIN',
  'BILLING_MANAGER',
  'MEMBER',
  /** the OWNER of another workspace: a role elsewhere must not reach this one */
  'outsider',
  'anonymous',
  /** a platform admin who is not a member */
  'platformAdmin',
  /** a platform admin who is also the workspace's OWNER */
  'platformAdminOwner',
  /** a well-formed JWT signed with another secret */
  'invalidToken',
] as const;
type Actor = (typeof ACTORS)[number];

const OPERATIONS = [
  'aiInferenceKey',
  'workspace',
  'saveKey',
  'replaceKey',
  'removeKey',
  'auditEvents',
  'addMember',
  'removeMember',
  'createWorkspace',
  'changePlan',
] as const;
type Operation = (typeof OPERATIONS)[number];

type Outcome = 'ok' | 'FORBIDDEN' | 'UNAUTHENTICATED';
const A: Outcome = 'ok';
const F: Outcome = 'FORBIDDEN';
const U: Outcome = 'UNAUTHENTICATED';

// prettier-ignore
const EXPECTED: Record<Operation, Record<Actor, Outcome>> = tableOf({
  //                OWNER ADMIN BILLING MEMBER outsider anonymous pAdmin pAdmin+OWNER invalid
  aiInferenceKey:  [A,    A,    A,      A,     F,       U,        A,     A,           U],
  workspace:       [A,    A,    A,      A,     F,       U,        A,     A,           U],
  saveKey:         [A,    A,    A,      F,     F,       U,        F,     A,           U],
  replaceKey:      [A,    A,    A,      F,     F,       U,        F,     A,           U],
  removeKey:       [A,    A,    A,      F,     F,       U,        F,     A,           U],
  auditEvents:     [A,    A,    A,      F,     F,       U,        A,     A,           U],
  addMember:       [A,    A,    F,      F,     F,       U,        A,     A,           U],
  removeMember:    [A,    A,    F,      F,     F,       U,        A,     A,           U],
  createWorkspace: [F,    F,    F,      F,     F,       U,        A,     A,           U],
  changePlan:      [F,    F,    F,      F,     F,       U,        A,     A,           U],
});

/** `canManage` on the status: Manage billing on this very workspace, which admins do not get by being admins. */
const CAN_MANAGE: Record<Actor, boolean> = {
  OWNER: true,
  ADMIN: true,
  BILLING_MANAGER: true,
  MEMBER: false,
  outsider: false,
  anonymous: false,
  platformAdmin: false,
  platformAdminOwner: true,
  invalidToken: false,
};

function tableOf(rows: Record<Operation, Outcome[]>): Record<Operation, Record<Actor, Outcome>> {
  return Object.fromEntries(
    Object.entries(rows).map(([operation, outcomes]) => {
      if (outcomes.length !== ACTORS.length) throw new Error(`row ${operation} has ${outcomes.length} outcomes`);
      return [operation, Object.fromEntries(ACTORS.map((actor, i) => [actor, outcomes[i]]))];
    }),
  ) as Record<Operation, Record<Actor, Outcome>>;
}

/** One fresh workspace per case, so each outcome is judged on a known state. */
interface Scene {
  workspaceId: string;
  /** an OWNER used to put the workspace in the state an operation needs */
  keeperToken: string;
  /** a MEMBER that removeMember tries to remove */
  targetUserId: string;
  /** the user addMember tries to add */
  newUserId: string;
  /** the name createWorkspace tries to use */
  newWorkspaceName: string;
}

interface OperationSpec {
  prepare?(scene: Scene): Promise<void>;
  run(scene: Scene, token: string | undefined): Promise<GraphQLResult>;
  /** what a success must have answered and done */
  verify(scene: Scene, result: GraphQLResult, actor: Actor): Promise<void>;
}

describe('permissions', () => {
  let t: TestApp;
  let adminToken: string;
  let outsiderToken: string;
  let invalidToken: string;
  let sceneCount = 0;

  beforeAll(async () => {
    t = await startTestApp();
    adminToken = await t.token('platform-admin', { admin: true });
    const elsewhere = expectData(await t.gql(CREATE_WORKSPACE, { name: 'Elsewhere', plan: Plan.ENTERPRISE }, adminToken)).createWorkspace;
    expectData(await t.gql(ADD_MEMBER, { w: elsewhere.id, u: 'outsider', r: MemberRole.OWNER }, adminToken));
    outsiderToken = await t.token('outsider');
    invalidToken = await new SignJWT({ platform_admin: true })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('platform-admin')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('another-secret-that-is-also-32-characters-long'));
  });
  afterAll(() => t.close());

  const query = (sql: string, params: unknown[]) => t.app.dataSource.query(sql, params);

  /** Everything an operation could change, read straight from the database. */
  async function snapshot(scene: Scene): Promise<unknown> {
    return {
      workspace: await query('SELECT id, name, plan, default_tier, byok_fallback FROM workspace WHERE id = ?', [scene.workspaceId]),
      members: await query('SELECT user_id, role FROM member WHERE workspace_id = ? ORDER BY user_id', [scene.workspaceId]),
      secret: await query('SELECT * FROM tenant_secret WHERE workspace_id = ?', [scene.workspaceId]),
      audit: await query('SELECT id, action, masked_hint FROM audit_event WHERE workspace_id = ? ORDER BY id', [scene.workspaceId]),
      created: await query('SELECT id FROM workspace WHERE name = ?', [scene.newWorkspaceName]),
    };
  }

  async function newScene(): Promise<Scene> {
    sceneCount += 1;
    const workspaceId = expectData(await t.gql(CREATE_WORKSPACE, { name: `Scene ${sceneCount}`, plan: Plan.ENTERPRISE }, adminToken)).createWorkspace.id;
    const keeper = `keeper-${sceneCount}`;
    const target = `target-${sceneCount}`;
    expectData(await t.gql(ADD_MEMBER, { w: workspaceId, u: keeper, r: MemberRole.OWNER }, adminToken));
    expectData(await t.gql(ADD_MEMBER, { w: workspaceId, u: target, r: MemberRole.MEMBER }, adminToken));
    return {
      workspaceId,
      keeperToken: await t.token(keeper),
      targetUserId: target,
      newUserId: `new-${sceneCount}`,
      newWorkspaceName: `Created ${sceneCount}`,
    };
  }

  async function tokenFor(actor: Actor, scene: Scene): Promise<string | undefined> {
    const userId = `${actor}-${sceneCount}`;
    switch (actor) {
      case 'anonymous':
        return undefined;
      case 'invalidToken':
        return invalidToken;
      case 'outsider':
        return outsiderToken;
      case 'platformAdmin':
        return adminToken;
      case 'platformAdminOwner':
        expectData(await t.gql(ADD_MEMBER, { w: scene.workspaceId, u: userId, r: MemberRole.OWNER }, adminToken));
        return t.token(userId, { admin: true });
      default:
        expectData(await t.gql(ADD_MEMBER, { w: scene.workspaceId, u: userId, r: actor }, adminToken));
        return t.token(userId);
    }
  }

  const saveKeyAsKeeper = async (scene: Scene) => {
    expectData(await t.gql(SAVE_KEY, { w: scene.workspaceId, k: sampleKey('kept') }, scene.keeperToken));
  };

  const SPECS: Record<Operation, OperationSpec> = {
    aiInferenceKey: {
      run: (scene, token) => t.gql(KEY_STATUS, { w: scene.workspaceId }, token),
      async verify(scene, result, actor) {
        expect(result.data?.aiInferenceKey).toMatchObject({ workspaceId: scene.workspaceId, canManage: CAN_MANAGE[actor] });
      },
    },
    workspace: {
      run: (scene, token) => t.gql(WORKSPACE, { id: scene.workspaceId }, token),
      async verify(scene, result, actor) {
        expect(result.data?.workspace).toMatchObject({ id: scene.workspaceId, aiInferenceKey: { canManage: CAN_MANAGE[actor] } });
      },
    },
    saveKey: {
      run: (scene, token) => t.gql(SAVE_KEY, { w: scene.workspaceId, k: sampleKey('new') }, token),
      async verify(scene, result) {
        expect(result.data?.saveKey).toMatchObject({ configured: true, maskedHint: 'sk-or-v1…fnew' });
        expect(await query("SELECT action FROM audit_event WHERE workspace_id = ? AND action LIKE 'KEY%'", [scene.workspaceId])).toEqual([{ action: 'KEY_SAVED' }]);
      },
    },
    replaceKey: {
      prepare: saveKeyAsKeeper,
      run: (scene, token) => t.gql(REPLACE_KEY, { w: scene.workspaceId, k: sampleKey('next') }, token),
      async verify(scene, result) {
        expect(result.data?.replaceKey).toMatchObject({ configured: true, maskedHint: 'sk-or-v1…next' });
        expect(await query('SELECT openrouter_masked_hint AS hint FROM tenant_secret WHERE workspace_id = ?', [scene.workspaceId])).toEqual([{ hint: 'sk-or-v1…next' }]);
      },
    },
    removeKey: {
      prepare: saveKeyAsKeeper,
      run: (scene, token) => t.gql(REMOVE_KEY, { w: scene.workspaceId }, token),
      async verify(scene, result) {
        expect(result.data?.removeKey).toMatchObject({ configured: false });
        expect(await query('SELECT workspace_id FROM tenant_secret WHERE workspace_id = ?', [scene.workspaceId])).toEqual([]);
      },
    },
    auditEvents: {
      prepare: saveKeyAsKeeper,
      run: (scene, token) => t.gql(AUDIT_EVENTS, { w: scene.workspaceId, first: 10 }, token),
      async verify(scene, result) {
        // the scene's member changes are audited too
        expect(result.data?.auditEvents.nodes.filter((event: { action: string }) => event.action.startsWith('KEY_'))).toEqual([
          expect.objectContaining({ workspaceId: scene.workspaceId, action: 'KEY_SAVED' }),
        ]);
      },
    },
    addMember: {
      run: (scene, token) => t.gql(ADD_MEMBER, { w: scene.workspaceId, u: scene.newUserId, r: MemberRole.MEMBER }, token),
      async verify(scene, result) {
        expect(result.data?.addMember).toEqual({ workspaceId: scene.workspaceId, userId: scene.newUserId, role: 'MEMBER', canManageBilling: false });
        expect(await query('SELECT role FROM member WHERE workspace_id = ? AND user_id = ?', [scene.workspaceId, scene.newUserId])).toEqual([{ role: 'MEMBER' }]);
      },
    },
    removeMember: {
      run: (scene, token) => t.gql(REMOVE_MEMBER, { w: scene.workspaceId, u: scene.targetUserId }, token),
      async verify(scene, result) {
        expect(result.data?.removeMember).toBe(true);
        expect(await query('SELECT role FROM member WHERE workspace_id = ? AND user_id = ?', [scene.workspaceId, scene.targetUserId])).toEqual([]);
      },
    },
    createWorkspace: {
      run: (scene, token) => t.gql(CREATE_WORKSPACE, { name: scene.newWorkspaceName, plan: Plan.PRO }, token),
      async verify(scene, result) {
        expect(result.data?.createWorkspace).toMatchObject({ name: scene.newWorkspaceName, plan: 'PRO' });
        expect(await query('SELECT plan FROM workspace WHERE name = ?', [scene.newWorkspaceName])).toEqual([{ plan: 'PRO' }]);
      },
    },
    changePlan: {
      prepare: saveKeyAsKeeper,
      run: (scene, token) => t.gql(CHANGE_PLAN, { w: scene.workspaceId, plan: Plan.PRO }, token),
      async verify(scene, result) {
        expect(result.data?.changePlan).toEqual({ id: scene.workspaceId, plan: 'PRO' });
        expect(await query('SELECT plan FROM workspace WHERE id = ?', [scene.workspaceId])).toEqual([{ plan: 'PRO' }]);
      },
    },
  };

  const cases = OPERATIONS.flatMap((operation) => ACTORS.map((actor) => ({ operation, actor, outcome: EXPECTED[operation][actor] })));

  it.each(cases)('$operation by $actor → $outcome', async ({ operation, actor, outcome }) => {
    const spec = SPECS[operation];
    const scene = await newScene();
    await spec.prepare?.(scene);
    const token = await tokenFor(actor, scene);
    const before = await snapshot(scene);

    const result = await spec.run(scene, token);

    if (outcome === 'ok') {
      expectData(result);
      await spec.verify(scene, result, actor);
    } else {
      expectErrorCode(result, outcome);
      expect(result.data ?? null).toBeNull();
      expect(await snapshot(scene)).toEqual(before);
    }
  });

  describe('a workspace that does not exist', () => {
    const MISSING = '00000000-0000-4000-8000-000000000000';

    /** Each workspace-scoped operation, aimed at a given workspace id. */
    const ATTEMPTS: Array<[string, (workspaceId: string, token?: string) => Promise<GraphQLResult>]> = [
      ['aiInferenceKey', (w, token) => t.gql(KEY_STATUS, { w }, token)],
      ['workspace', (w, token) => t.gql(WORKSPACE, { id: w }, token)],
      ['saveKey', (w, token) => t.gql(SAVE_KEY, { w, k: sampleKey() }, token)],
      ['replaceKey', (w, token) => t.gql(REPLACE_KEY, { w, k: sampleKey() }, token)],
      ['removeKey', (w, token) => t.gql(REMOVE_KEY, { w }, token)],
      ['auditEvents', (w, token) => t.gql(AUDIT_EVENTS, { w }, token)],
      ['addMember', (w, token) => t.gql(ADD_MEMBER, { w, u: 'someone', r: MemberRole.MEMBER }, token)],
      ['removeMember', (w, token) => t.gql(REMOVE_MEMBER, { w, u: 'someone' }, token)],
      ['changePlan', (w, token) => t.gql(CHANGE_PLAN, { w, plan: Plan.PRO }, token)],
    ];

    it.each(ATTEMPTS)('%s answers FORBIDDEN to a non-admin, exactly as for an existing workspace they cannot read', async (_name, attempt) => {
      const existing = await newScene();
      const memberElsewhere = await t.token('outsider');

      const onMissing = await attempt(MISSING, memberElsewhere);
      const onExisting = await attempt(existing.workspaceId, memberElsewhere);

      expectErrorCode(onMissing, 'FORBIDDEN');
      expectErrorCode(onExisting, 'FORBIDDEN');
      expect(onMissing.errors?.[0].message).toBe(onExisting.errors?.[0].message);
      expect(await query('SELECT id FROM workspace WHERE id = ?', [MISSING])).toEqual([]);
    });

    it.each(ATTEMPTS)('%s answers UNAUTHENTICATED to an anonymous caller', async (_name, attempt) => {
      expectErrorCode(await attempt(MISSING), 'UNAUTHENTICATED');
    });

    it('answers NOT_FOUND to a platform admin, who may read every workspace', async () => {
      expectErrorCode(await t.gql(WORKSPACE, { id: MISSING }, adminToken), 'NOT_FOUND');
      expectErrorCode(await t.gql(KEY_STATUS, { w: MISSING }, adminToken), 'NOT_FOUND');
    });
  });
});

describe('defineAbilityFor', () => {
  type Check = [Action, SubjectType, string?, MemberRole?];
  const W1 = 'w1';
  const W2 = 'w2';

  const WORKSPACE_CHECKS: Array<[Action, SubjectType]> = [
    ['read', 'Workspace'],
    ['read', 'AiInferenceKey'],
    ['read', 'Member'],
    ['manage', 'AiInferenceKey'],
    ['update', 'ByokFallback'],
    ['read', 'AuditLog'],
    ['manage', 'PartnerToken'],
    ['read', 'Usage'],
    ['manage', 'Member'],
    ['update', 'Plan'],
    ['settle', 'Usage'],
  ];
  /** The member hierarchy: whether a role may be given to, or taken from, a member of a workspace. */
  const ASSIGN_CHECKS = [W1, W2].flatMap((w) => Object.values(MemberRole).map((role): Check => ['assign', 'MemberRole', w, role]));
  const CHECKS: Check[] = [
    ...WORKSPACE_CHECKS.map(([action, type]): Check => [action, type, W1]),
    ...WORKSPACE_CHECKS.map(([action, type]): Check => [action, type, W2]),
    ...ASSIGN_CHECKS,
    ['read', 'Viewer'],
    ['read', 'TierPrice'],
    ['manage', 'TierPrice'],
    ['create', 'Workspace'],
    ['record', 'InferenceCall'],
  ];
  const label = ([action, type, workspaceId, role]: Check) => [action, type, workspaceId, role].filter(Boolean).join(' ');
  const can = (ability: ReturnType<typeof defineAbilityFor>, [action, type, workspaceId, role]: Check) => ability.can(action, scoped(type, workspaceId, role));

  const user = (platformAdmin = false): Principal => ({ kind: 'user', userId: 'u1', platformAdmin });
  const memberOfW1 = (role: MemberRole): Membership[] => [{ workspaceId: W1, role }];

  const READ_W1 = ['read Workspace w1', 'read AiInferenceKey w1', 'read Member w1'];
  const BILLING_W1 = ['manage AiInferenceKey w1', 'update ByokFallback w1', 'read AuditLog w1', 'manage PartnerToken w1', 'read Usage w1'];
  const SIGNED_IN = ['read Viewer', 'read TierPrice'];
  const assignInW1 = (...roles: MemberRole[]) => roles.map((role) => `assign MemberRole w1 ${role}`);
  const EVERY_ROLE = Object.values(MemberRole);
  const adminEverywhere = [W1, W2].flatMap((w) => [
    `read Workspace ${w}`,
    `read AiInferenceKey ${w}`,
    `read Member ${w}`,
    `read AuditLog ${w}`,
    `read Usage ${w}`,
    `manage Member ${w}`,
    `update Plan ${w}`,
    `settle Usage ${w}`,
    ...EVERY_ROLE.map((role) => `assign MemberRole ${w} ${role}`),
  ]);

  /** Everything each principal may do; every other check in CHECKS must answer false. */
  const TABLE: Array<[string, Principal, Membership[], string[]]> = [
    ['MEMBER of w1', user(), memberOfW1(MemberRole.MEMBER), [...SIGNED_IN, ...READ_W1]],
    ['BILLING_MANAGER of w1', user(), memberOfW1(MemberRole.BILLING_MANAGER), [...SIGNED_IN, ...READ_W1, ...BILLING_W1]],
    [
      'ADMIN of w1',
      user(),
      memberOfW1(MemberRole.ADMIN),
      [...SIGNED_IN, ...READ_W1, ...BILLING_W1, 'manage Member w1', ...assignInW1(MemberRole.ADMIN, MemberRole.BILLING_MANAGER, MemberRole.MEMBER)],
    ],
    ['OWNER of w1', user(), memberOfW1(MemberRole.OWNER), [...SIGNED_IN, ...READ_W1, ...BILLING_W1, 'manage Member w1', ...assignInW1(...EVERY_ROLE)]],
    ['a user with no membership', user(), [], SIGNED_IN],
    ['a platform admin', user(true), [], [...SIGNED_IN, ...adminEverywhere, 'manage TierPrice', 'create Workspace']],
    [
      'a platform admin who is BILLING_MANAGER of w1',
      user(true),
      memberOfW1(MemberRole.BILLING_MANAGER),
      [...SIGNED_IN, ...adminEverywhere, ...BILLING_W1, 'manage TierPrice', 'create Workspace'],
    ],
    ['an anonymous caller', { kind: 'anonymous' }, [], ['read Viewer']],
    ['an invalid credential', { kind: 'invalid' }, [], []],
    ['the inference runtime', { kind: 'service' }, [], ['read Viewer', 'read TierPrice', 'record InferenceCall']],
    ['a partner token for w1', { kind: 'partner', tokenId: 'p1', workspaceId: W1 }, [], ['read Viewer', 'read Usage w1']],
  ];

  it.each(TABLE)('%s may do exactly what the table says', (_name, principal, memberships, allowed) => {
    const ability = defineAbilityFor(principal, memberships);

    const granted = CHECKS.filter((check) => can(ability, check)).map(label);

    expect(granted.sort()).toEqual([...new Set(allowed)].sort());
  });

  it.each(TABLE)('%s gets the same rules from the abilities shared across requests', (_name, principal, memberships, allowed) => {
    // Every row runs after the others have filled the shared abilities: none may leak into another.
    for (const [, other, otherMemberships] of TABLE) abilityForMembership(other, otherMemberships[0] ?? null);
    const ability = abilityForMembership(principal, memberships[0] ?? null);

    const granted = CHECKS.filter((check) => can(ability, check)).map(label);

    expect(granted.sort()).toEqual([...new Set(allowed)].sort());
  });

  it('shares one ability between users holding the same role in the same workspace', () => {
    const alice: Principal = { kind: 'user', userId: 'alice', platformAdmin: false };
    const bob: Principal = { kind: 'user', userId: 'bob', platformAdmin: false };
    const member = { workspaceId: W1, role: MemberRole.MEMBER };
    expect(abilityForMembership(alice, member)).toBe(abilityForMembership(bob, member));
    expect(abilityForMembership(alice, member)).not.toBe(abilityForMembership(alice, { workspaceId: W2, role: MemberRole.MEMBER }));
    expect(abilityForMembership(alice, member)).not.toBe(abilityForMembership({ ...alice, platformAdmin: true }, member));
  });

  it('grants nothing in a workspace through a membership of another', () => {
    for (const role of Object.values(MemberRole)) {
      const ability = defineAbilityFor(user(), memberOfW1(role));
      for (const [action, type] of WORKSPACE_CHECKS) expect(ability.can(action, scoped(type, W2))).toBe(false);
      for (const check of ASSIGN_CHECKS.filter(([, , w]) => w === W2)) expect(can(ability, check)).toBe(false);
    }
  });

  it("fails closed: a MemberRole check that names no role is refused to an ADMIN, whose rule is about roles", () => {
    const ability = defineAbilityFor(user(), memberOfW1(MemberRole.ADMIN));
    expect(ability.can('assign', scoped('MemberRole', W1))).toBe(false);
    expect(defineAbilityFor(user(), memberOfW1(MemberRole.OWNER)).can('assign', scoped('MemberRole', W1))).toBe(true);
  });

  it('fails fast on an unknown role', () => {
    expect(() => defineAbilityFor(user(), [{ workspaceId: W1, role: 'SUPERUSER' as MemberRole }])).toThrow(/unknown member role/);
  });

  it.each([
    [MemberRole.OWNER, true],
    [MemberRole.ADMIN, true],
    [MemberRole.BILLING_MANAGER, true],
    [MemberRole.MEMBER, false],
  ])('says whether %s holds Manage billing (%s)', (role, expected) => {
    expect(roleCanManageBilling(role)).toBe(expected);
  });
});
