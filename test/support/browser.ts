import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrowserContext, chromium, Page } from 'playwright-core';

/** Debian's chromium: `.ci/run` installs it (`apt-get install -y chromium`); no browser is downloaded. */
export const CHROMIUM = '/usr/bin/chromium';

/** Flags that keep a headless Chromium here from reaching anything but the pages a test opens. */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  /** every URL the browser requested, in order, from any page */
  requests: string[];
  newPage(): Promise<PageWithConsole>;
  close(): Promise<void>;
}

export interface PageWithConsole {
  page: Page;
  /** console errors and uncaught exceptions (a CSP violation is reported as a console error) */
  errors: string[];
  /** every console message, for the CORS refusals the browser reports there */
  messages: string[];
}

/** A real Chromium with a fresh profile of its own, removed on close. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)`);
  const profile = mkdtempSync(join(tmpdir(), 'byok-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 800 },
  });
  const requests: string[] = [];
  context.on('request', (request) => requests.push(request.url()));
  return {
    context,
    requests,
    async newPage() {
      const page = await context.newPage();
      const errors: string[] = [];
      const messages: string[] = [];
      page.on('console', (message) => {
        messages.push(message.text());
        if (message.type() === 'error') errors.push(message.text());
      });
      page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
      return { page, errors, messages };
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export interface StaticSite {
  /** e.g. http://127.0.0.1:41234 */
  origin: string;
  close(): Promise<void>;
}

/** A tiny web server on a port of its own (so another origin) that serves one HTML page at `/`. */
export function serveStaticPage(html: string): Promise<StaticSite> {
  const server: Server = createServer((request, response) => {
    if (request.url?.split('?')[0] !== '/') return void response.writeHead(404).end();
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
  });
  return new Promise((resolveServe) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolveServe({
        origin: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise((resolveClose) => {
            server.close(() => resolveClose());
            server.closeAllConnections();
          }),
      });
    });
  });
}
