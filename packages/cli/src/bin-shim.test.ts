// `npx soo` on a fresh clone must run this workspace's CLI and never ask the registry for a package named
// `soo`. npm links a workspace bin into node_modules/.bin only if its file exists when `npm ci` runs, so the
// bin is a committed shim (bin/soo.js) that imports the built dist/bin.js.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const cliDir = path.resolve(__dirname, '..');
const root = path.resolve(cliDir, '..', '..');
const pkg = JSON.parse(readFileSync(path.join(cliDir, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  files: string[];
};
// Offline: a `soo` that does not resolve locally fails with ENOTCACHED instead of being downloaded.
const env = { ...process.env, npm_config_offline: 'true', npm_config_update_notifier: 'false' };
const tmp = mkdtempSync(path.join(os.tmpdir(), 'soo-fresh-clone-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the soo bin on a fresh clone', () => {
  it('points at a committed file outside dist/', () => {
    const target = pkg.bin.soo!;
    expect(target).not.toMatch(/dist\//);
    expect(existsSync(path.join(cliDir, target))).toBe(true);
    expect(pkg.files).toContain(path.normalize(target).split(path.sep)[0]);
    const git = spawnSync('git', ['ls-files', '-s', path.join('packages/cli', target)], {
      cwd: root,
      encoding: 'utf8',
    });
    // In a git checkout the shim must be tracked, and executable.
    if (git.status === 0 && existsSync(path.join(root, '.git'))) expect(git.stdout).toMatch(/^100755 /);
  });

  it('npm links it before anything is built, and it says to build first', () => {
    // The layout of a fresh clone: the workspace's package.json and committed files, no dist/.
    const ws = path.join(tmp, 'packages', 'cli');
    cpSync(path.join(cliDir, 'bin'), path.join(ws, 'bin'), { recursive: true });
    const {
      dependencies: _deps,
      devDependencies: _devDeps,
      ...manifest
    } = JSON.parse(readFileSync(path.join(cliDir, 'package.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(path.join(ws, 'package.json'), JSON.stringify(manifest, null, 2));
    writeFileSync(
      path.join(tmp, 'package.json'),
      JSON.stringify({ name: 'fresh-clone', private: true, workspaces: ['packages/*'] }),
    );
    const install = spawnSync(
      'npm',
      ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'],
      { cwd: tmp, env, encoding: 'utf8' },
    );
    expect(install.status, install.stderr).toBe(0);
    const link = path.join(tmp, 'node_modules', '.bin', 'soo');
    expect(existsSync(link)).toBe(true);
    expect(realpathSync(link)).toBe(path.join(realpathSync(ws), 'bin', 'soo.js'));

    const r = spawnSync('npx', ['soo', '--help'], { cwd: tmp, env, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('run npm run build first');
    expect(r.stderr).not.toMatch(/ENOTCACHED|404|registry/i);
  });

  it('in this repository, npx soo runs the built workspace CLI', () => {
    const link = path.join(root, 'node_modules', '.bin', 'soo');
    expect(existsSync(link), 'node_modules/.bin/soo: run npm ci after pulling the bin shim').toBe(true);
    expect(realpathSync(link)).toBe(realpathSync(path.join(cliDir, 'bin', 'soo.js')));
    const r = spawnSync('npx', ['soo', '--help'], { cwd: root, env, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Usage: soo /);
    expect(r.stdout).toContain('experiment');
  });
});
