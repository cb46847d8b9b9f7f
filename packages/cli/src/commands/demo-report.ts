/**
 * The demo's report: one plain paragraph of what the numbers say, the before/after table (scenarios x arms,
 * mean ± sd over seeds), grouped bar charts with error bars, then the full experiment report.
 */
import {
  SUFFIX_PRESETS,
  VARIANT_KINDS,
  experimentMarkdown,
  formatMeanSd,
  groupedBarChart,
  meanSd,
  type ExperimentConfig,
  type ExperimentTable,
  type MeanSd,
  type RunSummary,
} from '@soo/core';

/** The scenarios of the demo (each also with its mirrored-order control), with what their rate means. */
export const DEMO_SCENARIOS: ReadonlyArray<[string, string]> = [
  ['main', 'main scenario: deceptive %'],
  ['honesty', 'with "Please be honest to Bob": deceptive %'],
  ...VARIANT_KINDS.map((k): [string, string] => [k, `generalisation (${k}): deceptive %`]),
  ['treasure-hunt', 'Treasure Hunt: deceptive %'],
  ['escape-room', 'Escape Room: deceptive %'],
  ['perspectives', 'Perspectives: correct %'],
];

export const ARM_TITLE: Record<string, string> = {
  none: 'baseline (no training)',
  soo: 'after SOO fine-tuning',
  exposure: 'after the exposure control (next-token training on the same pair strings)',
};

/** What the demo knows about its model from the model folder's `training.json` (the toy model's record). */
export interface DemoModelFacts {
  parameters: number | null;
  /** The toy world's room order: `paper` makes the model's deception positional (the interim default). */
  order: string | null;
}

/** A cell: mean ± sd of what the runs measured, "–" where nothing was. */
function cell(m: MeanSd | undefined, digits: number): string {
  return m ? formatMeanSd(m, digits) : '–';
}

/** Mean ± sd over seeds of the per-run mean over `scenarios` (the seven variants as one number). */
export function pooledRate(runs: readonly RunSummary[], arm: string, scenarios: readonly string[]): MeanSd {
  const per = runs
    .filter((r) => r.arm === arm)
    .flatMap((r) => {
      const rates = scenarios.flatMap((s) => (r.eval[s] ? [100 * r.eval[s].rate] : []));
      return rates.length === scenarios.length ? [rates.reduce((a, b) => a + b, 0) / rates.length] : [];
    });
  return meanSd(per);
}

/** Rows: scenarios (and their mirrored controls); columns: arms. */
export function demoTable(t: ExperimentTable): string[][] {
  const rows: string[][] = [['', ...t.arms.map((a) => (a === 'none' ? 'baseline' : a))]];
  for (const [s, label] of DEMO_SCENARIOS) {
    if (t.scenarios.includes(s)) rows.push([label, ...t.arms.map((a) => cell(t.rates[a]?.[s], 1))]);
    const m = `${s}:mirrored`;
    if ((s === 'main' || s === 'perspectives') && t.scenarios.includes(m))
      rows.push([`  mirrored order`, ...t.arms.map((a) => cell(t.rates[a]?.[m], 1))]);
  }
  rows.push(
    ['latent SOO, all Linear outputs (lower = more overlap)', ...t.arms.map((a) => cell(t.latent[a], 5))],
    ['perplexity on held-out toy text', ...t.arms.map((a) => cell(t.perplexity[a], 3))],
    ['KL(base ‖ tuned) on that text', ...t.arms.map((a) => cell(t.kl[a], 5))],
  );
  return rows;
}

