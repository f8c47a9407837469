import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The repository root, where `npm run build` writes dist/. */
export const ROOT = resolve(__dirname, '..', '..');

const LOCK = join(tmpdir(), 'byok-billing-test-build.lock');
const STALE_LOCK_MS = 120_000;

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Jest runs files in parallel workers: only one of them may write dist/ at a time. */
function withBuildLock<T>(work: () => T): T {
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      try {
        if (Date.now() - statSync(LOCK).mtimeMs > STALE_LOCK_MS) rmdirSync(LOCK);
      } catch {
        // the holder released it between our two looks
      }
      sleep(100);
    }
  }
  try {
    return work();
  } finally {
    rmdirSync(LOCK);
  }
}

/**
 * Where the tests compile to: inside dist/ (ignored by git and lint) so node_modules resolves,
 * but apart from dist/src, so a developer's own `npm run build` never races with a test's run.
 */
export const COMPILED_DIR = join(ROOT, 'dist', 'test-build');

let built = false;

/**
 * `npm run build` (tsc -p tsconfig.build.json) into COMPILED_DIR, once per worker. The build is
 * incremental, so a second worker finds nothing to emit and never rewrites a file another worker
 * is running. Type errors are the typecheck step's business (tsc still emits), so only a build
 * that emitted nothing fails here.
 */
export function buildOnce(): void {
  if (built) return;
  withBuildLock(() => {
    try {
      execFileSync(
        process.execPath,
        [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', COMPILED_DIR, '--tsBuildInfoFile', join(COMPILED_DIR, '.tsbuildinfo')],
        { cwd: ROOT, stdio: 'pipe' },
      );
    } catch (error) {
      if (!existsSync(join(COMPILED_DIR, 'src', 'main.js'))) {
        const output = (error as { stdout?: Buffer }).stdout?.toString() ?? '';
        throw new Error(`npm run build failed:\n${output}`);
      }
    }
  });
  built = true;
}

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a compiled entry point (e.g. 'src/cli/reencrypt.js', under COMPILED_DIR) with exactly `env` plus PATH, so
 * nothing from the developer's shell (a SECRETS_PHRASE, a NODE_ENV) leaks into what is tested.
 */
export function runCompiled(script: string, args: string[], env: Record<string, string | undefined>, timeoutMs = 20_000): Promise<ProcessResult> {
  const cleanEnv: Record<string, string> = { PATH: process.env.PATH ?? '' };
  for (const [name, value] of Object.entries(env)) if (value !== undefined) cleanEnv[name] = value;
  return new Promise((resolveRun) => {
    execFile(process.execPath, [join(COMPILED_DIR, script), ...args], { cwd: ROOT, env: cleanEnv, timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolveRun({ code, stdout, stderr });
    });
  });
}
