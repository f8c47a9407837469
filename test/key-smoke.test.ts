import { startTestApp, TestApp } from './support/test-app';
import { KEY_STATUS_FIELDS, sampleKey, seedWorkspace } from './support/fixtures';

describe('key smoke', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('saves a key and shows only its masked hint', async () => {
    const ws = await seedWorkspace(t);
    const saved = await t.gql(`mutation($w: ID!, $k: String!) { saveKey(workspaceId: $w, key: $k) { ${KEY_STATUS_FIELDS} } }`, { w: ws.id, k: sampleKey() }, ws.tokens.owner);
    expect(saved.errors).toBeUndefined();
    expect(saved.data?.saveKey).toMatchObject({ configured: true, maskedHint: 'sk-or-v1…defa', status: 'UNVERIFIED' });
  });
});
