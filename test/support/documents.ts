import { KEY_STATUS_FIELDS } from './fixtures';

/** The GraphQL documents the specs send, in one place so a schema change is fixed once. */

export const KEY_STATUS = `query KeyStatus($w: ID!) { aiInferenceKey(workspaceId: $w) { ${KEY_STATUS_FIELDS} } }`;
export const SAVE_KEY = `mutation SaveKey($w: ID!, $k: String!) { saveKey(workspaceId: $w, key: $k) { ${KEY_STATUS_FIELDS} } }`;
export const REPLACE_KEY = `mutation ReplaceKey($w: ID!, $k: String!) { replaceKey(workspaceId: $w, key: $k) { ${KEY_STATUS_FIELDS} } }`;
export const REMOVE_KEY = `mutation RemoveKey($w: ID!) { removeKey(workspaceId: $w) { ${KEY_STATUS_FIELDS} } }`;

export const AUDIT_EVENTS = `query AuditEvents($w: ID!, $first: Int, $after: String) {
  auditEvents(workspaceId: $w, first: $first, after: $after) {
    nodes { id workspaceId action actorUserId maskedHint at }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const WORKSPACE = `query Workspace($id: ID!) { workspace(id: $id) { id name plan aiInferenceKey { configured canManage eligible } } }`;
export const VIEWER = `query Viewer { viewer { userId platformAdmin memberships { workspaceId role canManageBilling } } }`;

export const CREATE_WORKSPACE = `mutation CreateWorkspace($name: String!, $plan: Plan!) { createWorkspace(name: $name, plan: $plan) { id name plan } }`;
export const CHANGE_PLAN = `mutation ChangePlan($w: ID!, $plan: Plan!) { changePlan(workspaceId: $w, plan: $plan) { id plan } }`;
export const ADD_MEMBER = `mutation AddMember($w: ID!, $u: ID!, $r: MemberRole!) { addMember(workspaceId: $w, userId: $u, role: $r) { workspaceId userId role canManageBilling } }`;
export const REMOVE_MEMBER = `mutation RemoveMember($w: ID!, $u: ID!) { removeMember(workspaceId: $w, userId: $u) }`;

/** The audit log with what member changes carry: the member and the roles before and after. */
export const AUDIT_TRAIL = `query AuditTrail($w: ID!) {
  auditEvents(workspaceId: $w, first: 100) { nodes { action actorUserId targetUserId fromRole toRole maskedHint detail } }
}`;
