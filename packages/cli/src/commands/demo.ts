/**
 * `soo demo`: SOO end to end on the embedded toy model, on a laptop CPU in a few minutes.
 *
 * It is an experiment (arms none / soo / exposure x seeds) run in-process through the same `executeRun` as
 * `soo experiment`, with tables printed as each arm finishes and a report written at the end:
 *
 *   <out>/report.md            the demo report (tables, settings, links to the plots)
 *   <out>/rates_main.svg       deceptive rate on the main scenario by arm
 *   <out>/results.json         every number of the report
 *   <out>/experiment.json      the experiment the demo ran (re-runnable with `soo experiment run`)
 *   <out>/runs/<run>/          each run's adapter, answers, latent and capability files and plots
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import {
  FormatError,
  PAPER_SEEDS,
  aggregate,
  executeRun,
  loadDecoderConfig,
  parameterCount,
  parseExperimentConfig,
  planRuns,
  toyModelDir,
  writeExperimentReport,
  writeFileAtomic,
  writeRunSpec,
  type RunSummary,
} from '@soo/core';
import type { Command } from 'commander';
import { parseNumber } from '../args.js';
import { BACKEND_HELP, resolveBackend } from '../backends.js';
import { UsageError } from '../errors.js';
import { type Io, printJson, table } from '../io.js';
import { createProgress } from '../progress.js';
import {
  ARM_TITLE,
  DEMO_SCENARIOS,
  type DemoModelFacts,
  baselineWarning,
  demoChart,
  demoMarkdown,
  demoTable,
} from './demo-report.js';

/** The model's parameter count (from its config) and, for a toy model, its world's room order. */
async function demoModelFacts(modelDir: string): Promise<DemoModelFacts> {
  const parameters = parameterCount(await loadDecoderConfig(modelDir));
  const file = path.join(modelDir, 'training.json');
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    // A model folder without a toy training record: nothing more to say about it.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { parameters, order: null };
    throw e;
  }
  let rec: unknown;
  try {
    rec = JSON.parse(text);
  } catch (e) {
    throw new FormatError(
      'DATA_INVALID',
      `${file}: expected JSON (a toy training record): ${(e as Error).message}`,
      {
        file,
      },
    );
  }
  const order = rec !== null && typeof rec === 'object' ? (rec as { order?: unknown }).order : undefined;
  return { parameters, order: typeof order === 'string' ? order : null };
}

interface DemoOpts {
  model?: string;
  out: string;
  seeds: string;
  n: string;
  epochs?: string;
  layer?: string;
  lr?: string;
  pooling?: string;
  maxTokens: string;
  latentLimit?: string;
  backend?: string;
  json?: boolean;
}

/**
 * A phase line with its elapsed seconds (evaluation, latent SOO and capability report no progress of their
 * own): redrawn every second on a terminal, a plain "phase..." line otherwise. `stop` ends the line, so
 * nothing is left half-drawn.
 */
export function phaseTicker(io: Io): { start(phase: string): void; stop(): void } {
  let timer: ReturnType<typeof setInterval> | null = null;
  let label = '';
  let t0 = 0;
  const seconds = () => Math.round((Date.now() - t0) / 1000);
  const draw = () => io.err(`\r${label}... ${seconds()} s\x1b[K`);
  let active = false;
  return {
    start(phase) {
      this.stop();
      label = phase;
      t0 = Date.now();
      active = true;
      if (!io.isTTY) {
        io.err(`${phase}...\n`);
        return;
      }
      draw();
      timer = setInterval(draw, 1000);
      timer.unref?.();
    },
    stop() {
      if (!active) return;
      active = false;
      if (timer) {
        clearInterval(timer);
        timer = null;
        io.err(`\r${label}: ${seconds()} s\x1b[K\n`);
      }
    },
  };
}

