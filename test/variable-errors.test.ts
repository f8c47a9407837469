import { startTestApp, TEST_SERVICE_TOKEN, TestApp } from './support/test-app';

/**
 * SPEC.md "Hostile input": an error message never repeats a submitted variable's value, whatever
 * its shape; it names the variable and the expected type.
 */
const RECORD = 'mutation Record($input: RecordInferenceCallInput!) { recordInferenceCall(input: $input) { id } }';
const KEY = 'sk-or-v1-0123456789abcdef0123456789abcdef';
const MARK = 'Qv7echo';

const VALID_INPUT = {
  workspaceId: 'w',
  requestId: 'r',
  path: 'AGENT_RUN',
  keySource: 'PLATFORM',
  tier: 'BALANCED',
  model: 'm',
  inputTokens: 1,
  outputTokens: 1,
  rawCostUsd: '0',
};

const CASES: Array<[string, unknown, string]> = [
  [
    'a string for an input object',
    `${MARK}${KEY}`,
    'Variable "$input" got an invalid value; expected "RecordInferenceCallInput!". Expected type "RecordInferenceCallInput" to be an object.',
  ],
  [
    'a list of keys',
    [KEY, `${MARK}1`, `${MARK}2`],
    'Variable "$input" got an invalid value; expected "RecordInferenceCallInput!". Expected type "RecordInferenceCallInput" to be an object.',
  ],
  ['a key where a number goes', { ...VALID_INPUT, inputTokens: `${MARK}${KEY}` }, 'Variable "$input" got an invalid value; expected "RecordInferenceCallInput!".'],
  ['an object where a string goes', { ...VALID_INPUT, model: { [MARK]: KEY } }, 'Variable "$input" got an invalid value; expected "RecordInferenceCallInput!".'],
  [
    'a missing field',
    { ...VALID_INPUT, model: undefined, [MARK]: undefined },
    'Variable "$input" got an invalid value; expected "RecordInferenceCallInput!". Field "model" of required type "String!" was not provided.',
  ],
  [
    'an unknown field whose name forges a detail',
    { ...VALID_INPUT, [`${MARK}" of required type "X" was not provided.`]: KEY },
    'Variable "$input" got an invalid value; expected "RecordInferenceCallInput!". It has a field that type "RecordInferenceCallInput" does not define.',
  ],
  ['a wrong enum value', { ...VALID_INPUT, tier: `${MARK}${KEY}` }, 'Variable "$input" got an invalid value; expected "RecordInferenceCallInput!".'],
];

describe.each([
  ['development', 'development' as const],
  ['production', 'production' as const],
])('variable errors (%s)', (_name, nodeEnv) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ overrides: { nodeEnv } });
  });
  afterAll(() => t.close());

  it.each(CASES)('for %s, name the variable and its type and quote nothing', async (_case, input, expected) => {
    const answer = await t.gql(RECORD, { input }, TEST_SERVICE_TOKEN);
    expect(answer.status).toBeLessThan(500);
    expect(answer.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(answer.errors?.[0]?.message).toBe(expected);
    expect(answer.text).not.toContain(MARK);
    expect(answer.text).not.toContain(KEY);
    expect(t.logs.text).not.toContain(KEY);
  });

  it('answers a value built to make pattern matching over the message slow (1.5 MB of `; Field "`) like any other', async () => {
    const input = { ...VALID_INPUT, ['; Field "a'.repeat(150_000)]: 1 };
    const answer = await t.gql(RECORD, { input }, TEST_SERVICE_TOKEN);
    expect(answer.errors?.[0]?.message).toBe('Variable "$input" got an invalid value; expected "RecordInferenceCallInput!". It has a field that type "RecordInferenceCallInput" does not define.');
  });

  it('names a missing or null required variable without a value to quote', async () => {
    const missing = await t.gql(RECORD, {}, TEST_SERVICE_TOKEN);
    expect(missing.errors?.[0]?.message).toBe('Variable "$input" of required type "RecordInferenceCallInput!" was not provided.');
    const nullValue = await t.gql(RECORD, { input: null }, TEST_SERVICE_TOKEN);
    expect(nullValue.errors?.[0]?.message).toBe('Variable "$input" of non-null type "RecordInferenceCallInput!" must not be null.');
  });
});
