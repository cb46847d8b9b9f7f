import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

export const CHROMIUM = '/usr/bin/chromium';

/** The flags this machine needs (toolchain.md): no sandbox as root, no GPU, no background networking. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Debian's chromium, installed with apt when it is missing and we run as root (CI's fresh machine).
 * Returns the executable, or why the browser tests must be skipped.
 */
export function ensureChromium(
  machine: { exe?: string; root?: boolean; apt?: boolean } = {},
): { path: string } | { skip: string } {
  const exe = machine.exe ?? CHROMIUM;
  if (existsSync(exe)) return { path: exe };
  const root = machine.root ?? (typeof process.getuid === 'function' && process.getuid() === 0);
  const apt = machine.apt ?? spawnSync('sh', ['-c', 'command -v apt-get'], { encoding: 'utf8' }).status === 0;
  if (!root || !apt) {
    return {
      skip: `${exe} is missing and ${root ? 'apt-get is not available' : 'this is not root'}: install Debian's chromium to run the browser tests`,
    };
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  process.stderr.write('browser tests: installing chromium with apt-get (about a minute)\n');
  for (const args of [['update'], ['install', '-y', 'chromium']]) {
    // another test's set-up may run apt at the same time (slurm's): wait for dpkg's lock
    const r = spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', ...args], {
      env,
      encoding: 'utf8',
      timeout: 900_000,
    });
    if (r.status !== 0) {
      throw new Error(
        `apt-get ${args.join(' ')} failed (exit ${r.status}): ${(r.stderr ?? '').slice(-2000)}`,
      );
    }
  }
  if (!existsSync(exe)) throw new Error(`apt-get install chromium did not provide ${exe}`);
  return { path: exe };
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain',
  '.wasm': 'application/wasm',
  '.safetensors': 'application/octet-stream',
};

/** Serve a built site folder on 127.0.0.1 (a folder URL serves its index.html; anything else missing: 404). */
export async function serveStatic(dir: string): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    let file = path.join(dir, pathname);
    if (!file.startsWith(dir)) {
      res.writeHead(403).end();
      return;
    }
    if (existsSync(file) && statSync(file).isDirectory()) file = path.join(file, 'index.html');
    if (!existsSync(file) && existsSync(`${file}.html`)) file = `${file}.html`;
    if (!existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
