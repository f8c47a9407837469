import { Plan } from '../src/modules/workspace/workspace.enums';
import { MemberRole } from '../src/auth/member-role';
import { ADD_MEMBER, AUDIT_TRAIL, CREATE_WORKSPACE, REMOVE_MEMBER } from './support/documents';
import { expectData, expectErrorCode } from './support/expectations';
import { GraphQLResult, startTestApp, TestApp } from './support/test-app';

/**
 * The member hierarchy (SPEC.md, "The domain"), over HTTP: only an OWNER or a platform admin
 * grants OWNER, changes an OWNER's role or removes an OWNER; an ADMIN manages ADMIN,
 * BILLING_MANAGER and MEMBER; the last OWNER is neither removed nor demoted (LAST_OWNER, after
 * FORBIDDEN). Every case runs on a workspace holding just the caller and the target, so a target
 * OWNER is the last one unless the caller is an OWNER too.
 */

const { OWNER, ADMIN, BILLING_MANAGER, MEMBER } = MemberRole;
const ROLES = [OWNER, ADMIN, BILLING_MANAGER, MEMBER] as const;
const CALLERS = ['OWNER', 'ADMIN', 'BILLING_MANAGER', 'MEMBER', 'platformAdmin'] as const;
type Caller = (typeof CALLERS)[number];

type Operation = { kind: 'add'; to: MemberRole } | { kind: 'change'; from: MemberRole; to: MemberRole } | { kind: 'remove'; from: MemberRole };
/** The table's columns, in order. */
const OPERATIONS: Operation[] = [
  ...ROLES.map((to): Operation => ({ kind: 'add', to })),
  ...ROLES.flatMap((from) => ROLES.map((to): Operation => ({ kind: 'change', from, to }))),
  ...ROLES.map((from): Operation => ({ kind: 'remove', from })),
];

type Outcome = 'ok' | 'FORBIDDEN' | 'LAST_OWNER';
const A: Outcome = 'ok';
const F: Outcome = 'FORBIDDEN';
const L: Outcome = 'LAST_OWNER';

// prettier-ignore
const EXPECTED: Record<Caller, Outcome[]> = {
  //              add a new member as  | change an OWNER to | an ADMIN to   | a BILLING_M. to | a MEMBER to  | remove an
  //              O  A  B  M           | O  A  B  M         | O  A  B  M    | O  A  B  M      | O  A  B  M   | O  A  B  M
  OWNER:         [A, A, A, A,            A, A, A, A,          A, A, A, A,     A, A, A, A,       A, A, A, A,    A, A, A, A],
  ADMIN:         [F, A, A, A,            F, F, F, F,          F, A, A, A,     F, A, A, A,       F, A, A, A,    F, A, A, A],
  BILLING_MANAGER: [F, F, F, F,          F, F, F, F,          F, F, F, F,     F, F, F, F,       F, F, F, F,    F, F, F, F],
  MEMBER:        [F, F, F, F,            F, F, F, F,          F, F, F, F,     F, F, F, F,       F, F, F, F,    F, F, F, F],
  // not a member: the target OWNER is the workspace's only one
  platformAdmin: [A, A, A, A,            A, L, L, L,          A, A, A, A,     A, A, A, A,       A, A, A, A,    L, A, A, A],
};

/** Members acting on themselves, the only member of the workspace: change to O, A, B, M, then remove. */
// prettier-ignore
const ON_SELF: Record<Exclude<Caller, 'platformAdmin'>, Outcome[]> = {
  OWNER:           [A, L, L, L, L],
  ADMIN:           [F, A, A, A, A],
  BILLING_MANAGER: [F, F, F, F, F],
  MEMBER:          [F, F, F, F, F],
};

function describeOperation(operation: Operation): string {
  switch (operation.kind) {
    case 'add':
      return `adds a new member as ${operation.to}`;
    case 'change':
      return `changes ${operation.from} to ${operation.to}`;
    case 'remove':
      return `removes ${operation.from}`;
  }
}

interface AuditRow {
  action: string;
  actorUserId: string | null;
  targetUserId: string | null;
  fromRole: string | null;
  toRole: string | null;
}

