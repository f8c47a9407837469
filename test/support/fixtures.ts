import { Plan } from '../../src/modules/workspace/workspace.enums';
import { MemberRole } from '../../src/auth/member-role';
import type { TestApp } from './test-app';

/** A key that passes validation; the suffix makes each one distinct. */
export function sampleKey(suffix = 'a'): string {
  return `sk-or-v1-${'0123456789abcdef'.repeat(4)}${suffix}`;
}

export interface SeededWorkspace {
  id: string;
  adminToken: string;
  tokens: Record<'owner' | 'admin' | 'billing' | 'member' | 'outsider', string>;
  /** the user id behind each token, e.g. to check an audit event's actor */
  userIds: Record<'owner' | 'admin' | 'billing' | 'member' | 'outsider', string>;
}

/** A workspace made through the API, with one user per role and an outsider. */
export async function seedWorkspace(t: TestApp, plan: Plan = Plan.ENTERPRISE, name = 'Acme'): Promise<SeededWorkspace> {
  const adminToken = await t.token('platform-admin', { admin: true });
  const created = await t.gql<{ createWorkspace: { id: string } }>(
    'mutation($name: String!, $plan: Plan!) { createWorkspace(name: $name, plan: $plan) { id } }',
    { name, plan },
    adminToken,
  );
  if (!created.data) throw new Error(`createWorkspace failed: ${created.text}`);
  const id = created.data.createWorkspace.id;
  const users: Array<[keyof SeededWorkspace['tokens'], MemberRole | null]> = [
    ['owner', MemberRole.OWNER],
    ['admin', MemberRole.ADMIN],
    ['billing', MemberRole.BILLING_MANAGER],
    ['member', MemberRole.MEMBER],
    ['outsider', null],
  ];
  const tokens = {} as SeededWorkspace['tokens'];
  const userIds = {} as SeededWorkspace['userIds'];
  for (const [label, role] of users) {
    const userId = `${label}-${id.slice(0, 8)}`;
    if (role) {
      const added = await t.gql(
        'mutation($w: ID!, $u: ID!, $r: MemberRole!) { addMember(workspaceId: $w, userId: $u, role: $r) { userId } }',
        { w: id, u: userId, r: role },
        adminToken,
      );
      if (!added.data) throw new Error(`addMember failed: ${added.text}`);
    }
    tokens[label] = await t.token(userId);
    userIds[label] = userId;
  }
  return { id, adminToken, tokens, userIds };
}

export const KEY_STATUS_FIELDS = 'workspaceId configured maskedHint eligible canManage updatedAt updatedBy status limitMicros limitRemainingMicros isFreeTier lastCheckedAt';
