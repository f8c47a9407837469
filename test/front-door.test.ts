import { execFile } from 'node:child_process';
import { createServer, Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { frontDoor } from '../src/http/front-door';
import { RouteTable } from '../src/http/route-table';
import { createLogger } from '../src/logging/logger';
import { buildOnce, COMPILED_DIR, ROOT } from './support/build';
import { LogCapture } from './support/log-capture';

/** SPEC.md "Hostile input": a failure inside one request is answered (500, masked) and logged. */
describe('the front door around a failing route', () => {
  const SECRET_IN_MESSAGE = 'sk-or-v1-secret-in-an-error-message';
  let server: Server;
  let url: string;
  const logs = new LogCapture();

  beforeAll(async () => {
    const routes = new RouteTable([
      {
        path: '/throws',
        handle: () => {
          throw new Error(`failed near ${SECRET_IN_MESSAGE}`);
        },
      },
      { path: '/rejects', handle: async () => Promise.reject(new TypeError(`cannot read ${SECRET_IN_MESSAGE}`)) },
      { path: '/slow', handle: () => new Promise<void>(() => undefined) },
    ]);
    const handle = frontDoor({ routes, logger: createLogger('info', logs), requestTimeoutMs: 300, longRunningReceiveTimeoutMs: 300 });
    server = createServer((req, res) => void handle(req, res));
    await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolveClose) => server.close(() => resolveClose())));

  it.each(['/throws', '/rejects'])('answers %s with a masked 500 carrying the request id, and logs it without the message', async (path) => {
    const answer = await request(url).get(path).set('x-request-id', `req-${path.slice(1)}`);
    expect(answer.status).toBe(500);
    expect(answer.body).toEqual({ error: 'internal server error', requestId: `req-${path.slice(1)}` });
    expect(answer.headers['x-request-id']).toBe(`req-${path.slice(1)}`);
    expect(answer.text).not.toContain(SECRET_IN_MESSAGE);
    const line = logs.lines.map((text) => JSON.parse(text)).find((entry) => entry.requestId === `req-${path.slice(1)}` && entry.level === 50);
    expect(line).toBeDefined();
    expect(logs.text).not.toContain(SECRET_IN_MESSAGE);
    expect((await request(url).get('/nowhere')).status).toBe(404);
  });

  it('answers a route that never finishes 408 once the request timeout passes', async () => {
    const answer = await request(url).get('/slow');
    expect(answer.status).toBe(408);
  });
});

describe('the process guards', () => {
  beforeAll(() => buildOnce(), 180_000);

  it('keep the process running through an unhandled rejection and an exception thrown from a callback, and log both', async () => {
    const script = `
      const { installProcessGuards } = require(${JSON.stringify(join(COMPILED_DIR, 'src', 'process-guards.js'))});
      installProcessGuards(require('pino')());
      Promise.reject(new Error('nobody awaited this'));
      setTimeout(() => { throw new Error('thrown from a timer'); }, 10);
      setTimeout(() => { process.stdout.write('still running\\n'); process.exit(0); }, 300);`;
    const run = await new Promise<{ code: number | null; stdout: string }>((resolveRun) =>
      execFile(process.execPath, ['-e', script], { cwd: ROOT, timeout: 20_000 }, (error, stdout) => resolveRun({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout })),
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('still running');
    expect(run.stdout).toContain('unhandled rejection');
    expect(run.stdout).toContain('uncaught exception');
  });
});
