/**
 * `reproduce`: the SOO paper's RL protocol in one resumable run folder.
 *
 *   <out>/config.json            the settings (a rerun must match them)
 *   <out>/profile/               throughput on this machine (skipped with profileSeconds 0)
 *   <out>/baselines/{deceptive,honest}/   MADDPG baselines (unless given)
 *   <out>/finetune/<arm>-<k>/    K fine-tuned deceptive agents per arm     } in parallel
 *   <out>/classify/              the SOO-value classifier sweep            }
 *   <out>/rubric/                the blue protocol (or the paper's), arms.json, arms.svg
 *   <out>/soo-values/            SOO value of every agent, soo-values.svg
 *   <out>/report.{md,json}
 *
 * Every phase is a `runPhase` (phase.ts). Long phases run in worker threads (worker-pool.ts). Progress is
 * reported through `onEvent` (events.ts); nothing is printed here.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { NotFoundError } from '@soo/core';
import { rlProfile, rlRubric } from '../cli.js';
import { STEPS_PER_EPISODE, tailMean } from '../format.js';
import { classifySummary, writeClassify } from '../soo/classify-summary.js';
import { REWARDS, shippedBaseline, shippedBaselinesDir } from './baselines.js';
import { claimRunFolder, type ReproduceConfig } from './config.js';
import type { ReproduceEvent, ReproduceEventListener } from './events.js';
import { runPhase, type PhaseOutcome } from './phase.js';
import { buildReport, reproduceCommand } from './report.js';
import type { TaskRunner } from './tasks.js';
import { WorkerPool } from './worker-pool.js';
import { runBlueRubric, runSooValues, type ArmMembers } from './blue-rubric.js';

/** The fine-tuning arms: the paper's SOO setting, and the same fine-tuning without the SOO term. */
export const FINETUNE_ARMS = [
  { name: 'soo', lambda: 1, beta: 1 },
  { name: 'control', lambda: 0, beta: 1 },
] as const;

export interface ReproduceOptions {
  /** The run folder, as the user named it (report.md quotes it). */
  out: string;
  config: ReproduceConfig;
  /** Seconds per throughput measurement; 0 skips the profile phase. */
  profileSeconds: number;
  /** Phases run in parallel worker threads (ignored when `runner` is given). */
  jobs?: number;
  /** Where the long phases run (default: a WorkerPool of `jobs` threads). */
  runner?: TaskRunner;
  /** Abort to stop: workers are terminated, finished phases are kept, and the call rejects. */
  signal?: AbortSignal;
  onEvent?: ReproduceEventListener;
}

export interface ReproduceResult {
  markdown: string;
  summary: Record<string, unknown>;
  /** `<out>/report.md`. */
  reportFile: string;
}

/** Thrown when `signal` aborted the run; the finished phases stay in the run folder. */
export class ReproduceInterruptedError extends Error {
  override name = 'ReproduceInterruptedError';
}

/** Progress windows of about 20 reports per phase, at most every 500 episodes. */
const progressEvery = (episodes: number): number => Math.max(1, Math.min(500, Math.ceil(episodes / 20)));

