import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The compiled service (dist/src/main.js) in a process of its own, so its memory is its own. */
export interface ServiceChild {
  url: string;
  pid: number;
  jwtSecret: string;
  /** resident set size now, in bytes (Linux /proc) */
  residentBytes(): number;
  /** whether the process is still running */
  alive(): boolean;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** `main` is another build's compiled entry point (bench:compare runs an older revision's service). */
export async function startServiceChild(databaseUrl: string | undefined, env: Record<string, string> = {}, main = resolve(__dirname, '..', '..', 'src', 'main.js')): Promise<ServiceChild> {
  const dataDir = mkdtempSync(join(tmpdir(), 'byok-bench-child-'));
  const port = await freePort();
  const jwtSecret = randomBytes(32).toString('base64url');
  const childEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    PORT: String(port),
    DATA_DIR: dataDir,
    SECRETS_PHRASE: randomBytes(32).toString('base64url'),
    JWT_SECRET: jwtSecret,
    OPENROUTER_BASE_URL: 'http://127.0.0.1:9',
    OPENROUTER_VERIFY_KEYS: 'false',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    ...env,
  };
  const child: ChildProcess = spawn(process.execPath, [main], { env: childEnv, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4000)));
  let exited = false;
  const exit = new Promise<void>((resolveExit) => child.once('exit', () => ((exited = true), resolveExit())));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`service exited during start-up: ${stderr}`);
    const ok = await fetch(`${url}/healthz`).then((response) => response.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error('service did not start within 60 s');
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, 100));
  }
  return {
    url,
    pid: child.pid as number,
    jwtSecret,
    residentBytes: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024,
    alive: () => !exited,
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const forced = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exit;
        clearTimeout(forced);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