describe('member hierarchy', () => {
  let t: TestApp;
  let adminToken: string;
  let sceneCount = 0;

  beforeAll(async () => {
    t = await startTestApp();
    adminToken = await t.token('hierarchy-admin', { admin: true });
  });
  afterAll(() => t.close());

  const members = (workspaceId: string) =>
    t.app.dataSource.query('SELECT user_id AS userId, role FROM member WHERE workspace_id = ? ORDER BY user_id', [workspaceId]) as Promise<
      Array<{ userId: string; role: string }>
    >;
  const auditRows = (workspaceId: string) =>
    t.app.dataSource.query(
      'SELECT action, actor_user_id AS actorUserId, target_user_id AS targetUserId, from_role AS fromRole, to_role AS toRole FROM audit_event WHERE workspace_id = ? ORDER BY id',
      [workspaceId],
    ) as Promise<AuditRow[]>;

  /** A workspace holding `initial` (user id → role), created and filled by a platform admin. */
  async function workspaceWith(initial: Array<[string, MemberRole]>): Promise<string> {
    sceneCount += 1;
    const workspaceId = expectData(await t.gql(CREATE_WORKSPACE, { name: `Hierarchy ${sceneCount}`, plan: Plan.ENTERPRISE }, adminToken)).createWorkspace.id;
    for (const [userId, role] of initial) expectData(await t.gql(ADD_MEMBER, { w: workspaceId, u: userId, r: role }, adminToken));
    return workspaceId;
  }

  async function attempt(operation: Operation, workspaceId: string, targetUserId: string, token: string): Promise<GraphQLResult> {
    if (operation.kind === 'remove') return t.gql(REMOVE_MEMBER, { w: workspaceId, u: targetUserId }, token);
    return t.gql(ADD_MEMBER, { w: workspaceId, u: targetUserId, r: operation.to }, token);
  }

  /**
   * The outcome over HTTP, and what it did: a refusal changes no member and writes no audit event;
   * a success leaves the target as asked, audited with who, whom and both roles (a change to the
   * role already held changes and audits nothing).
   */
  async function expectOutcome(operation: Operation, outcome: Outcome, scene: { workspaceId: string; targetUserId: string; callerUserId: string; token: string }) {
    const { workspaceId, targetUserId, callerUserId, token } = scene;
    const membersBefore = await members(workspaceId);
    const auditBefore = await auditRows(workspaceId);

    const result = await attempt(operation, workspaceId, targetUserId, token);

    if (outcome !== 'ok') {
      expectErrorCode(result, outcome);
      expect(result.data ?? null).toBeNull();
      expect(await members(workspaceId)).toEqual(membersBefore);
      expect(await auditRows(workspaceId)).toEqual(auditBefore);
      return;
    }
    const data = expectData(result);
    const target = (await members(workspaceId)).find((member) => member.userId === targetUserId);
    const newAudit = (await auditRows(workspaceId)).slice(auditBefore.length);
    const audited = { actorUserId: callerUserId, targetUserId };
    switch (operation.kind) {
      case 'add':
        expect(data.addMember).toMatchObject({ workspaceId, userId: targetUserId, role: operation.to });
        expect(target?.role).toBe(operation.to);
        expect(newAudit).toEqual([{ action: 'MEMBER_ADDED', ...audited, fromRole: null, toRole: operation.to }]);
        break;
      case 'change':
        expect(data.addMember).toMatchObject({ workspaceId, userId: targetUserId, role: operation.to });
        expect(target?.role).toBe(operation.to);
        expect(newAudit).toEqual(operation.from === operation.to ? [] : [{ action: 'MEMBER_ROLE_CHANGED', ...audited, fromRole: operation.from, toRole: operation.to }]);
        break;
      case 'remove':
        expect(data.removeMember).toBe(true);
        expect(target).toBeUndefined();
        expect(newAudit).toEqual([{ action: 'MEMBER_REMOVED', ...audited, fromRole: operation.from, toRole: null }]);
        break;
    }
  }

  const cases = CALLERS.flatMap((caller) => OPERATIONS.map((operation, column) => ({ caller, operation, outcome: EXPECTED[caller][column], name: describeOperation(operation) })));

  it.each(cases)('$caller $name → $outcome', async ({ caller, operation, outcome }) => {
    const n = sceneCount + 1;
    const callerUserId = caller === 'platformAdmin' ? 'hierarchy-admin' : `caller-${n}`;
    const targetUserId = `target-${n}`;
    const initial: Array<[string, MemberRole]> = [];
    if (caller !== 'platformAdmin') initial.push([callerUserId, MemberRole[caller]]);
    if (operation.kind !== 'add') initial.push([targetUserId, operation.from]);
    const workspaceId = await workspaceWith(initial);
    const token = caller === 'platformAdmin' ? adminToken : await t.token(callerUserId);

    await expectOutcome(operation, outcome, { workspaceId, targetUserId, callerUserId, token });
  });

  const selfCases = (Object.keys(ON_SELF) as Array<keyof typeof ON_SELF>).flatMap((caller) =>
    [...ROLES.map((to): Operation => ({ kind: 'change', from: MemberRole[caller], to })), { kind: 'remove', from: MemberRole[caller] } as Operation].map((operation, column) => ({
      caller,
      operation,
      outcome: ON_SELF[caller][column],
      name: describeOperation(operation),
    })),
  );

  it.each(selfCases)('$caller, alone in the workspace, on themselves: $name → $outcome', async ({ caller, operation, outcome }) => {
    const userId = `self-${sceneCount + 1}`;
    const workspaceId = await workspaceWith([[userId, MemberRole[caller]]]);

    await expectOutcome(operation, outcome, { workspaceId, targetUserId: userId, callerUserId: userId, token: await t.token(userId) });
  });

  it('the ADMIN who was the way in before: cannot make themselves OWNER, then remove every OWNER', async () => {
    const workspaceId = await workspaceWith([
      ['founder', OWNER],
      ['cofounder', OWNER],
      ['climber', ADMIN],
    ]);
    const climber = await t.token('climber');

    expectErrorCode(await t.gql(ADD_MEMBER, { w: workspaceId, u: 'climber', r: OWNER }, climber), 'FORBIDDEN');
    expectErrorCode(await t.gql(REMOVE_MEMBER, { w: workspaceId, u: 'founder' }, climber), 'FORBIDDEN');
    expectErrorCode(await t.gql(ADD_MEMBER, { w: workspaceId, u: 'cofounder', r: MEMBER }, climber), 'FORBIDDEN');
    expectErrorCode(await t.gql(ADD_MEMBER, { w: workspaceId, u: 'accomplice', r: OWNER }, climber), 'FORBIDDEN');

    expect(await members(workspaceId)).toEqual([
      { userId: 'climber', role: ADMIN },
      { userId: 'cofounder', role: OWNER },
      { userId: 'founder', role: OWNER },
    ]);
  });

  it('an OWNER demoted by another is refused at once, even by a worker that has just served them as an OWNER', async () => {
    const workspaceId = await workspaceWith([
      ['first', OWNER],
      ['second', OWNER],
    ]);
    const second = await t.token('second');
    // Read (and its membership cached) by this worker while `second` is an OWNER…
    expect(expectData(await t.gql('query($w: ID!) { workspace(id: $w) { id } }', { w: workspaceId }, second))).toBeTruthy();
    expectData(await t.gql(ADD_MEMBER, { w: workspaceId, u: 'second', r: ADMIN }, await t.token('first')));

    // …then, as an ADMIN, `second` may not touch the OWNER.
    expectErrorCode(await t.gql(REMOVE_MEMBER, { w: workspaceId, u: 'first' }, second), 'FORBIDDEN');
    expect(await members(workspaceId)).toEqual([
      { userId: 'first', role: OWNER },
      { userId: 'second', role: ADMIN },
    ]);
  });

  it('removing someone who is not a member answers false and audits nothing, whoever asks', async () => {
    const workspaceId = await workspaceWith([['keeper', OWNER]]);
    for (const token of [adminToken, await t.token('keeper')]) {
      expect(expectData(await t.gql(REMOVE_MEMBER, { w: workspaceId, u: 'nobody' }, token)).removeMember).toBe(false);
    }
    expect(await auditRows(workspaceId)).toEqual([
      { action: 'MEMBER_ADDED', actorUserId: 'hierarchy-admin', targetUserId: 'keeper', fromRole: null, toRole: OWNER },
    ]);
  });

  it('audit events carry the member and both roles over GraphQL, for Manage billing holders', async () => {
    const workspaceId = await workspaceWith([['boss', OWNER]]);
    const boss = await t.token('boss');
    expectData(await t.gql(ADD_MEMBER, { w: workspaceId, u: 'carol', r: MEMBER }, boss));
    expectData(await t.gql(ADD_MEMBER, { w: workspaceId, u: 'carol', r: BILLING_MANAGER }, boss));
    expectData(await t.gql(REMOVE_MEMBER, { w: workspaceId, u: 'carol' }, boss));

    const nodes = expectData(await t.gql(AUDIT_TRAIL, { w: workspaceId }, boss)).auditEvents.nodes;

    expect(nodes).toEqual([
      { action: 'MEMBER_REMOVED', actorUserId: 'boss', targetUserId: 'carol', fromRole: BILLING_MANAGER, toRole: null, maskedHint: null, detail: null },
      { action: 'MEMBER_ROLE_CHANGED', actorUserId: 'boss', targetUserId: 'carol', fromRole: MEMBER, toRole: BILLING_MANAGER, maskedHint: null, detail: null },
      { action: 'MEMBER_ADDED', actorUserId: 'boss', targetUserId: 'carol', fromRole: null, toRole: MEMBER, maskedHint: null, detail: null },
      { action: 'MEMBER_ADDED', actorUserId: 'hierarchy-admin', targetUserId: 'boss', fromRole: null, toRole: OWNER, maskedHint: null, detail: null },
    ]);
  });
});
