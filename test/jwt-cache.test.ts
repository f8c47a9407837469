import { JwtCodec } from '../src/auth/jwt';

describe('JwtCodec: remembered verifications', () => {
  const codec = new JwtCodec('a-test-secret-that-is-at-least-32-characters-long');

  it('refuses a remembered token once it has expired', async () => {
    const expiresAt = Math.floor(Date.now() / 1000) + 30;
    const token = await codec.sign({ userId: 'alice', platformAdmin: false }, expiresAt);
    const beforeExpiry = (expiresAt - 10) * 1000;
    expect(await codec.verify(token, beforeExpiry)).toEqual({ userId: 'alice', platformAdmin: false });
    expect(await codec.verify(token, beforeExpiry + 1)).toEqual({ userId: 'alice', platformAdmin: false });
    expect(await codec.verify(token, (expiresAt + 1) * 1000)).toBeUndefined();
  });

  it('remembers nothing about a token whose signature does not match', async () => {
    const token = await codec.sign({ userId: 'bob', platformAdmin: true });
    const [header, payload, signature] = token.split('.');
    const forged = `${header}.${payload}.${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
    expect(await codec.verify(forged)).toBeUndefined();
    expect(await codec.verify(token)).toEqual({ userId: 'bob', platformAdmin: true });
    expect(await codec.verify(forged)).toBeUndefined();
  });
});
