import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Plan } from '../src/modules/workspace/workspace.enums';
import { MemberRole } from '../src/auth/member-role';
import { ADD_MEMBER, AUDIT_EVENTS, CHANGE_PLAN, KEY_STATUS, REPLACE_KEY, SAVE_KEY, VIEWER, WORKSPACE } from './support/documents';
import { expectData, expectErrorCode } from './support/expectations';
import { SeededWorkspace, seedWorkspace } from './support/fixtures';
import { canaryKey, dumpAllTables, findLeak, leakFormsOf, searchableText } from './support/leak-search';
import { GraphQLResult, startTestApp, TestApp } from './support/test-app';

/**
 * SPEC.md "The key: rules" 2: nobody can read the key back through any API, log line or error
 * message, and it is stored only encrypted. Canary keys go in through the API; every response,
 * every log line and every row of every table is then searched for them.
 */

describe('canary keys', () => {
  let t: TestApp;
  let ws: SeededWorkspace;
  const responses: string[] = [];
  const saved = canaryKey();
  const replacement = canaryKey();
  const refused = canaryKey();
  const canaries = [saved, replacement, refused];

  /** Every request goes through here, so every response can be searched afterwards. */
  async function gql(query: string, variables: Record<string, unknown>, token?: string): Promise<GraphQLResult> {
    const result = await t.gql(query, variables, token);
    responses.push(result.text);
    return result;
  }

  const expectNoLeak = (haystack: string, where: string) => {
    for (const canary of canaries) expect({ where, found: findLeak(haystack, canary) }).toEqual({ where, found: undefined });
  };

  beforeAll(async () => {
    t = await startTestApp();
    ws = await seedWorkspace(t);
    const pro = await seedWorkspace(t, Plan.PRO, 'Pro');

    expectData(await gql(SAVE_KEY, { w: ws.id, k: saved }, ws.tokens.owner));
    for (const token of [ws.tokens.owner, ws.tokens.member, ws.adminToken]) {
      expectData(await gql(KEY_STATUS, { w: ws.id }, token));
      expectData(await gql(WORKSPACE, { id: ws.id }, token));
    }
    expectData(await gql(REPLACE_KEY, { w: ws.id, k: replacement }, ws.tokens.billing));
    expectData(await gql(AUDIT_EVENTS, { w: ws.id }, ws.tokens.owner));
    expectData(await gql(VIEWER, {}, ws.tokens.owner));

    // Refusals carry the key in the request too: none of them may echo or keep it.
    expectErrorCode(await gql(SAVE_KEY, { w: ws.id, k: refused }, ws.tokens.owner), 'KEY_ALREADY_CONFIGURED');
    expectErrorCode(await gql(REPLACE_KEY, { w: ws.id, k: refused }, ws.tokens.member), 'FORBIDDEN');
    expectErrorCode(await gql(REPLACE_KEY, { w: ws.id, k: refused }, ws.tokens.outsider), 'FORBIDDEN');
    expectErrorCode(await gql(REPLACE_KEY, { w: ws.id, k: refused }), 'UNAUTHENTICATED');
    expectErrorCode(await gql(SAVE_KEY, { w: pro.id, k: refused }, pro.tokens.owner), 'ENTERPRISE_REQUIRED');
    expectErrorCode(await gql(REPLACE_KEY, { w: '00000000-0000-4000-8000-000000000000', k: refused }, ws.tokens.owner), 'FORBIDDEN');
    // graphql-js repeats invalid values in its messages: a key sent where an Int belongs, as a
    // variable and as a literal.
    const asVariable = await gql('query($w: ID!, $first: Int) { auditEvents(workspaceId: $w, first: $first) { nodes { id } } }', { w: ws.id, first: refused }, ws.tokens.owner);
    expectErrorCode(asVariable, 'BAD_USER_INPUT');
    const asLiteral = await gql(`query($w: ID!) { auditEvents(workspaceId: $w, first: "${refused}") { nodes { id } } }`, { w: ws.id }, ws.tokens.owner);
    expectErrorCode(asLiteral, 'GRAPHQL_VALIDATION_FAILED');
    // And outside GraphQL: a body that is not JSON, and a GET carrying the key in its query string.
    const notJson = await t.http().post('/graphql').set('content-type', 'application/json').send(`{"query":"mutation { saveKey(key: \\"${refused}\\"`);
    responses.push(notJson.text);
    expect(notJson.status).toBe(400);
    const viaGet = await t
      .http()
      .get('/graphql')
      .query({ query: SAVE_KEY, variables: JSON.stringify({ w: ws.id, k: refused }) })
      .set('authorization', `Bearer ${ws.tokens.owner}`)
      .set('apollo-require-preflight', 'true');
    responses.push(viaGet.text);
    expect(viaGet.status).toBeGreaterThanOrEqual(400);

    // A plan change reads and deletes the blob: its logs are searched too.
    const other = await seedWorkspace(t, Plan.ENTERPRISE, 'Downgraded');
    expectData(await gql(ADD_MEMBER, { w: other.id, u: 'late-joiner', r: MemberRole.BILLING_MANAGER }, other.adminToken));
    expectData(await gql(SAVE_KEY, { w: other.id, k: saved }, other.tokens.owner));
    expectData(await gql(CHANGE_PLAN, { w: other.id, plan: Plan.PRO }, other.adminToken));
  });
  afterAll(() => t.close());

  it('finds a planted canary in every form it searches for (the search itself works)', () => {
    const blob = Buffer.concat([Buffer.from([1, 2, 3, 4, 5]), Buffer.from(saved), Buffer.from([9])]);

    expect(findLeak(`x${saved}y`, saved)).toBeDefined();
    expect(findLeak(saved.slice(10, 30), saved)).toBeDefined();
    expect(findLeak(searchableText(blob), saved)).toBeDefined();
    for (const offset of [0, 1, 2]) {
      const encoded = Buffer.concat([Buffer.alloc(offset, 7), Buffer.from(saved)]).toString('base64');
      expect(findLeak(searchableText({ column: encoded }), saved)).toBeDefined();
    }
    expect(findLeak(searchableText(Buffer.from(saved).toString('hex')), saved)).toBeDefined();
    // The masked hint is meant to be visible; it must not count as a leak.
    expect(findLeak(`${saved.slice(0, 8)}…${saved.slice(-4)}`, saved)).toBeUndefined();
    expect(leakFormsOf(saved).length).toBeGreaterThan(20);
  });

  it('never appears in any response', () => {
    expect(responses.length).toBeGreaterThan(20);
    // The hint did come back, so the responses searched are the ones that talked about the key.
    expect(responses.join('\n')).toContain(`${replacement.slice(0, 8)}…${replacement.slice(-4)}`);
    responses.forEach((text, i) => expectNoLeak(text, `response ${i}`));
  });

  it('never appears in any log line, even at debug level', () => {
    expect(t.logs.lines.length).toBeGreaterThan(20);
    expect(t.logs.text).toContain('"path":"/graphql"');
    t.logs.lines.forEach((line, i) => expectNoLeak(line, `log line ${i}`));
  });

  it('is in no table of the database (nor, on SQLite, its files) in plaintext, hex or base64', async () => {
    const dump = await dumpAllTables(t.app.dataSource);

    // The rows that concern the key are in the dump: the encrypted blob and the audit trail.
    expect(dump.tenant_secret).toEqual([expect.objectContaining({ workspace_id: ws.id, openrouter_masked_hint: `${replacement.slice(0, 8)}…${replacement.slice(-4)}` })]);
    expect(Buffer.isBuffer((dump.tenant_secret[0] as { ciphertext: unknown }).ciphertext)).toBe(true);
    expect(dump.audit_event.length).toBeGreaterThanOrEqual(4);
    for (const [table, rows] of Object.entries(dump)) {
      rows.forEach((row, i) => expectNoLeak(searchableText(row), `${table} row ${i}`));
    }
    // SQLite's own files too: free pages and the write-ahead log keep what rows no longer show.
    if (t.db.kind === 'sqlite') {
      const files = readdirSync(t.db.dataDir).filter((name) => name.startsWith('service.sqlite'));
      expect(files).toContain('service.sqlite');
      for (const name of files) expectNoLeak(searchableText(readFileSync(join(t.db.dataDir, name))), name);
    }
  });

  describe('an invalid key', () => {
    const invalid = (body: string) => [
      `sk-or-v1-${body}${'x'.repeat(300)}`,
      `sk-or-v1-${body.slice(0, 20)} ${body.slice(20)}`,
      `sk-or-v1-${body}é`,
      `sk-or-v1-${body}\u0000`,
      `\u0455k-or-v1-${body}`,
      `pk-or-v1-${body}`,
    ];

    it('never appears in any log line or response, whichever rule refused it', async () => {
      const body = canaryKey().slice(9);
      const attempts = invalid(body);
      const logLinesBefore = t.logs.lines.length;

      for (const key of attempts) {
        const savedAttempt = await t.gql(SAVE_KEY, { w: ws.id, k: key }, ws.tokens.owner);
        const replacedAttempt = await t.gql(REPLACE_KEY, { w: ws.id, k: key }, ws.tokens.owner);
        for (const attempt of [savedAttempt, replacedAttempt]) {
          expectErrorCode(attempt, 'BAD_USER_INPUT');
          expect(findLeak(attempt.text, `sk-or-v1-${body}`)).toBeUndefined();
        }
      }

      expect(t.logs.lines.length).toBeGreaterThan(logLinesBefore);
      expect(findLeak(t.logs.text, `sk-or-v1-${body}`)).toBeUndefined();
      expect(findLeak(searchableText(await dumpAllTables(t.app.dataSource)), `sk-or-v1-${body}`)).toBeUndefined();
    });
  });
});
