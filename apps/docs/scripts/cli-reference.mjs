#!/usr/bin/env node
// Writes docs/reference/cli.md from the CLI's own `--help`, every command and subcommand, so the reference
// cannot drift from the code. Needs the built CLI (packages/cli/dist/bin.js); `npm run build` in this folder
// runs it before the site build.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const bin = path.resolve(here, '../../../packages/cli/dist/bin.js');
const out = path.resolve(here, '../docs/reference/cli.md');

if (!existsSync(bin)) {
  console.error(`cli-reference: ${bin} is missing: run npm run build at the repository root first`);
  process.exit(1);
}

function help(words) {
  const r = spawnSync(process.execPath, [bin, ...words, '--help'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`soo ${words.join(' ')} --help exited ${r.status}: ${r.stderr}`);
  return r.stdout.trimEnd();
}

/** Subcommand names listed under "Commands:" in a help text (without `help`). */
export function subcommands(text) {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.trim() === 'Commands:');
  if (i < 0) return [];
  const names = [];
  for (const l of lines.slice(i + 1)) {
    if (!/^ {2}\S/.test(l)) {
      if (l.trim() === '' || /^\S/.test(l)) break;
      continue;
    }
    const name = l.trim().split(/\s+/)[0];
    if (name !== 'help') names.push(name);
  }
  return names;
}

const sections = [];
const walk = (words) => {
  const text = help(words);
  sections.push({ words, text });
  for (const sub of subcommands(text)) walk([...words, sub]);
};
walk([]);

const md = [
  '# CLI reference',
  '',
  "Generated from the `soo` command's own `--help` by `apps/docs/scripts/cli-reference.mjs` at every site",
  'build: it is what `npx soo <command> --help` prints.',
  '',
  ...sections.flatMap(({ words, text }) => [
    `## ${words.length === 0 ? 'soo' : `soo ${words.join(' ')}`}`,
    '',
    '```text',
    text,
    '```',
    '',
  ]),
].join('\n');
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, md);
console.log(`cli-reference: ${sections.length} commands -> ${path.relative(process.cwd(), out)}`);
