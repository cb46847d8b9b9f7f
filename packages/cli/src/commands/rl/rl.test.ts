import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_USAGE } from '../../errors.js';
import { runCli } from '../../testing.js';

const run = runCli;

// Tiny budgets: a few episodes, batch 64, an update round every 25 steps (seconds, not the paper's hour).
const TINY = ['--batch-size', '64', '--update-every', '25'];
let dir: string;
let baselines: string;
const savedEnv = process.env.SOO_RL_BASELINES_DIR;

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'soo-rl-cli-'));
  baselines = path.join(dir, 'baselines');
});

afterAll(async () => {
  if (savedEnv === undefined) delete process.env.SOO_RL_BASELINES_DIR;
  else process.env.SOO_RL_BASELINES_DIR = savedEnv;
  await fsp.rm(dir, { recursive: true, force: true });
});

describe('soo rl', () => {
  it('train writes a checkpoint for each reward', async () => {
    for (const [reward, seed] of [
      ['deceptive', '1'],
      ['honest', '2'],
    ] as const) {
      const out = path.join(baselines, reward);
      const r = await run([
        'rl',
        'train',
        '--reward',
        reward,
        '--episodes',
        '25',
        '--seed',
        seed,
        ...TINY,
        '--out',
        out,
      ]);
      expect(r.code, r.err).toBe(0);
      for (const f of ['maddpg.json', 'maddpg.safetensors', 'returns.json'])
        expect(existsSync(path.join(out, f))).toBe(true);
      expect(r.err).toMatch(/trained .* baseline: 25 episodes/);
    }
    const j = await run([
      'rl',
      'train',
      '--reward',
      'honest',
      '--episodes',
      '3',
      '--out',
      path.join(dir, 'h3'),
      '--json',
    ]);
    expect(j.code, j.err).toBe(0);
    const last = JSON.parse(j.out.trim().split('\n').pop()!) as { event: string; episodes: number };
    expect(last).toMatchObject({ event: 'summary', episodes: 3 });
  });

  it('classify --json ends with the accuracy and writes its files', async () => {
    const out = path.join(dir, 'classify');
    const r = await run([
      'rl',
      'classify',
      '--deceptive',
      path.join(baselines, 'deceptive'),
      '--honest',
      path.join(baselines, 'honest'),
      '--seeds',
      '3',
      '--episodes',
      '1,4',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.err).toBe(0);
    const last = JSON.parse(r.out.trim().split('\n').pop()!) as {
      accuracy: number;
      rows: unknown[];
      seeds: number[];
    };
    expect(last.accuracy).toBeGreaterThanOrEqual(0);
    expect(last.accuracy).toBeLessThanOrEqual(1);
    expect(last.rows).toHaveLength(2);
    expect(last.seeds).toHaveLength(3);
    expect(Object.keys(last)[0]).toBe('accuracy');
    expect(existsSync(path.join(out, 'classify.json'))).toBe(true);
    expect(await fsp.readFile(path.join(out, 'table.txt'), 'utf8')).toMatch(/episodes\/seed\s+accuracy/);
  });

  it('classify defaults to the shipped baselines, and names the missing folder when there are none', async () => {
    process.env.SOO_RL_BASELINES_DIR = baselines;
    const ok = await run(['rl', 'classify', '--seeds', '155,714', '--episodes', '2']);
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toMatch(/episodes\/seed/);
    const missing = path.join(dir, 'no-such-assets');
    process.env.SOO_RL_BASELINES_DIR = missing;
    const bad = await run(['rl', 'classify', '--seeds', '2', '--episodes', '2']);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain(path.join(missing, 'deceptive'));
    expect(bad.err).toContain('npm run rl:baselines');
    expect(bad.err).toContain('FILE_NOT_FOUND');
  });

  it('finetune, rubric and profile write their files', async () => {
    const soo = path.join(dir, 'soo');
    const f = await run([
      'rl',
      'finetune',
      '--from',
      path.join(baselines, 'deceptive'),
      '--episodes',
      '6',
      '--seed',
      '3',
      '--out',
      soo,
    ]);
    expect(f.code, f.err).toBe(0);
    for (const x of ['maddpg.json', 'maddpg.safetensors', 'returns.json'])
      expect(existsSync(path.join(soo, x))).toBe(true);

    const fig = path.join(dir, 'figures');
    const r = await run([
      'rl',
      'rubric',
      '--deceptive',
      path.join(baselines, 'deceptive'),
      '--honest',
      path.join(baselines, 'honest'),
      '--soo',
      soo,
      '--seeds',
      '155,714',
      '--episodes',
      '2',
      '--out',
      fig,
      '--json',
    ]);
    expect(r.code, r.err).toBe(0);
    const summary = JSON.parse(r.out.trim().split('\n').pop()!) as { differences: Record<string, unknown> };
    expect(Object.keys(summary.differences)).toHaveLength(3);
    for (const x of ['rubric.json', 'heatmap_soo.svg', 'trajectory_honest.svg'])
      expect(existsSync(path.join(fig, x))).toBe(true);

    // Noise floor and a common opponent: every agent against the deceptive baseline's red.
    const fig2 = path.join(dir, 'figures-opponent');
    const r2 = await run([
      'rl',
      'rubric',
      '--deceptive',
      path.join(baselines, 'deceptive'),
      '--honest',
      path.join(baselines, 'honest'),
      '--seeds',
      '155',
      '--episodes',
      '2',
      '--noise-floor',
      '1000',
      '--opponent',
      'deceptive',
      '--out',
      fig2,
      '--json',
    ]);
    expect(r2.code, r2.err).toBe(0);
    const s2 = JSON.parse(r2.out.trim().split('\n').pop()!) as { noiseFloor: Record<string, unknown> };
    expect(Object.keys(s2.noiseFloor).sort()).toEqual(['deceptive↔deceptive′', 'honest↔honest′']);
    const written = JSON.parse(await fsp.readFile(path.join(fig2, 'rubric.json'), 'utf8')) as {
      opponent: { from: string };
    };
    expect(written.opponent.from).toBe('deceptive');
    const bad = await run([
      'rl',
      'rubric',
      '--opponent',
      'nobody',
      '--seeds',
      '155',
      '--episodes',
      '1',
      '--out',
      fig2,
    ]);
    expect(bad.code).toBe(1);

    const pf = path.join(dir, 'profile.json');
    const p = await run(['rl', 'profile', '--seconds', '0.05', '--batch-sizes', '64', '--out', pf]);
    expect(p.code, p.err).toBe(0);
    expect(p.out).toMatch(/env steps\/s/);
    const prof = JSON.parse(await fsp.readFile(pf, 'utf8')) as { envStepsPerSec: number };
    expect(prof.envStepsPerSec).toBeGreaterThan(0);
  });

  it('reproduce runs every phase, writes report.md, and resumes', async () => {
    const out = path.join(dir, 'repro');
    const args = [
      'rl',
      'reproduce',
      '--out',
      out,
      '--train-episodes',
      '25',
      '--finetune-episodes',
      '6',
      '--finetune-seeds',
      '2',
      '--classify-seeds',
      '2',
      '--classify-episodes',
      '1,3',
      '--rubric-seeds',
      '155,714',
      '--rubric-episodes',
      '2',
      '--soo-value-episodes',
      '2',
      '--profile-seconds',
      '0.05',
      ...TINY,
    ];
    const r = await run(args);
    expect(r.code, r.err).toBe(0);
    for (const x of [
      'config.json',
      'report.md',
      'report.json',
      'profile/phase.json',
      'baselines/deceptive/maddpg.json',
      'baselines/honest/maddpg.json',
      'finetune/soo-0/maddpg.json',
      'finetune/soo-1/maddpg.json',
      'finetune/control-0/maddpg.json',
      'finetune/control-1/maddpg.json',
      'classify/classify.json',
      'rubric/arms.json',
      'rubric/arms.svg',
      'soo-values/soo-values.svg',
    ]) {
      expect(existsSync(path.join(out, x)), x).toBe(true);
    }
    const report = await fsp.readFile(path.join(out, 'report.md'), 'utf8');
    for (const s of [
      '## Results',
      'episodes/seed',
      'Rubric: blue against common reds (2 episodes per env seed, 2 env seeds)',
      '| soo | 2 |',
      '| control | 2 |',
      'SOO value per agent',
      'What this shows, and what it does not',
      'env steps/s',
      'Protocol wall time',
    ]) {
      expect(report).toContain(s);
    }
    expect(existsSync(path.join(out, 'baselines', 'deceptive.partial'))).toBe(false);

    const again = await run([...args, '--json']);
    expect(again.code, again.err).toBe(0);
    expect(again.err.match(/done earlier, skipping/g)).toHaveLength(10);
    const summary = JSON.parse(again.out.trim().split('\n').pop()!) as {
      event: string;
      protocolSeconds: number;
    };
    expect(summary.event).toBe('summary');
    expect(summary.protocolSeconds).toBeGreaterThan(0);

    const other = await run([...args.slice(0, -TINY.length), '--batch-size', '32']);
    expect(other.code).toBe(EXIT_USAGE);
    expect(other.err).toMatch(/other settings/);
  });

  it('reproduce --budget takes the shipped baselines; explicit flags win over the preset', async () => {
    const out = path.join(dir, 'budget');
    process.env.SOO_RL_BASELINES_DIR = baselines; // "shipped" = wherever this points (small ones here)
    const r = await run([
      'rl',
      'reproduce',
      '--budget',
      '--out',
      out,
      '--finetune-episodes',
      '2',
      '--finetune-seeds',
      '1',
      '--classify-seeds',
      '2',
      '--classify-episodes',
      '1,2',
      '--rubric-seeds',
      '155',
      '--rubric-episodes',
      '2',
      '--soo-value-episodes',
      '1',
      '--profile-seconds',
      '0',
    ]);
    expect(r.code, r.err).toBe(0);
    const cfg = JSON.parse(await fsp.readFile(path.join(out, 'config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(cfg).toMatchObject({
      baselines: 'shipped',
      finetuneEpisodes: 2,
      finetuneSeeds: 1,
      rubricEpisodes: 2,
      rubricProtocol: 'blue',
    });
    expect(existsSync(path.join(out, 'baselines'))).toBe(false);
  });

  it('usage errors exit 2', async () => {
    const out = path.join(dir, 'x');
    for (const args of [
      ['rl', 'train', '--reward', 'sneaky', '--out', out],
      ['rl', 'train', '--reward', 'honest'],
      ['rl', 'train', '--reward', 'honest', '--episodes', '0', '--out', out],
      ['rl', 'classify', '--seeds', '0'],
      ['rl', 'classify', '--episodes', 'many'],
      ['rl', 'finetune', '--out', out, '--lambda', '-1'],
      ['rl', 'rubric', '--no-baselines', '--soo', out, '--out', out],
      ['rl', 'rubric', '--condition', 'bad name', '--out', out],
      ['rl', 'profile', '--seconds', '0'],
      ['rl', 'reproduce'],
      ['rl', 'reproduce', '--out', out, '--rubric-protocol', 'own'],
      ['rl', 'reproduce', '--out', out, '--finetune-seeds', '0'],
      ['rl', 'nope'],
    ]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(EXIT_USAGE);
    }
  });
});
