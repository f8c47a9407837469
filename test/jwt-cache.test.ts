import { JwtCodec } from '../src/auth/jwt';

describe('JwtCodec: remembered verifications', () => {
  const codec = new JwtCodec('a-test-secret-that-is-at-least-32-characters-long');

  it('refuses a remembered token once it has expired', async () => {
    const token = await codec.sign({ userId: 'alice', platformAdmin: false }, Math.floor(Date.now() / 1000) + 1);
    expect(await codec.verify(token)).toEqual({ userId: 'alice', platformAdmin: false });
    expect(await codec.verify(token)).toEqual({ userId: 'alice', platformAdmin: false });
    await new Promise((resolve) => setTimeout(resolve, 1100 - (Date.now() % 1000) + 1000));
    expect(await codec.verify(token)).toBeUndefined();
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
