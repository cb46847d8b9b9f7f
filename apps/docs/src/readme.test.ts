// Every `npx soo …` command of the repository README, run as written, in order, from a fresh-clone layout
// (after `npm ci && npm run build`), with npm offline so that `npx soo` can only resolve to the workspace.
// Each command's result is checked. The one long command (the 5-seed demo) runs with fewer seeds and prompts.
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliBuilt, freshLayout, repoRoot, runShell } from './layout.js';

const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');

/** The README's `npx soo` commands, in order. */
export function readmeCommands(text: string): string[] {
  const blocks = [...text.matchAll(/^```bash\n([\s\S]*?)^```/gm)].map((m) => m[1] as string);
  return blocks.flatMap((b) =>
    b
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.startsWith('npx soo ')),
  );
}

const LONG_DEMO = '--seeds paper --n 250';
const SHORT_DEMO = '--seeds 276 --n 4 --epochs 1 --latent-limit 4 --max-tokens 64';

const commands = readmeCommands(readme);
const dir = freshLayout('soo-readme-');
const read = (f: string) => readFileSync(path.join(dir, f), 'utf8');
const jsonLines = (s: string) =>
  s
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** What each README command must have done (by its subcommand). */
const checks: Record<string, (out: string) => void> = {
  inspect: (out) => {
    expect(out).toMatch(/parameters\s+754\.8 K \(754,816\)/);
    expect(out).toContain('model.layers.{0..3}.self_attn.o_proj');
  },
  tokenize: (out) => {
    const j = JSON.parse(out) as { ids: number[]; text: string };
    expect(j.text).toBe('<|bos|><|user|>\nWhich room?<|end|>\n<|assistant|>\n');
    expect(j.ids.length).toBeGreaterThan(5);
  },
  forward: () => {
    const buf = readFileSync(path.join(dir, 'fwd.safetensors'));
    const header = JSON.parse(buf.subarray(8, 8 + Number(buf.readBigUInt64LE(0))).toString('utf8')) as object;
    expect(Object.keys(header).join(' ')).toContain('model.layers.2.self_attn.o_proj');
  },
  step: () => {
    const buf = readFileSync(path.join(dir, 's.safetensors'));
    const header = JSON.parse(buf.subarray(8, 8 + Number(buf.readBigUInt64LE(0))).toString('utf8')) as object;
    expect(Object.keys(header)).toContain('loss');
  },
  train: () => {
    const cfg = JSON.parse(read('runs/soo-276/adapter_config.json')) as { peft_type: string; r: number };
    expect(cfg).toMatchObject({ peft_type: 'LORA', r: 8 });
    expect(existsSync(path.join(dir, 'runs/soo-276/adapter_model.safetensors'))).toBe(true);
  },
  eval: () => {
    const answers = read('eval/answers.jsonl').trim().split('\n');
    expect(answers).toHaveLength(150);
    const r = JSON.parse(read('eval/results.json')) as { scenarios: Array<{ scenario: string; n: number }> };
    expect(r.scenarios.map((s) => [s.scenario, s.n])).toEqual([
      ['main', 50],
      ['honesty', 50],
      ['perspectives', 50],
    ]);
  },
  latent: () => {
    const l = JSON.parse(read('latent/latent.json')) as { base: { mean: number }; adapter: { mean: number } };
    expect(l.base.mean).toBeGreaterThan(0);
    expect(l.adapter.mean).toBeGreaterThan(0);
  },
  capability: () => {
    expect(existsSync(path.join(dir, 'capability/capability.json'))).toBe(true);
  },
  score: (out) => {
    // Per scenario: Perspectives is scored as correct / incorrect, never pooled with the others.
    expect(out).toContain('scenario main (scored as main)');
    expect(out).toContain('scenario perspectives (scored as perspectives)');
    expect(out).toMatch(/correct rate \(soo\): \d+\.\d%/);
    expect(out).toContain('3 scenarios, scored apart');
  },
  experiment: () => {
    const report = read('experiment-out/report.md');
    expect(report).toContain('## Answers by category, %');
    expect(readFileSync(path.join(dir, 'experiment-out/runs/soo-seed809/summary.json'), 'utf8')).toContain(
      '"arm": "soo"',
    );
  },
  rl: (out) => {
    const last = jsonLines(out).at(-1) as { accuracy: number; seeds: number[] };
    expect(last.seeds).toHaveLength(10);
    expect(last.accuracy).toBeGreaterThanOrEqual(0.9);
  },
  demo: () => {
    const report = read('soo-demo-output/report.md');
    expect(report).toContain('# SOO demo on the embedded toy model');
    expect(report).toContain('754,816-parameter Llama');
  },
};

describe('every README command works as written on a fresh clone', () => {
  it('the README lists the commands this test knows how to check', () => {
    expect(commands.length).toBeGreaterThanOrEqual(12);
    for (const c of commands) expect(Object.keys(checks), c).toContain(c.split(/\s+/)[2]);
    expect(commands.filter((c) => c.includes(LONG_DEMO))).toHaveLength(1);
    // Every path a command names lies inside the clone (nothing beside it, such as a sibling fixtures folder).
    expect(commands.filter((c) => /(^|\s|=)\.\.\//.test(c) || /\s\/(?!tmp\/)/.test(c))).toEqual([]);
  });

  it.each(commands)('%s', (command) => {
    expect(cliBuilt(), 'packages/cli/dist/bin.js: run npm run build first').toBe(true);
    const run = command.includes(LONG_DEMO) ? command.replace(LONG_DEMO, SHORT_DEMO) : command;
    const r = runShell(run, dir, 600_000);
    expect(r.status, `${run}\n${r.stderr.slice(-3000)}`).toBe(0);
    expect(r.stderr).not.toMatch(/ENOTCACHED|E404|registry\.npmjs/);
    checks[command.split(/\s+/)[2] as string]!(r.stdout);
  });
});
