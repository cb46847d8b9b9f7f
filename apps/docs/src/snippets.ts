import { readFileSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';

export interface Snippet {
  /** Page path relative to docs/. */
  page: string;
  /** 1-based line of the opening fence. */
  line: number;
  code: string;
}

/**
 * Every fenced block opened with ```ts runnable in the docs pages. Blocks of one page run in order as one
 * module, so a tutorial can build on its earlier steps.
 */
export function collectSnippets(docsDir: string): Snippet[] {
  const out: Snippet[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (name.endsWith('.md')) {
        const lines = readFileSync(full, 'utf8').split('\n');
        for (let i = 0; i < lines.length; i++) {
          if (/^```ts\s+runnable\s*$/.test(lines[i] as string)) {
            const start = i;
            const body: string[] = [];
            for (i++; i < lines.length && !/^```\s*$/.test(lines[i] as string); i++)
              body.push(lines[i] as string);
            out.push({ page: path.relative(docsDir, full), line: start + 1, code: body.join('\n') });
          }
        }
      }
    }
  };
  walk(docsDir);
  return out;
}
