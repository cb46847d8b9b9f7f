// The built site in Debian's chromium (playwright-core): every page loads without console errors, every
// internal link (and #anchor) resolves, local search finds "hook", and screenshots of the landing page and a
// tutorial are saved as build artefacts (.artifacts/, or $SOO_ARTIFACTS_DIR). Chromium is installed with apt
// when missing and running as root (CI); elsewhere these tests are reported as skipped.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS, ensureChromium, serveStatic } from './browser.js';

const appDir = path.resolve(__dirname, '..');
const distDir = path.join(appDir, '.vitepress', 'dist');
const docsDir = path.join(appDir, 'docs');
const artifacts = path.resolve(process.env.SOO_ARTIFACTS_DIR ?? path.join(appDir, '.artifacts'));
const browser = ensureChromium();
const skip = 'skip' in browser ? browser.skip : null;
if (skip) process.stderr.write(`browser tests skipped: ${skip}\n`);

/** The URL path of every Markdown page (VitePress without clean URLs). */
function pagePaths(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(dir, rel)).sort()) {
    const r = path.posix.join(rel, name);
    if (name === 'public') continue;
    if (statSync(path.join(dir, r)).isDirectory()) out.push(...pagePaths(dir, r));
    else if (name === 'index.md') out.push(`/${rel ? `${rel}/` : ''}`);
    else if (name.endsWith('.md')) out.push(`/${r.replace(/\.md$/, '.html')}`);
  }
  return out;
}

describe('chromium set-up', () => {
  it('skips (never passes) where chromium is missing and apt cannot run as root', () => {
    const missing = '/nonexistent/chromium';
    expect(ensureChromium({ exe: missing, root: false, apt: true })).toEqual({
      skip: `${missing} is missing and this is not root: install Debian's chromium to run the browser tests`,
    });
    expect(ensureChromium({ exe: missing, root: true, apt: false })).toMatchObject({
      skip: expect.stringContaining('apt-get is not available'),
    });
  });
});

describe.skipIf(skip !== null)('the docs site in chromium', () => {
  let server: Awaited<ReturnType<typeof serveStatic>>;
  let ctx: BrowserContext;
  let userDataDir: string;
  const errors: string[] = [];

  const open = async (url: string): Promise<Page> => {
    const page = await ctx.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`${url}: console: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`${url}: page error: ${e.message}`));
    const res = await page.goto(url, { waitUntil: 'load' });
    expect(res?.status(), url).toBe(200);
    await page.waitForSelector('#app .Layout');
    return page;
  };

  beforeAll(async () => {
    expect(
      existsSync(path.join(distDir, 'index.html')),
      'the site is not built: run npm run docs:build',
    ).toBe(true);
    server = await serveStatic(distDir);
    userDataDir = mkdtempSync(path.join(os.tmpdir(), 'soo-chromium-'));
    ctx = await chromium.launchPersistentContext(userDataDir, {
      executablePath: (browser as { path: string }).path,
      headless: true,
      args: CHROMIUM_ARGS,
    });
    mkdirSync(artifacts, { recursive: true });
  }, 120_000);

  afterAll(async () => {
    await ctx?.close();
    await server?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  it('every page loads without console errors, and every internal link and anchor resolves', async () => {
    const base = server.url;
    const seen = new Map<string, Set<string>>(); // page path -> element ids
    const links: Array<{ from: string; to: string; hash: string }> = [];
    const queue = ['/'];
    while (queue.length > 0) {
      const p = queue.shift()!;
      if (seen.has(p)) continue;
      const page = await open(base + p);
      const { hrefs, ids } = await page.evaluate(() => ({
        hrefs: [...document.querySelectorAll('a[href]')].map((a) => (a as HTMLAnchorElement).href),
        ids: [...document.querySelectorAll('[id]')].map((e) => e.id),
      }));
      seen.set(p, new Set(ids));
      await page.close();
      for (const h of hrefs) {
        const u = new URL(h);
        if (u.origin !== base) continue;
        links.push({ from: p, to: u.pathname, hash: decodeURIComponent(u.hash.slice(1)) });
        if (!seen.has(u.pathname) && !queue.includes(u.pathname) && /(\.html|\/)$/.test(u.pathname))
          queue.push(u.pathname);
      }
    }
    // Every page of docs/ is reachable from the landing page.
    const expected = pagePaths(docsDir);
    expect(expected.length).toBeGreaterThan(10);
    expect(expected.filter((p) => !seen.has(p))).toEqual([]);
    // Links to non-page files (images, the example experiment) must exist too.
    for (const l of links.filter((x) => !seen.has(x.to))) {
      const r = await fetch(base + l.to);
      expect(r.status, `${l.from} links to ${l.to}`).toBe(200);
    }
    const broken = links
      .filter((l) => l.hash !== '' && seen.has(l.to) && !seen.get(l.to)!.has(l.hash))
      .map((l) => `${l.from} -> ${l.to}#${l.hash}`);
    expect([...new Set(broken)]).toEqual([]);
    expect(errors).toEqual([]);
  }, 300_000);

  it('search finds "hook" and leads to the hook points page', async () => {
    const page = await open(`${server.url}/`);
    await page.click('.VPNavBarSearch button');
    await page.fill('#localsearch-input', 'hook');
    await page.waitForSelector('.results li a');
    const hrefs = await page.$$eval('.results li a', (as) => as.map((a) => (a as HTMLAnchorElement).href));
    expect(hrefs.length).toBeGreaterThan(0);
    expect(hrefs.some((h) => new URL(h).pathname === '/concepts/hooks.html')).toBe(true);
    await page.close();
    expect(errors).toEqual([]);
  }, 60_000);

  it('saves screenshots of the landing page and a tutorial', async () => {
    for (const [name, p] of [
      ['landing.png', '/'],
      ['tutorial-toy-model.png', '/tutorials/toy-model.html'],
    ] as const) {
      const page = await open(server.url + p);
      await page.setViewportSize({ width: 1280, height: 900 });
      const file = path.join(artifacts, name);
      await page.screenshot({ path: file, fullPage: p !== '/' });
      await page.close();
      expect(statSync(file).size).toBeGreaterThan(10_000);
    }
    expect(errors).toEqual([]);
  }, 60_000);
});
