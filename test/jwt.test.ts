import { generateKeyPair, SignJWT } from 'jose';
import { KEY_STATUS, VIEWER, WORKSPACE } from './support/documents';
import { expectData, expectErrorCode } from './support/expectations';
import { SeededWorkspace, seedWorkspace } from './support/fixtures';
import { startTestApp, TEST_JWT_SECRET, TestApp } from './support/test-app';

/** SPEC.md "Identity": users are HS256 JWTs signed with JWT_SECRET, `sub` required, `exp` honoured. */

const SECRET = new TextEncoder().encode(TEST_JWT_SECRET);
const nowSeconds = () => Math.floor(Date.now() / 1000);

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** A JWT with the given claims signed correctly (HS256, JWT_SECRET) unless the options say otherwise. */
function signed(claims: Record<string, unknown>, header: { alg: string } = { alg: 'HS256' }, key: Parameters<SignJWT['sign']>[0] = SECRET) {
  return new SignJWT(claims).setProtectedHeader(header).setIssuedAt().setExpirationTime('1h').sign(key);
}

describe('JWT authentication', () => {
  let t: TestApp;
  let ws: SeededWorkspace;
  beforeAll(async () => {
    t = await startTestApp();
    ws = await seedWorkspace(t);
  });
  afterAll(() => t.close());

  /** Tokens that must never authenticate, built lazily because some need async signing. */
  const BAD_TOKENS: Array<[string, () => Promise<string>]> = [
    ['an expired token', async () => t.token(ws.userIds.owner, { expiresIn: nowSeconds() - 60 })],
    ['a token signed with another secret', () => signed({ sub: ws.userIds.owner }, { alg: 'HS256' }, new TextEncoder().encode('not-the-jwt-secret-but-32-characters-long!'))],
    [
      'an `alg: none` token',
      async () => `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ sub: ws.userIds.owner, platform_admin: true, exp: nowSeconds() + 3600 })}.`,
    ],
    ['an HS512 token signed with the right secret', () => signed({ sub: ws.userIds.owner }, { alg: 'HS512' })],
    ['an HS384 token signed with the right secret', () => signed({ sub: ws.userIds.owner }, { alg: 'HS384' })],
    [
      'an RS256 token',
      async () => {
        const { privateKey } = await generateKeyPair('RS256');
        return signed({ sub: ws.userIds.owner }, { alg: 'RS256' }, privateKey);
      },
    ],
    ['a token without sub', () => signed({ platform_admin: true })],
    ['a token with an empty sub', () => signed({ sub: '' })],
    ['a token with a sub longer than any user id (192 characters)', () => signed({ sub: 'u'.repeat(192) })],
    ['a token not valid before an hour from now', () => signed({ sub: ws.userIds.owner, nbf: nowSeconds() + 3600 })],
    [
      'a valid token whose payload was edited to claim platform_admin',
      async () => {
        const [header, , signature] = (await t.token(ws.userIds.member)).split('.');
        return `${header}.${base64url({ sub: ws.userIds.member, platform_admin: true, exp: nowSeconds() + 3600 })}.${signature}`;
      },
    ],
    ['garbage', async () => 'garbage'],
    ['three dots of garbage', async () => 'a.b.c'],
    ['a partner-token lookalike that was never issued', async () => 'mpt_0123456789abcdef'],
  ];

  it.each(BAD_TOKENS)('answers %s with UNAUTHENTICATED on guarded queries', async (_name, make) => {
    const token = await make();

    for (const result of [await t.gql(KEY_STATUS, { w: ws.id }, token), await t.gql(VIEWER, {}, token)]) {
      expectErrorCode(result, 'UNAUTHENTICATED');
      expect(result.data ?? null).toBeNull();
    }
  });

  it.each([
    ['a scheme other than Bearer', (token: string) => `Basic ${token}`],
    ['Bearer with no token', () => 'Bearer '],
    ['two tokens', (token: string) => `Bearer ${token} ${token}`],
  ])('answers an Authorization header with %s with UNAUTHENTICATED', async (_name, header) => {
    const response = await t
      .http()
      .post('/graphql')
      .set('content-type', 'application/json')
      .set('authorization', header(await t.token(ws.userIds.owner)))
      .send({ query: KEY_STATUS, variables: { w: ws.id } });

    expect(response.body.errors.map((error: { extensions: { code: string } }) => error.extensions.code)).toEqual(['UNAUTHENTICATED']);
  });

  it('accepts a valid token and knows who it is', async () => {
    const token = await t.token(ws.userIds.billing);

    const viewer = expectData(await t.gql(VIEWER, {}, token)).viewer;
    const status = expectData(await t.gql(KEY_STATUS, { w: ws.id }, token)).aiInferenceKey;

    expect(viewer).toEqual({ userId: ws.userIds.billing, platformAdmin: false, memberships: [{ workspaceId: ws.id, role: 'BILLING_MANAGER', canManageBilling: true }] });
    expect(status).toMatchObject({ workspaceId: ws.id, canManage: true });
  });

  it('accepts a token signed by hand with HS256 and the secret, whatever its other claims', async () => {
    const token = await signed({ sub: ws.userIds.member, aud: 'someone', scope: 'anything' });

    expect(expectData(await t.gql(VIEWER, {}, token)).viewer.userId).toBe(ws.userIds.member);
  });

  it('honours platform_admin: true, which reads a workspace without being a member', async () => {
    const token = await t.token('someone-from-operations', { admin: true });

    expect(expectData(await t.gql(VIEWER, {}, token)).viewer).toMatchObject({ userId: 'someone-from-operations', platformAdmin: true, memberships: [] });
    expect(expectData(await t.gql(WORKSPACE, { id: ws.id }, token)).workspace.id).toBe(ws.id);
  });

  it.each([
    ['the string "true"', 'true'],
    ['the number 1', 1],
  ])('does not take platform_admin as %s for true', async (_name, claim) => {
    const token = await signed({ sub: 'not-really-an-admin', platform_admin: claim });

    expect(expectData(await t.gql(VIEWER, {}, token)).viewer.platformAdmin).toBe(false);
    expectErrorCode(await t.gql(WORKSPACE, { id: ws.id }, token), 'FORBIDDEN');
  });

  it('treats no Authorization header as anonymous: UNAUTHENTICATED on guarded queries, a viewer with no user', async () => {
    expectErrorCode(await t.gql(KEY_STATUS, { w: ws.id }), 'UNAUTHENTICATED');
    expect(expectData(await t.gql(VIEWER, {})).viewer).toEqual({ userId: null, platformAdmin: false, memberships: [] });
  });
});
