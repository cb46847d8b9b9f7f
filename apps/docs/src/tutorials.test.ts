// Every ```ts runnable / ```bash runnable block of the docs pages runs here, and the ```text output block
// after it is checked line by line (`matchOutput`): a tutorial that stops working, or prints something else
// than the page says, is a failing test.
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ensureSlurm, startTestCluster, type TestCluster } from '@soo/cli/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliBuilt, freshLayout, runShell } from './layout.js';
import { collectSnippets, matchOutput, pageSnippets } from './snippets.js';

const docsDir = path.resolve(__dirname, '..', 'docs');
const snippets = collectSnippets(docsDir);
const pages = [...new Set(snippets.map((s) => s.page))];
const tsPages = pages.filter((p) => snippets.some((s) => s.page === p && s.lang === 'ts'));
// Pages that submit to Slurm run against a one-node cluster on localhost (installed with apt as root when
// missing; elsewhere skipped, with the reason).
const SLURM_PAGES = ['tutorials/slurm.md'];
const allBashPages = pages.filter((p) => snippets.some((s) => s.page === p && s.lang === 'bash'));
const bashPages = allBashPages.filter((p) => !SLURM_PAGES.includes(p));
const slurmPages = allBashPages.filter((p) => SLURM_PAGES.includes(p));
const cacheDir = path.resolve(__dirname, '..', '.tutorial-cache');
const slurmSkip = slurmPages.length ? (ensureSlurm()?.skip ?? null) : null;
if (slurmSkip) process.stderr.write(`Slurm tutorials skipped: ${slurmSkip}\n`);
const MARK = '\u0000snippet-end';

describe('docs tutorials run as written', () => {
  it('has runnable tutorials, each block with its expected output', () => {
    expect(pages.length).toBeGreaterThan(0);
    expect(tsPages.filter((p) => bashPages.includes(p))).toEqual([]);
    const missing = snippets.filter((s) => s.output === null || s.output.length === 0);
    expect(missing.map((s) => `${s.page}:${s.line}`)).toEqual([]);
  });

  it('matchOutput checks lines in order, with … as a wildcard', () => {
    expect(matchOutput(['a …', 'c'], ['x', 'a 1', 'b', 'c'])).toBeNull();
    expect(matchOutput(['c', 'a …'], ['a 1', 'c'])).toMatch(/expected a line matching "a …"/);
    expect(matchOutput(['rate: …%'], ['rate: 50'])).not.toBeNull();
    const s = pageSnippets('p.md', '```ts runnable\nconsole.log(1)\n```\n\n```text output\n1\n```\n');
    expect(s).toEqual([{ page: 'p.md', line: 1, lang: 'ts', code: 'console.log(1)', output: ['1'] }]);
  });

  it.each(tsPages)('%s', async (page) => {
    const blocks = snippets.filter((s) => s.page === page);
    const code = blocks
      .map((s) => `// ${s.page}:${s.line}\n${s.code}\nconsole.log(${JSON.stringify(MARK)});`)
      .join('\n\n');
    mkdirSync(cacheDir, { recursive: true });
    const file = path.join(cacheDir, page.replace(/[\\/]/g, '__').replace(/\.md$/, '.ts'));
    writeFileSync(file, code + '\nexport {};\n');
    const logs: string[] = [];
    const orig = console.log;
    console.log = (...a: unknown[]) => void logs.push(a.map(String).join(' '));
    try {
      await import(/* @vite-ignore */ file);
    } finally {
      console.log = orig;
    }
    const perBlock: string[][] = [[]];
    for (const l of logs) {
      if (l === MARK) perBlock.push([]);
      else perBlock.at(-1)!.push(...l.split('\n'));
    }
    blocks.forEach((b, i) => {
      // DOCS_PRINT_OUTPUT=1 shows what each block printed (to write its output block).
      if (process.env.DOCS_PRINT_OUTPUT)
        process.stderr.write(`--- ${b.page}:${b.line}\n${(perBlock[i] ?? []).join('\n')}\n`);
      expect(matchOutput(b.output ?? [], perBlock[i] ?? []), `${b.page}:${b.line}`).toBeNull();
    });
  });

  describe.runIf(bashPages.length > 0)('shell tutorials (from a fresh-clone layout)', () => {
    it.each(bashPages)('%s', (page) => runBashPage(page));
  });

  it('the Slurm pages are the ones listed', () => {
    expect(slurmPages).toEqual(SLURM_PAGES);
  });

  describe.skipIf(slurmSkip !== null)('shell tutorials on a one-node Slurm cluster', () => {
    let cluster: TestCluster | undefined;
    beforeAll(async () => {
      cluster = await startTestCluster();
    }, 120_000);
    afterAll(async () => {
      await cluster?.stop();
    }, 120_000);
    it.each(slurmPages)('%s', (page) => runBashPage(page));
  });
});

function runBashPage(page: string): void {
  expect(cliBuilt(), 'packages/cli/dist/bin.js: run npm run build first').toBe(true);
  const dir = freshLayout();
  for (const b of snippets.filter((s) => s.page === page)) {
    const r = runShell(b.code, dir);
    const where = `${b.page}:${b.line}`;
    if (process.env.DOCS_PRINT_OUTPUT) process.stderr.write(`--- ${where}\n${r.stdout}\n`);
    expect(r.status, `${where} exited ${r.status}\n${r.stderr.slice(-3000)}`).toBe(0);
    expect(matchOutput(b.output ?? [], r.stdout.split('\n')), where).toBeNull();
  }
}