export function registerDemo(program: Command, io: Io): void {
  program
    .command('demo')
    .description(
      'SOO end to end on the embedded toy model: baseline, SOO fine-tuning, exposure control, latent SOO, capability, report',
    )
    .option('--model <dir>', 'model folder (default: the embedded toy model)')
    .option('--out <dir>', 'output folder (replaced)', 'soo-demo-output')
    .option(
      '--seeds <list>',
      `comma-separated training seeds, or "paper" (${PAPER_SEEDS.join(', ')})`,
      'paper',
    )
    .option('--n <n>', 'prompts per scenario and per mirrored control', '30')
    .option('--epochs <n>', 'SOO / exposure epochs over the 52 pairs (default: the toy-house preset)')
    .option('--layer <n>', 'hooked layer (default: the toy-house preset)')
    .option('--lr <x>', 'learning rate (default: the toy-house preset)')
    .option('--pooling <p>', 'token alignment: last | mean | full (default: the toy-house preset)')
    .option('--max-tokens <n>', 'held-out text tokens for the capability measure', '2048')
    .option('--latent-limit <n>', 'probe pairs for latent SOO (default all 52)')
    .option('--backend <name>', BACKEND_HELP)
    .option('--json', 'progress and results as JSON lines')
    .action(async (opts: DemoOpts) => {
      const json = Boolean(opts.json);
      const seeds =
        opts.seeds === 'paper'
          ? [...PAPER_SEEDS]
          : opts.seeds.split(',').map((s) => parseNumber('--seeds', s.trim(), { integer: true, min: 0 }));
      if (seeds.length === 0) throw new UsageError('--seeds: expected at least one seed');
      const n = parseNumber('--n', opts.n, { integer: true, min: 1 });
      const maxTokens = parseNumber('--max-tokens', opts.maxTokens, { integer: true, min: 16 });
      const modelDir = path.resolve(opts.model ?? toyModelDir());
      const out = path.resolve(opts.out);
      const train: Record<string, unknown> = { preset: 'toy-house' };
      if (opts.epochs !== undefined)
        train.epochs = parseNumber('--epochs', opts.epochs, { integer: true, min: 1 });
      if (opts.layer !== undefined)
        train.layer = parseNumber('--layer', opts.layer, { integer: true, min: 0 });
      if (opts.lr !== undefined) train.lr = parseNumber('--lr', opts.lr, { min: 0 });
      if (opts.pooling !== undefined) train.pooling = opts.pooling;
      const cfgFile = path.join(out, 'experiment.json');
      const cfg = parseExperimentConfig(
        {
          name: 'soo-demo',
          model: modelDir,
          ...(opts.backend ? { backend: opts.backend } : {}),
          arms: ['none', 'soo', 'exposure'],
          seeds,
          train,
          eval: {
            scenarios: DEMO_SCENARIOS.map(([s]) => s),
            mirrored: true,
            n,
            suffix: 'gemma',
            seed: 0,
            maxNewTokens: 8,
            batch: 25,
          },
          latent: {
            modules: 'all',
            pooling: 'full',
            ...(opts.latentLimit !== undefined
              ? { limit: parseNumber('--latent-limit', opts.latentLimit, { integer: true, min: 1 }) }
              : {}),
          },
          capability: { text: path.join(modelDir, 'capability.txt'), maxTokens },
        },
        cfgFile,
      );
      await fsp.rm(out, { recursive: true, force: true });
      await fsp.mkdir(path.join(out, 'runs'), { recursive: true });
      const { file: _f, ...normalised } = cfg;
      await writeFileAtomic(cfgFile, JSON.stringify(normalised, null, 2) + '\n');
      const backend = await resolveBackend(cfg.backend);
      const t0 = performance.now();
      if (!json) io.err(`soo demo: model ${modelDir}, backend ${backend.name}, seeds ${seeds.join(', ')}\n`);
      const summaries: RunSummary[] = [];
      for (const spec of planRuns(cfg)) {
        const runFile = await writeRunSpec(path.join(out, 'runs', spec.id), spec);
        if (!json) io.err(`\n== ${spec.id}: ${ARM_TITLE[spec.arm] ?? spec.arm} ==\n`);
        let bar: ReturnType<typeof createProgress> | null = null;
        const ticker = phaseTicker(io);
        let summary: RunSummary;
        try {
          summary = await executeRun(runFile, async () => backend, {
            onPhase: (phase) => {
              ticker.stop();
              if (json) printJson(io, { event: 'phase', run: spec.id, phase });
              else if (phase !== 'train') ticker.start(phase);
            },
            onTrainStep: (e) => {
              ticker.stop();
              bar ??= createProgress(io, { label: `${spec.arm} step`, total: e.totalSteps, json });
              bar.update(e.step, { loss: e.loss });
              if (e.step === e.totalSteps) bar.finish({ loss: e.loss });
            },
          });
        } finally {
          ticker.stop();
        }
        summaries.push(summary);
        if (json) printJson(io, { event: 'run', ...summary });
        else
          io.out(
            `\n${spec.id}: ${ARM_TITLE[spec.arm] ?? spec.arm}\n${table(demoTable(aggregate([summary])))}\n`,
          );
      }
      const t = await writeExperimentReport(out, cfg, summaries);
      const report = path.join(out, 'report.md');
      const facts = await demoModelFacts(modelDir);
      await writeFileAtomic(path.join(out, 'rates_scenarios.svg'), demoChart(t, summaries));
      await writeFileAtomic(report, demoMarkdown(cfg, t, summaries, facts));
      const seconds = (performance.now() - t0) / 1000;
      if (json) printJson(io, { event: 'result', out, report, seconds, table: t });
      else {
        io.out(`\nSummary (${seeds.length} seed${seeds.length > 1 ? 's' : ''})\n${table(demoTable(t))}\n`);
        const warning = baselineWarning(t);
        if (warning) io.out(`Note: ${warning}\n`);
        io.err(`\nreport: ${report} (${seconds.toFixed(0)} s)\n`);
      }
    });
}
