import { MemberEntity } from '../src/modules/workspace/member.entity';
import type { WorkspaceEvent } from '../src/modules/workspace/workspace-events';
import { Plan } from '../src/modules/workspace/workspace.enums';
import { ADD_MEMBER, CHANGE_PLAN, REMOVE_KEY, SAVE_KEY } from './support/documents';
import { expectData } from './support/expectations';
import { sampleKey, seedWorkspace } from './support/fixtures';
import { startTestApp, TestApp } from './support/test-app';

/**
 * Issue 9, "Workspace directory": one typed stream of workspace changes. In-transaction
 * subscribers run with the change's manager and can undo it; after-commit subscribers hear only
 * of what committed, here or (through Redis) on another worker.
 */

let t: TestApp;
let inTransaction: Array<WorkspaceEvent & { membersSeen?: number }>;
let afterCommit: WorkspaceEvent[];
let localCommits: WorkspaceEvent[];
let refuse: ((event: WorkspaceEvent) => boolean) | undefined;

beforeAll(async () => {
  t = await startTestApp();
  const events = t.app.seam.workspaceEvents;
  events.subscribeInTransaction(async (manager, event) => {
    if (refuse?.(event)) throw new Error('an in-transaction subscriber refused the change');
    const membersSeen = event.kind === 'membershipChanged' ? await manager.countBy(MemberEntity, { workspaceId: event.workspaceId, userId: event.userId }) : undefined;
    inTransaction.push({ ...event, membersSeen });
  });
  events.subscribeAfterCommit((event) => afterCommit.push(event));
  events.subscribeToLocalCommits((event) => localCommits.push(event));
});

beforeEach(() => {
  inTransaction = [];
  afterCommit = [];
  localCommits = [];
  refuse = undefined;
});

afterAll(() => t.close());

it('a member change is published inside its transaction, whose manager already sees it, then after commit', async () => {
  const ws = await seedWorkspace(t, Plan.ENTERPRISE, 'Events');
  inTransaction = [];
  afterCommit = [];
  localCommits = [];
  expectData(await t.gql(ADD_MEMBER, { w: ws.id, u: 'new-member', r: 'MEMBER' }, ws.tokens.owner));
  const event = { kind: 'membershipChanged', workspaceId: ws.id, userId: 'new-member' };
  expect(inTransaction).toEqual([{ ...event, membersSeen: 1 }]);
  expect(afterCommit).toEqual([event]);
  expect(localCommits).toEqual([event]);
});

it('the key and the plan publish keyChanged and changed', async () => {
  const ws = await seedWorkspace(t, Plan.ENTERPRISE, 'Kinds');
  afterCommit = [];
  expectData(await t.gql(SAVE_KEY, { w: ws.id, k: sampleKey() }, ws.tokens.owner));
  expectData(await t.gql(REMOVE_KEY, { w: ws.id }, ws.tokens.owner));
  expectData(await t.gql(CHANGE_PLAN, { w: ws.id, plan: 'PRO' }, ws.adminToken));
  expect(afterCommit).toEqual([
    { kind: 'keyChanged', workspaceId: ws.id },
    { kind: 'keyChanged', workspaceId: ws.id },
    { kind: 'changed', workspaceId: ws.id },
  ]);
});

it('a change an in-transaction subscriber refuses is rolled back, and no after-commit subscriber hears of it', async () => {
  const ws = await seedWorkspace(t, Plan.ENTERPRISE, 'Refused');
  afterCommit = [];
  localCommits = [];
  refuse = (event) => event.kind === 'membershipChanged';
  const refused = await t.gql(ADD_MEMBER, { w: ws.id, u: 'never-added', r: 'MEMBER' }, ws.tokens.owner);
  expect(refused.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
  expect(afterCommit).toEqual([]);
  expect(localCommits).toEqual([]);
  refuse = undefined;
  expect(await t.app.seam.transactions.manager.countBy(MemberEntity, { workspaceId: ws.id, userId: 'never-added' })).toBe(0);
});

it("another worker's change reaches the after-commit subscribers but is not told back to the others", async () => {
  t.app.seam.workspaceEvents.committedElsewhere('elsewhere');
  expect(afterCommit).toEqual([{ kind: 'changed', workspaceId: 'elsewhere' }]);
  expect(localCommits).toEqual([]);
  expect(inTransaction).toEqual([]);
});
