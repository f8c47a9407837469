import { JwtCodec } from '../auth/jwt';
import { configOrExit, fail, flag, option } from './cli-support';

/** npm run token -- --sub alice [--admin] [--expires 12h]: a development JWT signed with JWT_SECRET. */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const sub = option(args, 'sub') ?? fail('usage: npm run token -- --sub <user id> [--admin] [--expires 12h]');
  const { config } = configOrExit();
  const token = await new JwtCodec(config.jwtSecret, { issuer: config.jwtIssuer, audience: config.jwtAudience }).sign({ userId: sub, platformAdmin: flag(args, 'admin') }, option(args, 'expires') ?? '12h');
  process.stdout.write(`${token}\n`);
}

void main();
