import { Browser, launchBrowser, serveStaticPage, StaticSite } from './support/browser';
import { sampleKey, SeededWorkspace, seedWorkspace } from './support/fixtures';
import { expectData } from './support/expectations';
import { SAVE_KEY } from './support/documents';
import { startTestApp, TEST_SERVICE_TOKEN, TestApp } from './support/test-app';

/**
 * CORS for browser frontends on other origins (CORS_ORIGINS): exact origins on /graphql, no
 * credentials mode, `Vary: Origin` on every answer, nothing for other origins or the gateway, and
 * Apollo's CSRF prevention still on. Over HTTP, then in a real Chromium from two other origins.
 */

const ALLOWED = 'https://app.example.com';
const OTHER = 'https://evil.example.net';
const VIEWER = '{ viewer { platformAdmin } }';
const CORS_HEADERS = ['access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-headers', 'access-control-allow-credentials', 'access-control-expose-headers', 'access-control-max-age'];

function corsHeadersOf(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => CORS_HEADERS.includes(name)));
}

/** A Settings → Billing page of a frontend: it asks for the key status with a member's token and shows the answer. */
const FRONTEND_PAGE = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Settings · Billing</title></head>
<body><pre id="answer">loading</pre>
<script>
  const params = new URLSearchParams(location.search);
  fetch(params.get('api') + '/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer ' + params.get('token') },
    body: JSON.stringify({ query: 'query($w: ID!) { aiInferenceKey(workspaceId: $w) { configured maskedHint } }', variables: { w: params.get('workspace') } }),
  })
    .then((response) => response.json())
    .then((body) => { document.getElementById('answer').textContent = 'answer: ' + JSON.stringify(body.data.aiInferenceKey); })
    .catch((error) => { document.getElementById('answer').textContent = 'blocked: ' + error.message; });
