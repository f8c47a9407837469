import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

/** Portkey's OSS gateway (npm @portkey-ai/gateway, a devDependency) in a process of its own, for comparison. */
export interface PortkeyChild {
  url: string;
  pid: number;
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

/**
 * Starts build/start-server.js as its README says, with NODE_ENV=production (as our service runs in
 * the benchmark: Portkey then serves no log console) and --headless. Its port option is
 * `--port=<n>`: `--port <n>` is ignored and it listens on 8787.
 */
export async function startPortkey(): Promise<PortkeyChild> {
  const port = await freePort();
  const entry = resolve(__dirname, '..', '..', '..', 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js');
  const child: ChildProcess = spawn(process.execPath, [entry, `--port=${port}`, '--headless'], {
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4000)));
  let exited = false;
  const exit = new Promise<void>((resolveExit) => child.once('exit', () => ((exited = true), resolveExit())));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new Error(`Portkey exited during start-up: ${stderr}`);
    // Any HTTP answer means it listens (its root answers 200 "AI Gateway says hey!").
    const up = await fetch(url).then(() => true, () => false);
    if (up) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error('Portkey did not start within 30 s');
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, 100));
  }
  return {
    url,
    pid: child.pid as number,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const forced = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(forced);
    },
  };
}
