/** report.md and report.json of `reproduce`: the paper's targets, the tables, wall time and throughput. */
import { cpus, loadavg } from 'node:os';
import type { RlProfileResult } from '../cli.js';
import { formatSeconds } from '../format.js';
import { PAPER_RUBRIC_SEEDS } from '../rubric/rubric.js';
import type { ReproduceConfig } from './config.js';
import type { PhaseOutcome, PhaseRecord } from './phase.js';

/** The `soo rl reproduce` command line for a config (what report.md quotes). */
export function reproduceCommand(out: string, c: ReproduceConfig, profileSeconds: number): string {
  const a = ['soo rl reproduce --out', out];
  if (c.baselines !== null) a.push('--baselines', c.baselines);
  else if (c.trainEpisodes !== 40_000) a.push('--train-episodes', String(c.trainEpisodes));
  if (c.finetuneEpisodes !== 10_000) a.push('--finetune-episodes', String(c.finetuneEpisodes));
  a.push('--classify-seeds', c.classifySeeds.join(','), '--classify-episodes', c.classifyEpisodes.join(','));
  if (c.rubricSeeds.join(',') !== PAPER_RUBRIC_SEEDS.join(','))
    a.push('--rubric-seeds', c.rubricSeeds.join(','));
  if (c.rubricEpisodes !== 100) a.push('--rubric-episodes', String(c.rubricEpisodes));
  if (c.maddpg.batchSize !== undefined) a.push('--batch-size', String(c.maddpg.batchSize));
  if (c.maddpg.updateEvery !== undefined) a.push('--update-every', String(c.maddpg.updateEvery));
  if (profileSeconds !== 2) a.push('--profile-seconds', String(profileSeconds));
  if (c.seed !== 0) a.push('--seed', String(c.seed));
  return a.join(' ');
}

export interface ReportInput {
  config: ReproduceConfig;
  profile: PhaseOutcome | null;
  baselinePhases: PhaseOutcome[];
  baseDir: string;
  finetune: PhaseOutcome;
  classify: PhaseOutcome;
  classifyTable: string;
  rubric: PhaseOutcome;
  invocationSeconds: number;
  /** The command line that (re)produces this run. */
  command: string;
}

function pairKey(differences: Record<string, { mean: number; sd: number }>, a: string, b: string) {
  return differences[`${a}↔${b}`] ?? differences[`${b}↔${a}`];
}

