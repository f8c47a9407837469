import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { buildOnce, COMPILED_DIR, ROOT } from './build';
import { TEST_JWT_SECRET, TEST_SECRETS_PHRASE, TEST_SERVICE_TOKEN } from './test-app';
import type { TestDatabase } from './test-database';

/**
 * Compiles the service into the tests' own output directory (build.ts: COMPILED_DIR, incremental,
 * so nearly free when nothing changed). The service is then run from there, never from dist/src:
 * a clean checkout has no dist/src, and a developer's build there may be stale.
 */
export function buildIfStale(): void {
  buildOnce();
}

/**
 * The environment of a service process in a test: development mode, the tests' secrets, the
 * database `db` (its DATA_DIR too, so processes on one SQLite file share it) and a fake OpenRouter.
 */
export function serviceProcessEnv(db: TestDatabase, openrouter: { baseUrl: string; platformKey: string }, extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
    DATA_DIR: db.dataDir,
    DATABASE_URL: db.databaseUrl,
    SECRETS_PHRASE: TEST_SECRETS_PHRASE,
    JWT_SECRET: TEST_JWT_SECRET,
    SERVICE_TOKEN: TEST_SERVICE_TOKEN,
    OPENROUTER_BASE_URL: openrouter.baseUrl,
    PLATFORM_OPENROUTER_KEY: openrouter.platformKey,
    OPENROUTER_VERIFY_KEYS: 'false',
    ...extra,
  };
}

/** A free TCP port on 127.0.0.1, found by listening on port 0 for a moment. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = address && typeof address === 'object' ? address.port : 0;
      probe.close(() => resolvePort(port));
    });
  });
}

/** Children still running; killed if this process exits without stopping them (a crashed test run). */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface ServiceProcess {
  url: string;
  port: number;
  pid: number;
  /** resolves with the exit code, or the signal that ended the process */
  exited: Promise<number | string>;
  /** everything the process wrote, for diagnostics when a test fails */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once, as a crash or an OOM kill would end it; resolves once the process has exited */
  kill(): Promise<void>;
}

/**
 * Starts the compiled service (`dist/test-build/src/main.js`; build first with buildIfStale) with exactly `env` plus PATH and
 * waits until /healthz answers. The port is chosen here, since PORT=0 would not tell us which.
 */
export async function startServiceProcess(env: Record<string, string | undefined>, timeoutMs = 30_000): Promise<ServiceProcess> {
  const port = await freePort();
  const cleanEnv: Record<string, string> = { PATH: process.env.PATH ?? '' };
  for (const [name, value] of Object.entries({ ...env, PORT: String(port) })) if (value !== undefined) cleanEnv[name] = value;
  const child: ChildProcess = spawn(process.execPath, [join(COMPILED_DIR, 'src', 'main.js')], { cwd: ROOT, env: cleanEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  running.add(child);
  const exited = new Promise<number | string>((resolveExit) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolveExit(code ?? signal ?? 'unknown');
    }),
  );
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (hasExited) throw new Error(`service exited during start-up (code ${child.exitCode}):\n${output}`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`service did not answer /healthz within ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, 50));
  }

  return {
    url,
    port,
    pid: child.pid as number,
    exited,
    output: () => output,
    async stop(graceMs = 5_000) {
      if (hasExited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (hasExited) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * A GraphQL request to a service process, as a client would send it; the data, or an error
 * carrying the whole answer (and the service's error lines) when there is none.
 */
export async function gqlOn<T = Record<string, any>>(service: Pick<ServiceProcess, 'url' | 'output'>, query: string, variables: Record<string, unknown> = {}, token?: string): Promise<T> {
  const response = await fetch(`${service.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: unknown[] };
  if (response.status !== 200 || body.errors || !body.data) {
    const errorLines = service.output().split('\n').filter((line) => line.includes('"level":50'));
    throw new Error(`GraphQL failed (${response.status}): ${JSON.stringify(body)}\n${errorLines.join('\n')}`);
  }
  return body.data;
}
