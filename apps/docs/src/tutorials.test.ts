import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectSnippets } from './snippets.js';

const docsDir = path.resolve(__dirname, '..', 'docs');
const snippets = collectSnippets(docsDir);
const pages = [...new Set(snippets.map((s) => s.page))];
const cacheDir = path.resolve(__dirname, '..', '.tutorial-cache');

describe('docs tutorials run as written', () => {
  it('has runnable tutorials', () => {
    expect(pages.length).toBeGreaterThan(0);
  });

  it.each(pages)('%s', async (page) => {
    const code = snippets
      .filter((s) => s.page === page)
      .map((s) => `// ${s.page}:${s.line}\n${s.code}`)
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
    expect(logs.length).toBeGreaterThan(0);
  });
});
