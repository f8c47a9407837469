import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildSchema, findBreakingChanges } from 'graphql';
import { compareWithContract, judgeAgainstContract, parsePendingList, removedCoordinate, verdictPasses } from '../src/cli/contract/contract-comparison';
import { buildOnce, runCompiled } from './support/build';

const sdl = (query: string, extra = '') => buildSchema(`enum Plan { PLUS PRO ENTERPRISE } ${extra} type Query { ${query} }`);

describe('the contract comparison', () => {
  it('reads the coordinates findBreakingChanges reports as removed', () => {
    const theirs = buildSchema('enum Plan { PLUS PRO } type Extra { a: Int } type Query { w(id: ID, first: Int): Plan x: Extra }');
    const mine = buildSchema('enum Plan { PLUS } type Query { w(id: ID): Plan }');
    const coordinates = findBreakingChanges(theirs, mine).map((change) => removedCoordinate(change.description));
    expect(coordinates.sort()).toEqual(['Extra', 'Plan.PRO', 'Query.w(first:)', 'Query.x']);
  });

  it('notices a missing field, argument, type and enum value', () => {
    const theirs = buildSchema('enum Plan { PLUS PRO ENTERPRISE } type Extra { a: Int } type Query { workspace(id: ID!, first: Int = 50): Plan q: Extra }');
    const mine = buildSchema('enum Plan { PLUS PRO } type Query { workspace(id: ID!): Plan }');
    expect(compareWithContract(theirs, mine).missing).toEqual(['Extra', 'Plan.ENTERPRISE', 'Query.q', 'Query.workspace(first:)']);
  });

  it('notices a changed nullability, argument type and default value', () => {
    const { mismatches } = compareWithContract(sdl('w(id: ID!, first: Int = 50, tier: Plan = PRO): Plan'), sdl('w(id: ID, first: Int = 20, tier: Plan! = PRO): Plan!'));
    expect(mismatches).toEqual([
      'Query.w type: contract Plan, ours Plan!',
      'Query.w(id:) type: contract ID!, ours ID',
      'Query.w(first:) default: contract 50, ours 20',
      'Query.w(tier:) type: contract Plan, ours Plan!',
    ]);
  });

  it('notices an enum that grew values and a type of another kind', () => {
    const { mismatches } = compareWithContract(sdl('p: Plan', 'type K { a: Int }'), buildSchema('enum Plan { PLUS PRO ENTERPRISE FREE } input K { a: Int } type Query { p: Plan }'));
    expect(mismatches).toEqual(['Plan values: ours adds FREE', 'K kind: contract object, ours input']);
  });

  it('passes a schema that lacks only pending parts, and fails one that lacks more', () => {
    const theirs = buildSchema('type Extra { a: Int } type Query { w: Int x: Extra y: Int }');
    const mine = buildSchema('type Query { w: Int y: Int }');
    expect(verdictPasses(judgeAgainstContract(theirs, mine, ['Extra', 'Query.x']))).toBe(true);
    const verdict = judgeAgainstContract(theirs, mine, ['Extra']);
    expect(verdict.missingButNotPending).toEqual(['Query.x']);
    expect(verdict.breakingChanges).toEqual(['FIELD_REMOVED: Query.x was removed.']);
    expect(verdictPasses(verdict)).toBe(false);
  });

  it('fails when a pending part has landed, so the list only shrinks', () => {
    const schema = buildSchema('type Query { w: Int x: Int }');
    const verdict = judgeAgainstContract(schema, schema, ['Query.x']);
    expect(verdict.pendingButAlreadyBuilt).toEqual(['Query.x']);
    expect(verdictPasses(verdict)).toBe(false);
  });

  it('reads the pending list one coordinate a line, without comments or blank lines', () => {
    expect(parsePendingList('# heading\nQuery.x\n\n  Plan.PRO  # issue 1\n')).toEqual(['Query.x', 'Plan.PRO']);
  });
});

describe('npm run check:contract', () => {
  beforeAll(() => buildOnce());
  const dir = mkdtempSync(join(tmpdir(), 'byok-contract-'));

  it('fails loudly, naming the path, when there is no contract to read', async () => {
    const missing = join(dir, 'nowhere.graphql');
    const result = await runCompiled('src/cli/check-contract.js', ['--contract', missing], {});
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`contract check FAILED: no contract at ${missing}`);
  });

  it('fails against a contract the schema fully meets while coordinates are still listed as pending', async () => {
    const ownSchema = join(dir, 'own.graphql');
    writeFileSync(ownSchema, readFileSync(resolve(__dirname, '../schema/schema.graphql')));
    const pending = parsePendingList(readFileSync(resolve(__dirname, '../schema/contract-pending.txt'), 'utf8'));
    const result = await runCompiled('src/cli/check-contract.js', ['--contract', ownSchema], {});
    if (pending.length === 0) {
      expect(result.code).toBe(0);
    } else {
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain('pendingButAlreadyBuilt');
      expect(result.stderr).toContain(pending[0]);
    }
  });
});
