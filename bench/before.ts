/**
 * `npm run bench -- --before <git-rev>`: an earlier revision of the dispatcher, built into a temporary
 * git worktree outside the repository, to run as a third app ("before") beside the current build, step
 * for step, so each gain (or loss) shows as a ratio from one run.
 *
 * The worktree is detached at the revision (`git worktree add --detach`), gets the repository's
 * node_modules as a symlink, and is built as `npm run build` builds (`tsc -p tsconfig.build.json`). It is
 * removed when the bench ends, however it ends (an exception, process.exit, SIGINT/SIGTERM/SIGHUP).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from '../test/harness/app';

export interface BeforeBuild {
  /** the revision as given (--before) */
  rev: string;
  /** the commit it resolved to */
  commit: string;
  /** the commit's subject line */
  subject: string;
  /** seconds the build took */
  buildS: number;
  /** the worktree; the dispatcher's entry is dist/apps/dispatcher/main.js under it */
  dir: string;
  main: string;
  /** removes the worktree (idempotent) */
  remove(): void;
}

const git = (args: string[], cwd = REPO_ROOT): string => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/**
 * `npx tsc -p tsconfig.build.json` in `dir`, as package.json's "build": the tsc of the (symlinked)
 * node_modules, run by this node directly, so the build is one child process that a signal to the bench
 * can end with it; asynchronous, so that signal is handled meanwhile.
 */
function tsc(dir: string, started: (child: ChildProcess) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const bin = path.join(dir, 'node_modules', 'typescript', 'bin', 'tsc');
    const child = spawn(process.execPath, [bin, '-p', 'tsconfig.build.json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    started(child);
    let out = '';
    const keep = (d: Buffer): void => {
      out = (out + d.toString()).slice(-3000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`tsc exited ${code ?? signal}:\n${out}`))));
  });
}

export async function buildBefore(rev: string, log: (text: string) => void = () => undefined): Promise<BeforeBuild> {
  let commit: string;
  try {
    commit = git(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`]);
  } catch {
    throw new Error(`--before ${rev}: not a commit in ${REPO_ROOT}`);
  }
  const subject = git(['log', '-1', '--format=%s', commit]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipd-bench-rev-'));
  let removed = false;
  let building: ChildProcess | undefined;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    // a build still running (the bench ended during it) must not write into the directory after it is gone
    if (building && building.exitCode === null && building.signalCode === null) {
      try {
        building.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    try {
      git(['worktree', 'remove', '--force', dir]);
    } catch {
      // not (or no longer) a worktree: the directory and git's record of it go anyway
    }
    fs.rmSync(dir, { recursive: true, force: true });
    try {
      git(['worktree', 'prune']);
    } catch {
      // nothing to prune
    }
  };
  // removed on every way out: process.exit and the harness' signal-to-exit both run 'exit' handlers
  process.on('exit', remove);
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    if (process.listenerCount(sig) === 0) process.once(sig, () => process.exit(128 + (sig === 'SIGHUP' ? 1 : sig === 'SIGINT' ? 2 : 15)));
  }
  try {
    git(['worktree', 'add', '--detach', dir, commit]);
    fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(dir, 'node_modules'));
    if (!fs.existsSync(path.join(dir, 'tsconfig.build.json'))) throw new Error(`--before ${rev}: no tsconfig.build.json at ${commit.slice(0, 7)}`);
    log(`--before ${rev}: building ${commit.slice(0, 7)} "${subject}" in ${dir}`);
    const t0 = Date.now();
    try {
      // as package.json's "build" (its dist/ is fresh: a new worktree has none)
      await tsc(dir, (child) => (building = child));
    } catch (err) {
      throw new Error(`--before ${rev}: the build failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    const main = path.join(dir, 'dist', 'apps', 'dispatcher', 'main.js');
    if (!fs.existsSync(main)) throw new Error(`--before ${rev}: the build has no ${path.relative(dir, main)}`);
    return { rev, commit, subject, buildS: (Date.now() - t0) / 1000, dir, main, remove };
  } catch (err) {
    remove();
    throw err;
  }
}