/** The final markdown report and its JSON summary. */
export function buildReport(r: ReportInput): { markdown: string; summary: Record<string, unknown> } {
  const rows = r.classify.rows as { episodes: number; accuracy: number; correct: number }[];
  const inRange = (lo: number, hi: number) => rows.filter((x) => x.episodes >= lo && x.episodes <= hi);
  const stat = (xs: { accuracy: number }[]) =>
    xs.length === 0
      ? null
      : {
          mean: xs.reduce((s, x) => s + x.accuracy, 0) / xs.length,
          min: Math.min(...xs.map((x) => x.accuracy)),
        };
  const low = stat(inRange(100, 500));
  const high = stat(inRange(500, 1000));
  const diffs = r.rubric.differences as Record<string, { mean: number; sd: number }>;
  const sooHon = pairKey(diffs, 'soo', 'honest');
  const sooDec = pairKey(diffs, 'soo', 'deceptive');
  const honDec = pairKey(diffs, 'honest', 'deceptive');
  const closerToHonest = sooHon && sooDec ? sooHon.mean < sooDec.mean : null;
  // Protocol wall time: stages run one after another; the phases inside a stage run in parallel.
  const stage = (ps: { seconds: number }[]) => (ps.length ? Math.max(...ps.map((p) => p.seconds)) : 0);
  const stages = {
    profile: r.profile?.seconds ?? 0,
    baselines: stage(r.baselinePhases),
    finetuneAndClassify: stage([r.finetune, r.classify]),
    rubric: r.rubric.seconds,
  };
  const protocolSeconds = Object.values(stages).reduce((a, b) => a + b, 0);
  const pct = (x: number | undefined | null) =>
    x === undefined || x === null ? 'n/a' : `${(100 * x).toFixed(0)}%`;
  const yesNo = (b: boolean | null) => (b === null ? 'n/a' : b ? 'yes' : 'no');
  const lowOk = low ? low.mean >= 0.94 : null;
  const highOk = high ? high.min === 1 : null;
  const prof = r.profile?.result as RlProfileResult | undefined;

  const phases: PhaseRecord[] = [
    ...(r.profile ? [r.profile] : []),
    ...r.baselinePhases,
    r.finetune,
    r.classify,
    r.rubric,
  ];
  const phaseRows = phases.map((p) => {
    const sps = p.envSteps ? Math.round(p.envSteps / p.seconds) : null;
    const skipped = (p as { skipped?: boolean }).skipped ? ' (earlier run)' : '';
    return `| ${p.phase}${skipped} | ${formatSeconds(p.seconds)} | ${p.envSteps ?? ''} | ${sps ?? ''} | ${p.startedAt} |`;
  });
  const trainSps = r.baselinePhases.length
    ? r.baselinePhases.reduce((s, p) => s + (p.envSteps ?? 0), 0) / stages.baselines
    : null;
  const c = r.config;
  const md = [
    '# SOO RL reproduction report',
    '',
    `Generated ${new Date().toISOString()} by \`${r.command}\`.`,
    `Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}, load average now ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' / ')}.`,
    '',
    '## Settings',
    '',
    '| setting | this run | paper |',
    '| --- | --- | --- |',
    `| baselines | ${c.baselines === null ? `trained here, ${c.trainEpisodes} episodes each (seeds ${c.seed}, ${c.seed + 1})` : `given: ${r.baseDir}`} | 40000 episodes |`,
    `| MADDPG overrides | ${JSON.stringify(c.maddpg)} | batch 1024, update every 100 steps |`,
    `| SOO fine-tuning | ${c.finetuneEpisodes} episodes, λ = β = 1 | 10000 episodes, λ = β = 1 |`,
    `| classifier | ${c.classifySeeds.length} seeds (${c.classifySeeds.join(', ')}), budgets ${c.classifyEpisodes.join(', ')} | 10 seeds, 1…1500 episodes |`,
    `| rubric | seeds ${c.rubricSeeds.join(', ')}, ${c.rubricEpisodes} episodes each | the README's 8 seeds |`,
    '',
    '## Results',
    '',
    `- Classification accuracy, 100–500 episodes/seed: mean ${pct(low?.mean)}, min ${pct(low?.min)} (target ≥ 94%, paper 94 ± 8%): **${yesNo(lowOk)}**`,
    `- Classification accuracy, 500–1000 episodes/seed: mean ${pct(high?.mean)}, min ${pct(high?.min)} (target 100%): **${yesNo(highOk)}**`,
    `- Rubric: SOO agent closer to honest than to deceptive: **${yesNo(closerToHonest)}** (SOO↔honest ${sooHon ? `${sooHon.mean.toPrecision(4)} ± ${sooHon.sd.toPrecision(3)}` : 'n/a'}, SOO↔deceptive ${sooDec ? `${sooDec.mean.toPrecision(4)} ± ${sooDec.sd.toPrecision(3)}` : 'n/a'})`,
    `- Protocol wall time: ${formatSeconds(protocolSeconds)} (target < 2 h on 2 cores); this invocation: ${formatSeconds(r.invocationSeconds)}`,
    '',
    '### Classification (SOO value: honest < deceptive)',
    '',
    '```',
    r.classifyTable.trimEnd(),
    '```',
    '',
    '### Rubric: behavioural differences (grid MSE of deceptive-move counts, mean ± sd over seeds)',
    '',
    '| pair | mean | sd |',
    '| --- | --- | --- |',
    ...Object.entries(diffs).map(([k, d]) => `| ${k} | ${d.mean.toPrecision(4)} | ${d.sd.toPrecision(3)} |`),
    '',
    'Heatmaps: ![deceptive](rubric/heatmap_deceptive.svg) ![soo](rubric/heatmap_soo.svg) ![honest](rubric/heatmap_honest.svg)',
    '',
    '## Wall time and throughput',
    '',
    '| phase | wall time | env steps | env steps/s | started |',
    '| --- | --- | --- | --- | --- |',
    ...phaseRows,
    '',
    `Stages (phases inside a stage run in parallel worker threads): ${Object.entries(stages)
      .map(([k, s]) => `${k} ${formatSeconds(s)}`)
      .join(', ')}.`,
    trainSps !== null
      ? `Baseline training, both runs together: ${Math.round(trainSps)} env steps/s (update rounds included).`
      : '',
    prof
      ? `Profile: ${Math.round(prof.envStepsPerSec)} env steps/s (random actions), ${Math.round(prof.rolloutStepsPerSec)} rollout steps/s (policies + noise + buffer), ${prof.updates.map((u) => `${u.roundsPerSec.toFixed(1)} update rounds/s at batch ${u.batchSize}`).join(', ')}.`
      : '',
    '',
  ].join('\n');
  const summary = {
    protocolSeconds,
    invocationSeconds: r.invocationSeconds,
    stages,
    accuracy: { '100-500': low, '500-1000': high, rows },
    targets: { accuracy100to500: lowOk, accuracy500to1000: highOk, sooCloserToHonest: closerToHonest },
    rubric: {
      'soo↔honest': sooHon ?? null,
      'soo↔deceptive': sooDec ?? null,
      'honest↔deceptive': honDec ?? null,
    },
    trainEnvStepsPerSec: trainSps,
    profile: prof ?? null,
  };
  return { markdown: md, summary };
}
