import { createLogger } from '../src/logging/logger';
import { canaryKey } from './support/leak-search';
import { LogCapture } from './support/log-capture';

/**
 * The logger is the last line of defence: the code logs ids and outcomes, but whatever object
 * reaches it with a credential-shaped field must come out censored, at every level.
 */

const SECRET = canaryKey();

/** Each shape a credential could reach the logger in, with the field that carries it. */
const CARRIERS: Array<[string, Record<string, unknown>]> = [
  ['an Authorization header', { req: { headers: { authorization: `Bearer ${SECRET}` } } }],
  ['a bare authorization field', { authorization: `Bearer ${SECRET}` }],
  ['a key argument', { key: SECRET }],
  ['a nested key argument', { args: { key: SECRET } }],
  ['GraphQL variables', { variables: { workspaceId: 'w', key: SECRET } }],
  ['nested GraphQL variables', { request: { variables: { key: SECRET } } }],
  ['a token', { token: SECRET }],
  ['a nested token', { partner: { token: SECRET } }],
  ['the configuration', { config: { secretsPhrase: SECRET, secretsPhrasePrevious: SECRET, jwtSecret: SECRET, serviceToken: SECRET, platformOpenrouterKey: SECRET } }],
  ['database and Redis URLs', { config: { databaseUrl: `mysql://app:${SECRET}@db:3306/byok`, redisUrl: `redis://:${SECRET}@cache:6379` } }],
  ['a configuration field at the top', { jwtSecret: SECRET }],
];

describe('log redaction', () => {
  it.each(CARRIERS)('censors %s', (_shape, carrier) => {
    const capture = new LogCapture();
    const log = createLogger('trace', capture);
    log.debug(carrier, 'something happened');
    log.child({ requestId: 'r-1' }).error(carrier, 'something failed');
    expect(capture.lines).toHaveLength(2);
    expect(capture.text).not.toContain(SECRET);
    expect(capture.text).toContain('[redacted]');
  });

  it('keeps the ids and outcomes that make a log line useful', () => {
    const capture = new LogCapture();
    createLogger('info', capture).info({ workspaceId: 'ws-1', requestId: 'r-1', status: 200, key: SECRET }, 'request');
    const line = JSON.parse(capture.lines[0]) as Record<string, unknown>;
    expect(line).toMatchObject({ workspaceId: 'ws-1', requestId: 'r-1', status: 200, key: '[redacted]', msg: 'request' });
  });
});
