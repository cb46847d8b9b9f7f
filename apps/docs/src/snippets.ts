import { readFileSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';

export type SnippetLang = 'ts' | 'bash';

export interface Snippet {
  /** Page path relative to docs/. */
  page: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: SnippetLang;
  code: string;
  /**
   * The ```text output block right after the snippet (blank lines between allowed), if any: lines the
   * snippet must print, in order (see `matchOutput`).
   */
  output: string[] | null;
}

/**
 * Every fenced block opened with ```ts runnable or ```bash runnable in the docs pages, each with the
 * ```text output block that follows it. Blocks of one page run in order (ts: as one module; bash: in one
 * folder), so a tutorial can build on its earlier steps.
 */
export function collectSnippets(docsDir: string): Snippet[] {
  const out: Snippet[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (name.endsWith('.md'))
        out.push(...pageSnippets(path.relative(docsDir, full), readFileSync(full, 'utf8')));
    }
  };
  walk(docsDir);
  return out;
}

function fenceBody(lines: string[], i: number): { body: string[]; end: number } {
  const body: string[] = [];
  let j = i + 1;
  for (; j < lines.length && !/^```\s*$/.test(lines[j] as string); j++) body.push(lines[j] as string);
  return { body, end: j };
}

export function pageSnippets(page: string, text: string): Snippet[] {
  const out: Snippet[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^```(ts|bash)\s+runnable\s*$/.exec(lines[i] as string);
    if (!m) continue;
    const start = i;
    const { body, end } = fenceBody(lines, i);
    i = end;
    let output: string[] | null = null;
    let k = end + 1;
    while (k < lines.length && (lines[k] as string).trim() === '') k++;
    if (/^```text\s+output\s*$/.test((lines[k] as string | undefined) ?? '')) {
      const o = fenceBody(lines, k);
      output = o.body;
      i = o.end;
    }
    out.push({ page, line: start + 1, lang: m[1] as SnippetLang, code: body.join('\n'), output });
  }
  return out;
}

/** An expected output line as a regex: literal text, where `…` stands for any run of characters. */
function lineRegex(expected: string): RegExp {
  const parts = expected.split('…').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.*')}$`);
}

/**
 * Check that every expected line matches an actual line (trailing spaces ignored), in order; other lines may
 * come between. Returns null when all match, else what is missing.
 */
export function matchOutput(expected: readonly string[], actual: readonly string[]): string | null {
  const act = actual.map((l) => l.trimEnd());
  let pos = 0;
  for (const e of expected) {
    const re = lineRegex(e.trimEnd());
    let found = -1;
    for (let j = pos; j < act.length; j++) {
      if (re.test(act[j] as string)) {
        found = j;
        break;
      }
    }
    if (found < 0) {
      return `expected a line matching ${JSON.stringify(e)} after output line ${pos}, in:\n${act.join('\n')}`;
    }
    pos = found + 1;
  }
  return null;
}