</script></body></html>`;

describe('CORS on /graphql', () => {
  describe('over HTTP, with CORS_ORIGINS listing one origin', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp({ overrides: { corsOrigins: [ALLOWED, 'http://localhost:5173'] } });
    });
    afterAll(() => t.close());

    it('answers a preflight from a listed origin with that origin, the methods and headers, and no credentials', async () => {
      const answer = await t.http().options('/graphql').set('origin', ALLOWED).set('access-control-request-method', 'POST').set('access-control-request-headers', 'authorization,content-type');
      expect(answer.status).toBe(204);
      expect(answer.text).toBe('');
      expect(answer.headers['access-control-allow-origin']).toBe(ALLOWED);
      expect(answer.headers['access-control-allow-methods']).toBe('GET, POST');
      expect(answer.headers['access-control-allow-headers']).toBe('authorization, content-type');
      expect(answer.headers['access-control-max-age']).toBe('600');
      expect(answer.headers['access-control-allow-credentials']).toBeUndefined();
      expect(answer.headers.vary).toBe('Origin');
    });

    it('answers a preflight from any other origin with no CORS header at all', async () => {
      for (const origin of [OTHER, 'https://app.example.com.evil.net', 'http://app.example.com', 'https://APP.example.com', 'null']) {
        const answer = await t.http().options('/graphql').set('origin', origin).set('access-control-request-method', 'POST').set('access-control-request-headers', 'authorization');
        expect(answer.status).toBe(204);
        expect(corsHeadersOf(answer.headers)).toEqual({});
        expect(answer.headers.vary).toBe('Origin');
      }
    });

    it('lets a listed origin read the answer of a request, and says that the answer depends on Origin', async () => {
      const answer = await t.http().post('/graphql').set('origin', ALLOWED).set('content-type', 'application/json').send({ query: VIEWER });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ data: { viewer: { platformAdmin: false } } });
      expect(corsHeadersOf(answer.headers)).toEqual({ 'access-control-allow-origin': ALLOWED, 'access-control-expose-headers': 'x-request-id' });
      expect(answer.headers.vary).toBe('Origin');
    });

    it('gives another origin, or no origin, no CORS header (the browser then hides the answer), still with Vary: Origin', async () => {
      for (const origin of [OTHER, undefined]) {
        const request = t.http().post('/graphql').set('content-type', 'application/json');
        if (origin) request.set('origin', origin);
        const answer = await request.send({ query: VIEWER });
        expect(answer.status).toBe(200);
        expect(corsHeadersOf(answer.headers)).toEqual({});
        expect(answer.headers.vary).toBe('Origin');
      }
    });

    it('keeps CSRF prevention: a simple request is refused from any origin, a preflighted one from a listed origin passes', async () => {
      for (const origin of [ALLOWED, OTHER]) {
        const simple = await t.http().post('/graphql').set('origin', origin).set('content-type', 'text/plain').send(JSON.stringify({ query: VIEWER }));
        expect(simple.status).toBe(400);
        expect(simple.body.errors[0].extensions.code).toBe('BAD_REQUEST');
        expect(simple.body.errors[0].message).toMatch(/Cross-Site Request Forgery/);
        const get = await t.http().get('/graphql').query({ query: VIEWER }).set('origin', origin);
        expect(get.status).toBe(400);
        expect(get.body.errors[0].message).toMatch(/Cross-Site Request Forgery/);
      }
      // A GET with a bearer token: no browser sends one cross-origin without the preflight above.
      const user = await t.token('cors-user');
      const preflighted = await t.http().get('/graphql').query({ query: VIEWER }).set('origin', ALLOWED).set('authorization', `Bearer ${user}`);
      expect(preflighted.status).toBe(200);
      expect(preflighted.body).toEqual({ data: { viewer: { platformAdmin: false } } });
      expect(preflighted.headers['access-control-allow-origin']).toBe(ALLOWED);
    });

    it('does not extend to the gateway, the probes or unknown paths', async () => {
      const gatewayPreflight = await t.http().options('/v1/chat/completions').set('origin', ALLOWED).set('access-control-request-method', 'POST');
      expect(gatewayPreflight.status).toBeGreaterThanOrEqual(400);
      expect(corsHeadersOf(gatewayPreflight.headers)).toEqual({});
      const gatewayCall = await t
        .http()
        .post('/v1/chat/completions')
        .set('origin', ALLOWED)
        .set('authorization', `Bearer ${TEST_SERVICE_TOKEN}`)
        .set('content-type', 'application/json')
        .send({ model: 'x', messages: [] });
      expect(gatewayCall.status).toBeGreaterThanOrEqual(400);
      expect(corsHeadersOf(gatewayCall.headers)).toEqual({});
      expect(gatewayCall.headers.vary).toBeUndefined();
      for (const path of ['/healthz', '/readyz', '/nowhere']) {
        const answer = await t.http().get(path).set('origin', ALLOWED);
        expect(corsHeadersOf(answer.headers)).toEqual({});
      }
    });
  });

  describe('over HTTP, with CORS_ORIGINS unset', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp();
    });
    afterAll(() => t.close());

    it('allows no origin at all: same-origin only', async () => {
      const preflight = await t.http().options('/graphql').set('origin', ALLOWED).set('access-control-request-method', 'POST');
      expect(preflight.status).toBe(204);
      expect(corsHeadersOf(preflight.headers)).toEqual({});
      const post = await t.http().post('/graphql').set('origin', ALLOWED).set('content-type', 'application/json').send({ query: VIEWER });
      expect(post.status).toBe(200);
      expect(corsHeadersOf(post.headers)).toEqual({});
      expect(post.headers.vary).toBe('Origin');
    });
  });

  describe('in Chromium, from pages on other origins', () => {
    let browser: Browser;
    let listed: StaticSite;
    let unlisted: StaticSite;
    let t: TestApp;
    let ws: SeededWorkspace;
    const key = sampleKey('c');
    beforeAll(async () => {
      browser = await launchBrowser();
      listed = await serveStaticPage(FRONTEND_PAGE);
      unlisted = await serveStaticPage(FRONTEND_PAGE);
      t = await startTestApp({ overrides: { corsOrigins: [listed.origin] } });
      ws = await seedWorkspace(t);
      expectData(await t.gql(SAVE_KEY, { w: ws.id, k: key }, ws.tokens.owner));
    });
    afterAll(async () => {
      await browser.close();
      await t.close();
      await listed.close();
      await unlisted.close();
    });

    const open = async (site: StaticSite) => {
      const opened = await browser.newPage();
      const query = new URLSearchParams({ api: t.url, token: ws.tokens.member, workspace: ws.id });
      await opened.page.goto(`${site.origin}/?${query}`);
      await opened.page.locator('#answer', { hasNotText: 'loading' }).waitFor({ timeout: 20_000 });
      return { ...opened, shown: await opened.page.locator('#answer').innerText() };
    };

    it('a listed origin runs aiInferenceKey with a member’s token and renders the answer', async () => {
      const { page, shown } = await open(listed);
      expect(shown).toBe(`answer: ${JSON.stringify({ configured: true, maskedHint: `${key.slice(0, 8)}…${key.slice(-4)}` })}`);
      await page.close();
    });

    it('an origin not listed is blocked by the browser: its page never sees an answer', async () => {
      const { page, shown, messages } = await open(unlisted);
      expect(shown).toBe('blocked: Failed to fetch');
      expect(messages.join('\n')).toMatch(/blocked by CORS policy/);
      await page.close();
    });
  });
});
