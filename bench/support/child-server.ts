import { ChildProcess, fork } from 'node:child_process';

/**
 * A benchmark's server script in a process of its own, so that its work is charged neither to the
 * service measured nor to the load generator. The script sends `{ port }` once it listens and exits
 * when its parent disconnects.
 */
export async function forkChildServer(script: string, args: string[] = []): Promise<{ url: string; process: ChildProcess }> {
  const child = fork(script, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolvePort, reject) => {
    child.once('message', (message: { port: number }) => resolvePort(message.port));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${script} exited with code ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, process: child };
}
