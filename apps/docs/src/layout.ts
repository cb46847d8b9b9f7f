import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, symlinkSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The repository root. */
export const repoRoot = path.resolve(__dirname, '..', '..', '..');

/**
 * A folder laid out like a fresh clone after `npm ci && npm run build`: the workspaces and node_modules of
 * this checkout (linked, not copied), the root package.json, and nothing a previous command wrote. Commands
 * run from it as a reader runs them from the repository root.
 */
export function freshLayout(prefix = 'soo-docs-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  for (const d of ['packages', 'apps', 'node_modules'])
    symlinkSync(path.join(repoRoot, d), path.join(dir, d));
  copyFileSync(path.join(repoRoot, 'package.json'), path.join(dir, 'package.json'));
  return dir;
}

/** Environment for commands a reader types: offline npm (so `npx soo` can never fetch), no colour. */
export function readerEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    npm_config_offline: 'true',
    npm_config_update_notifier: 'false',
    NO_COLOR: '1',
    FORCE_COLOR: '0',
  };
}

export interface ShellResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run a block of shell commands as a reader would (bash, stop at the first failure). */
export function runShell(code: string, cwd: string, timeoutMs = 300_000): ShellResult {
  const r = spawnSync('bash', ['-eo', 'pipefail', '-c', code], {
    cwd,
    env: readerEnv(),
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** The built CLI exists (turbo builds it before these tests). */
export function cliBuilt(): boolean {
  return existsSync(path.join(repoRoot, 'packages', 'cli', 'dist', 'bin.js'));
}
