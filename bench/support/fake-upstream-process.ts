import { ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';

/** The fake OpenRouter (fake-upstream.ts) in a process of its own, so its work is not charged to the service measured. */
export async function startFakeUpstream(): Promise<{ url: string; process: ChildProcess }> {
  const child = fork(join(__dirname, 'fake-upstream.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolvePort, reject) => {
    child.once('message', (message: { port: number }) => resolvePort(message.port));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`fake upstream exited with code ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, process: child };
}
