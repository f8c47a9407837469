import { AbilityBuilder, createMongoAbility, ForcedSubject, MongoAbility, MongoQuery, subject as asSubject } from '@casl/ability';
import { MemberRole } from './member-role';
import type { Principal } from './principal';

/**
 * The one place that says who may do what. Everything a check is about carries the workspace it
 * belongs to, so a permission granted through one membership never reaches another workspace.
 */
export type Action = 'read' | 'manage' | 'create' | 'update' | 'record' | 'settle' | 'assign';
export type SubjectType =
  | 'Viewer'
  | 'Workspace'
  | 'Plan'
  | 'Member'
  /** `assign` a role: give it to a member, or take it from one (change their role, remove them) */
  | 'MemberRole'
  | 'AiInferenceKey'
  | 'ByokFallback'
  | 'AuditLog'
  | 'PartnerToken'
  | 'Usage'
  | 'TierPrice'
  | 'InferenceCall'
  | 'AiBudget'
  | 'WebhookEndpoint';

/** Every checked object names its workspace (null for platform-wide subjects); a `MemberRole` also its role. */
interface Scope {
  workspaceId: string | null;
  role?: MemberRole;
}
type ScopedSubject = { [K in SubjectType]: Scope & ForcedSubject<K> }[SubjectType];

export type AppAbility = MongoAbility<[Action, SubjectType | ScopedSubject | 'all'], MongoQuery<Scope>>;

export interface Membership {
  workspaceId: string;
  role: MemberRole;
}

type Can = AbilityBuilder<AppAbility>['can'];

/** Manage billing: save/replace/remove the key, audit log, partner tokens, usage and billing figures, the AI budget. */
function manageBilling(can: Can, workspaceId: string): void {
  can('manage', 'AiInferenceKey', { workspaceId });
  can('update', 'ByokFallback', { workspaceId });
  can('read', 'AuditLog', { workspaceId });
  can('manage', 'PartnerToken', { workspaceId });
  can('read', 'Usage', { workspaceId });
  can('manage', 'AiBudget', { workspaceId });
  can('manage', 'WebhookEndpoint', { workspaceId });
}

function readWorkspace(can: Can, workspaceId: string): void {
  can('read', 'Workspace', { workspaceId });
  can('read', 'AiInferenceKey', { workspaceId });
  can('read', 'Member', { workspaceId });
}

/**
 * The member hierarchy: an ADMIN hands out and takes away these roles only, so no ADMIN can make
 * anyone (themselves included) an OWNER or touch an OWNER; OWNERs and platform admins assign every role.
 */
const ROLES_AN_ADMIN_ASSIGNS = [MemberRole.ADMIN, MemberRole.BILLING_MANAGER, MemberRole.MEMBER];

const ROLE_PERMISSIONS: Record<MemberRole, (can: Can, workspaceId: string) => void> = {
  [MemberRole.MEMBER]: readWorkspace,
  [MemberRole.BILLING_MANAGER]: (can, workspaceId) => {
    readWorkspace(can, workspaceId);
    manageBilling(can, workspaceId);
  },
  [MemberRole.ADMIN]: (can, workspaceId) => {
    readWorkspace(can, workspaceId);
    manageBilling(can, workspaceId);
    can('manage', 'Member', { workspaceId });
    can('assign', 'MemberRole', { workspaceId, role: { $in: ROLES_AN_ADMIN_ASSIGNS } });
  },
  [MemberRole.OWNER]: (can, workspaceId) => {
    readWorkspace(can, workspaceId);
    manageBilling(can, workspaceId);
    can('manage', 'Member', { workspaceId });
    can('assign', 'MemberRole', { workspaceId });
  },
};

/** A subject instance for a check: CASL needs a typed object, never a plain one. */
export function scoped(type: SubjectType, workspaceId?: string, role?: MemberRole): ScopedSubject {
  return asSubject(type, role === undefined ? { workspaceId: workspaceId ?? null } : { workspaceId: workspaceId ?? null, role });
}

export function defineAbilityFor(principal: Principal, memberships: readonly Membership[]): AppAbility {
  const { can, build } = new AbilityBuilder<AppAbility>(createMongoAbility);
  switch (principal.kind) {
    case 'invalid':
      break;
    case 'anonymous':
      can('read', 'Viewer');
      break;
    case 'service':
      can('read', 'Viewer');
      can('record', 'InferenceCall');
      can('read', 'TierPrice');
      break;
    case 'partner':
      can('read', 'Viewer');
      can('read', 'Usage', { workspaceId: principal.workspaceId });
      break;
    case 'user':
      can('read', 'Viewer');
      can('read', 'TierPrice');
      for (const membership of memberships) {
        const grant = ROLE_PERMISSIONS[membership.role];
        if (!grant) throw new Error(`unknown member role: ${String(membership.role)}`);
        grant(can, membership.workspaceId);
      }
      if (principal.platformAdmin) {
        can('read', 'all');
        can('create', 'Workspace');
        can('update', 'Plan');
        can('manage', 'Member');
        can('assign', 'MemberRole');
        can('manage', 'TierPrice');
        can('settle', 'Usage');
      }
      break;
  }
  return build();
}

const MAX_REMEMBERED_ABILITIES = 10_000;
const rememberedAbilities = new Map<string, AppAbility>();

/** What an ability built from one membership depends on: never the user id itself. */
function abilityKey(principal: Principal, membership: Membership | null): string {
  const scope = membership ? `${membership.workspaceId}:${membership.role}` : '';
  switch (principal.kind) {
    case 'user':
      return `user:${principal.platformAdmin}:${scope}`;
    case 'partner':
      return `partner:${principal.workspaceId}:${scope}`;
    default:
      return `${principal.kind}:${scope}`;
  }
}

/**
 * The ability for a principal and at most one membership. Abilities are immutable and the same
 * inputs give the same rules, so one is built per distinct role in a workspace and shared across
 * requests: building and indexing CASL rules on every request was a measurable share of a read.
 */
export function abilityForMembership(principal: Principal, membership: Membership | null): AppAbility {
  const key = abilityKey(principal, membership);
  let ability = rememberedAbilities.get(key);
  if (!ability) {
    ability = defineAbilityFor(principal, membership ? [membership] : []);
    if (rememberedAbilities.size >= MAX_REMEMBERED_ABILITIES) rememberedAbilities.clear();
    rememberedAbilities.set(key, ability);
  }
  return ability;
}

const MANAGE_BILLING_BY_ROLE = new Map(
  Object.values(MemberRole).map((role) => {
    const ability = defineAbilityFor({ kind: 'user', userId: '', platformAdmin: false }, [{ workspaceId: 'w', role }]);
    return [role, ability.can('manage', scoped('AiInferenceKey', 'w'))] as const;
  }),
);

/** Whether a role holds Manage billing, answered by the same rules as every other check. */
export function roleCanManageBilling(role: MemberRole): boolean {
  return MANAGE_BILLING_BY_ROLE.get(role) ?? false;
}