/** Run (or resume) the whole protocol; returns the report. */
export async function reproduce(opts: ReproduceOptions): Promise<ReproduceResult> {
  const { config, profileSeconds } = opts;
  const seed = config.seed;
  const emit = (e: ReproduceEvent): void => opts.onEvent?.(e);
  const out = resolve(opts.out);
  await mkdir(out, { recursive: true });
  await claimRunFolder(out, config);

  const runner = opts.runner ?? new WorkerPool(opts.jobs ?? 1);
  const onAbort = (): void => {
    emit({ type: 'interrupted' });
    void runner.terminate();
  };
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });
  const progress =
    (phase: string, parallel: boolean) =>
    (p: Parameters<Parameters<TaskRunner['run']>[2]>[0]): void =>
      emit({ type: 'phase-progress', phase, parallel, progress: p });
  const t0 = performance.now();
  try {
    // 0. throughput profile (before anything else runs, so it is not contended by our own work)
    let profile: PhaseOutcome | null = null;
    if (profileSeconds > 0) {
      profile = await runPhase(join(out, 'profile'), 'profile', emit, async (tmp) => {
        const r = await rlProfile({
          seconds: profileSeconds,
          batchSizes: [1024],
          onProgress: progress('profile', false),
        });
        emit({ type: 'phase-work-done', phase: 'profile' });
        await writeFile(join(tmp, 'profile.json'), JSON.stringify(r, null, 2) + '\n');
        return { result: r, loadavg1m: loadavg()[0] };
      });
    }

    // 1. baselines
    const baseDir =
      config.baselines === 'shipped' ? shippedBaselinesDir() : (config.baselines ?? join(out, 'baselines'));
    let baselinePhases: PhaseOutcome[] = [];
    if (config.baselines !== null) {
      if (config.baselines === 'shipped') for (const r of REWARDS) shippedBaseline(r);
      for (const r of REWARDS) {
        if (!existsSync(join(baseDir, r, 'maddpg.json'))) {
          throw new NotFoundError('FILE_NOT_FOUND', `--baselines: no checkpoint at ${join(baseDir, r)}`, {
            file: join(baseDir, r, 'maddpg.json'),
          });
        }
      }
    } else {
      baselinePhases = await Promise.all(
        REWARDS.map((reward, i) => {
          const phase = `train ${reward}`;
          return runPhase(join(baseDir, reward), phase, emit, async (tmp) => {
            const r = await runner.run(
              'rlTrain',
              {
                reward,
                seed: seed + i,
                episodes: config.trainEpisodes,
                maddpg: config.maddpg,
                out: tmp,
                progressEvery: progressEvery(config.trainEpisodes),
              },
              progress(phase, true),
            );
            emit({ type: 'phase-work-done', phase });
            return {
              reward,
              seed: seed + i,
              episodes: r.returns.length,
              envSteps: r.returns.length * STEPS_PER_EPISODE,
              trainSeconds: r.seconds,
              lastReturns: { red: tailMean(r.returns, 100, 0), blue: tailMean(r.returns, 100, 1) },
            };
          });
        }),
      );
    }
    const deceptive = join(baseDir, 'deceptive');
    const honest = join(baseDir, 'honest');

    // 2. the fine-tuning arms (K seeds each; control = the same without the SOO term) and the
    //    classification, in parallel worker threads
    await mkdir(join(out, 'finetune'), { recursive: true });
    const arms: ArmMembers = {};
    const memberRuns: { arm: string; name: string; k: number; lambda: number; beta: number }[] = [];
    for (const arm of FINETUNE_ARMS) {
      arms[arm.name] = {};
      for (let k = 0; k < config.finetuneSeeds; k++) {
        const name = `${arm.name}-${k}`;
        arms[arm.name]![name] = join(out, 'finetune', name);
        memberRuns.push({ arm: arm.name, name, k, lambda: arm.lambda, beta: arm.beta });
      }
    }
    const [classify, ...finetunes] = await Promise.all([
      runPhase(join(out, 'classify'), 'classify', emit, async (tmp) => {
        const t = performance.now();
        const r = await runner.run(
          'rlClassify',
          { deceptive, honest, seeds: config.classifySeeds, episodeCounts: config.classifyEpisodes },
          progress('classify', true),
        );
        const summary = classifySummary(r, (performance.now() - t) / 1000, deceptive, honest);
        emit({ type: 'phase-work-done', phase: 'classify', values: { accuracy: summary.accuracy } });
        await writeClassify(tmp, r, summary);
        const maxN = config.classifyEpisodes[config.classifyEpisodes.length - 1]!;
        return {
          accuracy: summary.accuracy,
          rows: summary.rows,
          envSteps: 2 * config.classifySeeds.length * maxN * STEPS_PER_EPISODE,
        };
      }),
      ...memberRuns.map((m) => {
        const phase = `finetune ${m.name}`;
        return runPhase(join(out, 'finetune', m.name), phase, emit, async (tmp) => {
          const r = await runner.run(
            'rlFinetune',
            {
              from: deceptive,
              episodes: config.finetuneEpisodes,
              // the two arms share their seeds: member k of each arm differs only by the SOO term
              seed: seed + 2 + m.k,
              lambda: m.lambda,
              beta: m.beta,
              out: tmp,
              progressEvery: progressEvery(config.finetuneEpisodes),
            },
            progress(phase, true),
          );
          emit({ type: 'phase-work-done', phase });
          return {
            arm: m.arm,
            from: deceptive,
            lambda: m.lambda,
            beta: m.beta,
            seed: seed + 2 + m.k,
            episodes: r.returns.length,
            envSteps: r.returns.length * STEPS_PER_EPISODE,
            // the phase's wall time includes waiting for a free worker; this is the fine-tuning's own
            workSeconds: r.seconds,
            sooSteps: r.sooLoss.length,
            sooLossFirst: r.sooLoss[0] ?? null,
            sooLossLast: r.sooLoss[r.sooLoss.length - 1] ?? null,
            lastReturns: { red: tailMean(r.returns, 100, 0), blue: tailMean(r.returns, 100, 1) },
          };
        });
      }),
    ]);

    // 3. rubric
    const rubric = await runPhase(join(out, 'rubric'), 'rubric', emit, async (tmp) => {
      if (config.rubricProtocol === 'blue') {
        const r = await runBlueRubric({
          deceptive,
          honest,
          arms,
          seeds: config.rubricSeeds,
          episodes: config.rubricEpisodes,
          out: tmp,
          seed,
          onProgress: progress('rubric', false),
        });
        emit({ type: 'phase-work-done', phase: 'rubric' });
        const blues = 2 + memberRuns.length;
        return {
          protocol: 'blue',
          blue: r,
          envSteps: 2 * 3 * blues * config.rubricSeeds.length * config.rubricEpisodes * STEPS_PER_EPISODE,
        };
      }
      const r = await rlRubric({
        conditions: { deceptive, honest, soo: join(out, 'finetune', 'soo-0') },
        seeds: config.rubricSeeds,
        episodes: config.rubricEpisodes,
        noiseFloorSeedOffset: 100_000,
        out: tmp,
        onProgress: progress('rubric', false),
      });
      emit({ type: 'phase-work-done', phase: 'rubric' });
      const ms = (d: { mean: number; sd: number }) => ({ mean: d.mean, sd: d.sd });
      return {
        protocol: 'paper',
        differences: Object.fromEntries(Object.entries(r.differences).map(([k, d]) => [k, ms(d)])),
        noiseFloor: Object.fromEntries(Object.entries(r.noiseFloor ?? {}).map(([k, d]) => [k, ms(d)])),
        envSteps: 2 * 3 * config.rubricSeeds.length * config.rubricEpisodes * STEPS_PER_EPISODE,
      };
    });

    // 4. the SOO value of every agent on every classifier seed (the distribution plot)
    const sooValues = await runPhase(join(out, 'soo-values'), 'soo-values', emit, async (tmp) => {
      const groups: Record<string, string[]> = { deceptive: [deceptive], honest: [honest] };
      for (const [arm, members] of Object.entries(arms)) groups[arm] = Object.values(members);
      const r = await runSooValues({
        groups,
        seeds: config.classifySeeds,
        episodes: config.sooValueEpisodes,
        out: tmp,
        onProgress: progress('soo-values', false),
      });
      emit({ type: 'phase-work-done', phase: 'soo-values' });
      const agents = Object.values(groups).reduce((a, g) => a + g.length, 0);
      return {
        ...r,
        envSteps: agents * config.classifySeeds.length * config.sooValueEpisodes * STEPS_PER_EPISODE,
      };
    });

    const report = buildReport({
      config,
      profile,
      baselinePhases,
      baseDir,
      finetunes,
      classify,
      sooValues,
      classifyTable: await readFile(join(out, 'classify', 'table.txt'), 'utf8'),
      rubric,
      invocationSeconds: (performance.now() - t0) / 1000,
      command: reproduceCommand(opts.out, config, profileSeconds),
    });
    const reportFile = join(out, 'report.md');
    await writeFile(reportFile, report.markdown);
    await writeFile(join(out, 'report.json'), JSON.stringify(report.summary, null, 2) + '\n');
    emit({ type: 'report-written', file: reportFile });
    return { ...report, reportFile };
  } catch (e) {
    if (runner.interrupted || opts.signal?.aborted) {
      throw new ReproduceInterruptedError(
        `interrupted; rerun the same command to resume (finished phases in ${out})`,
        { cause: e },
      );
    }
    throw e;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    await runner.terminate();
  }
}
