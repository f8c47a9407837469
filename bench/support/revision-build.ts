import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface RevisionBuild {
  /** the full commit id */
  commit: string;
  /** the compiled service's entry point */
  main: string;
}

const REPOSITORY = resolve(__dirname, '..', '..', '..');

function git(args: string[]): string {
  return execFileSync('git', args, { cwd: REPOSITORY, encoding: 'utf8' }).trim();
}

/**
 * The revision's files exported (git archive: no worktree registered in the repository) to
 * /tmp/byok-rev-<commit>, node_modules linked to this checkout's, and compiled with the revision's
 * own build config. A directory with a finished build is reused: a commit's build never changes.
 */
export function buildRevision(revision: string, log: (line: string) => void): RevisionBuild {
  const commit = git(['rev-parse', '--verify', `${revision}^{commit}`]);
  const dir = join('/tmp', `byok-rev-${commit}`);
  const main = join(dir, 'dist', 'src', 'main.js');
  if (existsSync(main)) {
    log(`${revision} (${commit.slice(0, 7)}): reusing the build in ${dir}`);
    return { commit, main };
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  log(`${revision} (${commit.slice(0, 7)}): exporting to ${dir} and compiling`);
  execFileSync('sh', ['-c', `git archive ${commit} | tar -x -C "${dir}"`], { cwd: REPOSITORY, stdio: ['ignore', 'inherit', 'inherit'] });
  symlinkSync(join(REPOSITORY, 'node_modules'), join(dir, 'node_modules'));
  execFileSync(process.execPath, [join(REPOSITORY, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
  if (!existsSync(main)) throw new Error(`the build of ${revision} has no ${main}`);
  return { commit, main };
}
