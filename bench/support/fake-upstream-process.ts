import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { forkChildServer } from './child-server';

/** The fake OpenRouter (fake-upstream.ts) in a process of its own. */
export function startFakeUpstream(): Promise<{ url: string; process: ChildProcess }> {
  return forkChildServer(join(__dirname, 'fake-upstream.js'));
}
