import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { IDE_CONTENT_SECURITY_POLICY } from '../src/http/graphql-ide.page';
import { Browser, launchBrowser, PageWithConsole } from './support/browser';
import { startTestApp, TestApp } from './support/test-app';

/**
 * The GraphQL IDE that GET /graphql shows a browser, in a real Chromium: nothing loaded from
 * another origin, a token pasted and kept in sessionStorage, queries and mutations run, and in
 * production the schema docs only once a platform admin's token is set.
 *
 * `UPDATE_SCREENSHOTS=1 npx jest test/graphql-ide.test.ts` also refreshes the PNGs in docs/.
 */

const SCREENSHOTS_DIR = join(__dirname, '..', 'docs');
const updateScreenshots = process.env.UPDATE_SCREENSHOTS === '1';
/** Evaluated in the page: what the IDE keeps of the pasted token. */
const STORED_TOKEN = "sessionStorage.getItem('graphql-ide.authorization')";
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * Puts the operation `name` in GraphiQL's query editor (CodeMirror 5) as if typed and runs it with
 * the play button, once GraphiQL has taken the new text in (its tab shows the operation's name).
 */
async function runInIde(page: Page, name: string, text: string): Promise<void> {
  await page.locator('.graphiql-query-editor .CodeMirror').evaluate((editor: { CodeMirror: { setValue(value: string): void } }, source: string) => editor.CodeMirror.setValue(source), text);
  await page.locator(`.graphiql-tab-button:text-is("${name}")`).waitFor();
  await page.click('.graphiql-execute-button');
}

/** Waits until the result pane shows `expected`, and returns what it shows. */
async function resultShowing(page: Page, expected: string): Promise<string> {
  const response = page.locator('.graphiql-response', { hasText: expected });
  await response.waitFor({ timeout: 20_000 });
  return response.innerText();
}

async function openDocs(page: Page): Promise<string> {
  await page.click('button[aria-label="Show Documentation Explorer"]');
  await page.waitForSelector('.graphiql-doc-explorer');
  return page.locator('.graphiql-doc-explorer').innerText();
}

async function useToken(page: Page, token: string): Promise<void> {
  await page.fill('#auth-token', token);
  await page.click('#auth-form button[type=submit]');
  await page.locator('#auth-state:text-is("Token set for this tab")').waitFor();
}

/** Only the service's own origin, and no CSP violation or uncaught error on the page. */
function expectSameOriginOnly(browser: Browser, opened: PageWithConsole, origin: string): void {
  expect(browser.requests.length).toBeGreaterThan(5);
  expect(browser.requests.filter((url) => new URL(url).origin !== origin)).toEqual([]);
  // A refused GraphQL request (introspection in production) is logged as a failed resource: not a fault of the page.
  expect(opened.errors.filter((message) => !/^Failed to load resource: the server responded with a status of/.test(message))).toEqual([]);
}

async function screenshot(page: Page, name: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'byok-ide-shot-'));
  try {
    const file = join(dir, name);
    await page.screenshot({ path: file });
    expect(readFileSync(file).subarray(0, 8)).toEqual(PNG_SIGNATURE);
    if (updateScreenshots) copyFileSync(file, join(SCREENSHOTS_DIR, name));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('GraphQL IDE at GET /graphql', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(() => browser.close());
  beforeEach(() => {
    browser.requests.length = 0;
  });

  describe('in development', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp();
    });
    afterAll(() => t.close());

    it('is served with a CSP of its own origin only, and links nothing elsewhere', async () => {
      const page = await t.http().get('/graphql').set('accept', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8');
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.headers['content-security-policy']).toBe(IDE_CONTENT_SECURITY_POLICY);
      expect(page.headers['content-security-policy']).toMatch(/^default-src 'self';/);
      expect(page.headers['content-security-policy']).not.toMatch(/https?:|\*|unsafe-inline|unsafe-eval|data:/);
      expect(page.text).not.toMatch(/https?:\/\/|\/\/[a-z]|<script>|style=/i);
      expect(page.text).toContain('<script src="graphql-ide/graphiql-');

      const script = page.text.match(/src="(graphql-ide\/graphiql-[0-9a-f]+\.js)"/)?.[1];
      const asset = await t.http().get(`/${script}`).set('accept-encoding', 'gzip');
      expect(asset.status).toBe(200);
      expect(asset.headers['content-type']).toBe('text/javascript; charset=utf-8');
      expect(asset.headers['content-encoding']).toBe('gzip');
      expect(asset.headers['cache-control']).toContain('immutable');
      expect((await t.http().get('/graphql-ide/graphiql-000000000000.js')).status).toBe(404);
    });

    it('is the answer to a browser only: GraphQL clients still get GraphQL', async () => {
      for (const accept of ['application/json', '*/*', 'application/graphql-response+json, text/html;q=0.5']) {
        const answer = await t.http().get('/graphql').query({ query: '{ viewer { platformAdmin } }' }).set('accept', accept).set('apollo-require-preflight', 'true');
        expect(answer.status).toBe(200);
        expect(answer.text).toContain('"platformAdmin":false');
      }
    });

    it('loads everything from its own origin, takes a pasted token into sessionStorage, and runs queries and mutations', async () => {
      const admin = await t.token('ide-admin', { admin: true });
      const opened = await browser.newPage();
      const { page } = opened;
      const graphqlRequests: Array<{ authorization?: string; body: string | null }> = [];
      page.on('request', (request) => {
        if (new URL(request.url()).pathname === '/graphql' && request.method() === 'POST') graphqlRequests.push({ authorization: request.headers().authorization, body: request.postData() });
      });
      await page.goto(`${t.url}/graphql`);
      await page.waitForSelector('.graphiql-container');
      expect(await page.locator('#auth-state').innerText()).toBe('No token: requests are anonymous');

      await useToken(page, admin);
      expect(await page.evaluate(STORED_TOKEN)).toBe(`Bearer ${admin}`);
      expect(await page.evaluate('Object.keys(localStorage)')).toEqual([]);

      await runInIde(page, 'AdminViewer', 'query AdminViewer { viewer { userId platformAdmin } }');
      const viewer = await resultShowing(page, '"platformAdmin": true');
      expect(viewer).toContain('"userId": "ide-admin"');
      const sent = graphqlRequests.filter((request) => request.body?.includes('viewer { userId platformAdmin }'));
      expect(sent.map((request) => request.authorization)).toEqual([`Bearer ${admin}`]);

      await runInIde(page, 'CreateFromIde', 'mutation CreateFromIde {\n  createWorkspace(name: "Made in the IDE", plan: ENTERPRISE) {\n    name\n    plan\n  }\n}\n');
      expect(await resultShowing(page, '"name": "Made in the IDE"')).toContain('"plan": "ENTERPRISE"');

      const docs = await openDocs(page);
      expect(docs).toContain('query: Query');
      expect(docs).toContain('mutation: Mutation');
      await screenshot(page, 'graphql-ide.png');
      expectSameOriginOnly(browser, opened, t.url);

      // "Forget token" drops it: the next query runs anonymously.
      await page.click('#auth-forget');
      expect(await page.evaluate(STORED_TOKEN)).toBeNull();
      await runInIde(page, 'AnonymousViewer', 'query AnonymousViewer { viewer { userId platformAdmin } }');
      expect(await resultShowing(page, '"platformAdmin": false')).toContain('"userId": null');
      await page.close();
    });
  });

  describe('in production', () => {
    let prod: TestApp;
    beforeAll(async () => {
      prod = await startTestApp({ overrides: { nodeEnv: 'production' } });
    });
    afterAll(() => prod.close());

    it('shows the schema docs only once a platform admin’s token is set', async () => {
      const opened = await browser.newPage();
      const { page } = opened;
      await page.goto(`${prod.url}/graphql`);
      await page.waitForSelector('.graphiql-container');
      const anonymous = await openDocs(page);
      expect(anonymous).toContain('Error fetching schema');
      expect(anonymous).not.toContain('query: Query');

      // A signed-in user who is not a platform admin: the schema is asked for again, and refused.
      const refused = page.waitForResponse((response) => new URL(response.url()).pathname === '/graphql' && response.request().postData()?.includes('__schema') === true);
      await useToken(page, await prod.token('plain-user'));
      expect(await (await refused).json()).toMatchObject({ errors: [{ extensions: { code: 'FORBIDDEN' } }] });
      expect(await page.locator('.graphiql-doc-explorer').innerText()).not.toContain('query: Query');

      await useToken(page, await prod.token('prod-admin', { admin: true }));
      await page.locator('.graphiql-doc-explorer', { hasText: 'query: Query' }).waitFor({ timeout: 20_000 });
      await runInIde(page, 'AdminViewer', 'query AdminViewer {\n  viewer {\n    userId\n    platformAdmin\n  }\n}\n');
      expect(await resultShowing(page, '"platformAdmin": true')).toContain('"userId": "prod-admin"');
      await screenshot(page, 'graphql-ide-production.png');
      expectSameOriginOnly(browser, opened, prod.url);
      await page.close();
    });
  });
});