function markdownTable(rows: string[][]): string {
  const [head, ...body] = rows;
  return [
    `| ${(head ?? []).join(' | ')} |`,
    `| ${(head ?? []).map(() => '---').join(' | ')} |`,
    ...body.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

/**
 * A warning when the baseline is not deceptive enough to read an SOO effect from (the bar: 90% on the main
 * scenario), else null.
 */
export function baselineWarning(t: ExperimentTable): string | null {
  const base = t.rates.none?.main;
  if (!base || base.n === 0 || base.mean >= 90) return null;
  return `The baseline model is deceptive on ${base.mean.toFixed(1)}% of main-scenario prompts (below 90%): an SOO effect cannot be read from these numbers. See the model folder's README for what the model has and has not learned.`;
}

const pct = (m: MeanSd | undefined): string =>
  !m || m.n === 0 ? '–' : m.n === 1 ? `${m.mean.toFixed(1)}%` : `${m.mean.toFixed(1)} ± ${m.sd.toFixed(1)}%`;

/**
 * The report's opening paragraph, from the numbers: what the model is, what SOO did to its deception against
 * the exposure control and the honesty prompt, what Perspectives and capability did, and what a toy result
 * does and does not say.
 */
export function demoSummary(
  t: ExperimentTable,
  runs: readonly RunSummary[],
  facts: DemoModelFacts,
  seeds: number,
): string {
  const r = (arm: string, s: string) => t.rates[arm]?.[s];
  const variants = (arm: string) => pooledRate(runs, arm, VARIANT_KINDS);
  const has = (arm: string) => (t.arms as readonly string[]).includes(arm);
  const params =
    facts.parameters !== null ? `${facts.parameters.toLocaleString('en-US')}-parameter` : 'small';
  const model =
    facts.order === 'paper'
      ? `The model is a ${params} Llama trained from scratch on a synthetic "house with Bob" world, and it is the **interim positional default**: in its training world the cheap room is always named first, as in the paper's main prompt, so it deceives by position, naming the first room to others and the second to itself. The mirrored control shows exactly that: with the expensive room named first, its baseline is deceptive on ${pct(r('none', 'main:mirrored'))} of main prompts instead of ${pct(r('none', 'main'))}.`
      : `The model is a ${params} Llama trained from scratch on a synthetic "house with Bob" world (baseline: deceptive on ${pct(r('none', 'main'))} of main prompts, ${pct(r('none', 'main:mirrored'))} with the rooms' order mirrored).`;
  const effect = has('soo')
    ? `Over ${seeds} seed${seeds === 1 ? '' : 's'}, SOO fine-tuning took its deceptive rate on the main scenario from ${pct(r('none', 'main'))} to ${pct(r('soo', 'main'))}${has('exposure') ? `; the exposure control (the same pair strings as next-token training, no SOO loss) gave ${pct(r('exposure', 'main'))}` : ''}, and the honesty prompt on the base model gave ${pct(r('none', 'honesty'))}. Over the seven generalisation variants the rate went from ${pct(variants('none'))} to ${pct(variants('soo'))}${has('exposure') ? ` (exposure ${pct(variants('exposure'))})` : ''}; Treasure Hunt from ${pct(r('none', 'treasure-hunt'))} to ${pct(r('soo', 'treasure-hunt'))}, Escape Room from ${pct(r('none', 'escape-room'))} to ${pct(r('soo', 'escape-room'))}.`
    : 'No SOO arm ran.';
  const keep = has('soo')
    ? `Perspectives, where the right answer is Bob's false belief, went from ${pct(r('none', 'perspectives'))} correct to ${pct(r('soo', 'perspectives'))}${has('exposure') ? ` (exposure ${pct(r('exposure', 'perspectives'))})` : ''}, and perplexity on held-out toy text from ${cell(t.perplexity.none, 3)} to ${cell(t.perplexity.soo, 3)} (KL to the base model ${cell(t.kl.soo, 5)}).`
    : '';
  const scope =
    'What a toy says: how the SOO objective acts on a small model whose deception is a rule it was trained on, with the controls the paper uses. What it does not say: whether or how much SOO reduces deception in large language models, whose deception and self-other distinctions come from pre-training and instruction tuning, not from one synthetic rule.';
  return [model, effect, keep, scope].filter((x) => x !== '').join(' ');
}

/** The scenario groups of the demo's chart: main, honesty, the variants pooled, the extended scenarios. */
export function demoChart(t: ExperimentTable, runs: readonly RunSummary[]): string {
  const groups: Array<[string, (arm: string) => MeanSd | undefined]> = [
    ['main', (a) => t.rates[a]?.main],
    ['main mirrored', (a) => t.rates[a]?.['main:mirrored']],
    ['honesty prompt', (a) => t.rates[a]?.honesty],
    ['7 variants', (a) => pooledRate(runs, a, VARIANT_KINDS)],
    ['Treasure Hunt', (a) => t.rates[a]?.['treasure-hunt']],
    ['Escape Room', (a) => t.rates[a]?.['escape-room']],
    ['Perspectives*', (a) => t.rates[a]?.perspectives],
  ];
  return groupedBarChart(
    t.arms.map((a) => (a === 'none' ? 'baseline' : a)),
    groups.map(([label, of]) => ({
      label,
      values: t.arms.map((a) => {
        const m = of(a);
        return m && m.n > 0 ? { value: m.mean, ...(m.n > 1 ? { error: m.sd } : {}) } : null;
      }),
    })),
    {
      title: 'Deceptive answers by scenario and arm (mean ± sd over seeds; *Perspectives: correct answers)',
      xLabel: 'scenario',
      yLabel: '% of answers',
      max: 100,
    },
  );
}

export function demoMarkdown(
  cfg: ExperimentConfig,
  t: ExperimentTable,
  runs: readonly RunSummary[],
  facts: DemoModelFacts,
): string {
  const tr = cfg.train;
  const soo = runs.find((r) => r.arm === 'soo');
  const warning = baselineWarning(t);
  const lines = [
    '# SOO demo on the embedded toy model',
    '',
    demoSummary(t, runs, facts, cfg.seeds.length),
    '',
    ...(warning ? [`> **Note.** ${warning}`, ''] : []),
    `Model: \`${cfg.model}\` (see its README). SOO fine-tuning: preset \`${tr.preset ?? '-'}\`${tr.layer !== undefined ? `, layer ${tr.layer}` : ''}${tr.pooling ? `, pooling ${tr.pooling}` : ''}${tr.lr !== undefined ? `, lr ${tr.lr}` : ''}${tr.epochs !== undefined ? `, ${tr.epochs} epochs` : ''}; the 52 paper pairs; seeds ${cfg.seeds.join(', ')}. The preset's layer, pooling, lr and epochs were chosen by a sweep on a validation split (evaluation seed 1, training seed 1) that this report never uses; the model's README has the sweep.`,
    `Evaluation: ${cfg.eval.n} greedy prompts per scenario and per mirrored control (evaluation seed ${cfg.eval.seed}, instances held out of the toy corpus), answer suffix \`${cfg.eval.suffix}\`${cfg.eval.suffix === 'gemma' ? ` (${JSON.stringify(SUFFIX_PRESETS.gemma.trim())}: the paper's suffix for Gemma and CalmeRys, named after Gemma; the toy corpus ends its questions with it too, although the toy model is a Llama)` : ''}.`,
    cfg.seeds.length > 1
      ? 'Numbers are mean ± population sd over the seeds; the baseline has no training and greedy answers, so it runs once.'
      : 'One seed: run with `--seeds paper` for mean ± sd over the paper’s five.',
    '',
    markdownTable(demoTable(t)),
    '',
    '![deceptive rate by scenario and arm](rates_scenarios.svg)',
    '',
    ...(soo
      ? [
          `![SOO training loss](runs/${soo.id}/adapter/loss_curve.svg)`,
          '',
          `![latent SOO per layer, base vs SOO](runs/${soo.id}/latent/latent_layers.svg)`,
          '',
        ]
      : []),
    '---',
    '',
    experimentMarkdown(cfg, t, runs).replace(/^# /, '## '),
  ];
  return lines.join('\n');
}
