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

/** A JWT with exactly the given claims (no iat or exp added), signed with HS256 and JWT_SECRET. */
function signedExactly(claims: Record<string, unknown>) {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(SECRET);
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
    ['a token without exp', () => signedExactly({ sub: ws.userIds.owner, iat: nowSeconds() })],
    ['a token without exp or iat', () => signedExactly({ sub: ws.userIds.owner })],
    ['a token with exp that is no number', () => signedExactly({ sub: ws.userIds.owner, exp: String(nowSeconds() + 3600) })],
    ['a token issued 61 seconds from now', () => signedExactly({ sub: ws.userIds.owner, iat: nowSeconds() + 61, exp: nowSeconds() + 3600 })],
    ['a token issued a day from now', () => signedExactly({ sub: ws.userIds.owner, iat: nowSeconds() + 86_400, exp: nowSeconds() + 2 * 86_400 })],
    ['a token not valid before 61 seconds from now', () => signed({ sub: ws.userIds.owner, nbf: nowSeconds() + 61 })],
    ['a sub with a lone high surrogate', () => signed({ sub: `user-\uD800-x` })],
    ['a sub with a lone low surrogate', () => signed({ sub: `\uDC00user` })],
    ['a sub ending in a high surrogate', () => signed({ sub: `user\uDBFF` })],
    ['a sub with a NUL', () => signed({ sub: `${ws.userIds.owner}\u0000` })],
    ['a sub with a newline', () => signed({ sub: `${ws.userIds.owner}\n{"level":60}` })],
    ['a sub with DEL', () => signed({ sub: `user\u007F` })],
    ['a sub with a C1 control character', () => signed({ sub: `user\u0085` })],
    ['a sub of 192 characters outside the BMP', () => signed({ sub: '\u{1F600}'.repeat(192) })],
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

  it.each([
    ['issued 30 seconds from now (clock skew)', () => signedExactly({ sub: 'skewed-user', iat: nowSeconds() + 30, exp: nowSeconds() + 3600 })],
    ['not valid before 30 seconds from now (clock skew)', () => signed({ sub: 'skewed-user', nbf: nowSeconds() + 30 })],
  ])('accepts a token %s', async (_name, make) => {
    expect(expectData(await t.gql(VIEWER, {}, await make())).viewer.userId).toBe('skewed-user');
  });

  it('accepts a sub of 191 characters outside the BMP (382 UTF-16 code units)', async () => {
    const sub = '\u{1F600}'.repeat(191);
    expect(expectData(await t.gql(VIEWER, {}, await signed({ sub }))).viewer.userId).toBe(sub);
  });

  it('treats no Authorization header as anonymous: UNAUTHENTICATED on guarded queries, a viewer with no user', async () => {
    expectErrorCode(await t.gql(KEY_STATUS, { w: ws.id }), 'UNAUTHENTICATED');
    expect(expectData(await t.gql(VIEWER, {})).viewer).toEqual({ userId: null, platformAdmin: false, memberships: [] });
  });
});

describe('JWT_ISSUER and JWT_AUDIENCE', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ overrides: { jwtIssuer: 'https://auth.example.com', jwtAudience: 'byok-billing' } });
  });
  afterAll(() => t.close());

  it('accept a token naming both', async () => {
    expect(expectData(await t.gql(VIEWER, {}, await signed({ sub: 'u1', iss: 'https://auth.example.com', aud: ['other', 'byok-billing'] }))).viewer.userId).toBe('u1');
    expect(expectData(await t.gql(VIEWER, {}, await t.token('u2'))).viewer.userId).toBe('u2');
  });

  it.each([
    ['no iss', { aud: 'byok-billing' }],
    ['another iss', { iss: 'https://evil.example.com', aud: 'byok-billing' }],
    ['no aud', { iss: 'https://auth.example.com' }],
    ['another aud', { iss: 'https://auth.example.com', aud: 'another-service' }],
  ])('refuse a token with %s', async (_name, claims) => {
    expectErrorCode(await t.gql(VIEWER, {}, await signed({ sub: 'u3', ...claims })), 'UNAUTHENTICATED');
  });
});
