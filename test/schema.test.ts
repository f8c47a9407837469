import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { buildAppSchema, printAppSchema } from '../src/graphql/schema';

const COMMITTED_SDL = resolve(__dirname, '../schema/schema.graphql');

/** The first line where two texts differ, to point at the drift without printing both files. */
function firstDifference(expected: string, actual: string): string {
  const a = expected.split('\n');
  const b = actual.split('\n');
  const line = a.findIndex((text, index) => text !== b[index]);
  const at = line === -1 ? a.length : line;
  return `first difference at line ${at + 1}:\n  committed: ${JSON.stringify(a[at] ?? '<end of file>')}\n  from code: ${JSON.stringify(b[at] ?? '<end of file>')}`;
}

// The comparison with the team's API contract, which lives outside the repository, is
// `npm run check:contract` (test/contract-check.test.ts tests the check itself).
describe('GraphQL schema', () => {
  it('schema/schema.graphql is the SDL the code emits (run `npm run schema` when this fails)', async () => {
    const emitted = printAppSchema(await buildAppSchema());
    const committed = readFileSync(COMMITTED_SDL, 'utf8');
    const drift =
      emitted === committed
        ? null
        : `schema/schema.graphql is out of date with the code: run \`npm run schema\` and commit the result.\n${firstDifference(committed, emitted)}`;
    expect(drift).toBeNull();
  });
});
