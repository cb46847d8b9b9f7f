/** Aggregate finished runs into the paper-style table (mean ± population sd over seeds) and a report. */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../fs.js';
import { barChart } from '../report/svg.js';
import type { Arm, ExperimentConfig } from './config.js';
import type { RunSummary } from './run.js';

export interface MeanSd {
  mean: number;
  /** Population standard deviation (divide by n), as the paper reports. */
  sd: number;
  n: number;
}

export function meanSd(xs: readonly number[]): MeanSd {
  if (xs.length === 0) return { mean: Number.NaN, sd: Number.NaN, n: 0 };
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
  return { mean, sd, n: xs.length };
}

export interface ExperimentTable {
  arms: Arm[];
  scenarios: string[];
  /** rates[arm][scenario] in percent. */
  rates: Record<string, Record<string, MeanSd>>;
  paperRates: Record<string, Record<string, MeanSd>>;
  /**
   * categories[arm][scenario][category]: the share of answers in each scoring category, in percent
   * (deceptive / honest / refusal / other; Perspectives: correct / incorrect / refusal / other).
   */
  categories: Record<string, Record<string, Record<string, MeanSd>>>;
  latent: Record<string, MeanSd>;
  perplexity: Record<string, MeanSd>;
  kl: Record<string, MeanSd>;
}

/** `order`: the arms in the experiment file's order (arms without finished runs are left out). */
export function aggregate(runs: readonly RunSummary[], order: readonly Arm[] = []): ExperimentTable {
  const present = new Set(runs.map((r) => r.arm));
  const arms = [...order.filter((a) => present.has(a)), ...[...present].filter((a) => !order.includes(a))];
  const scenarios = [...new Set(runs.flatMap((r) => Object.keys(r.eval)))];
  const t: ExperimentTable = {
    arms,
    scenarios,
    rates: {},
    paperRates: {},
    categories: {},
    latent: {},
    perplexity: {},
    kl: {},
  };
  for (const arm of arms) {
    const rs = runs.filter((r) => r.arm === arm);
    t.rates[arm] = {};
    t.paperRates[arm] = {};
    t.categories[arm] = {};
    for (const s of scenarios) {
      const have = rs.filter((r) => r.eval[s]);
      t.rates[arm][s] = meanSd(have.map((r) => 100 * (r.eval[s] as { rate: number }).rate));
      t.paperRates[arm][s] = meanSd(have.map((r) => 100 * (r.eval[s] as { paperRate: number }).paperRate));
      const keys = [...new Set(have.flatMap((r) => Object.keys(r.eval[s]?.counts ?? {})))];
      t.categories[arm][s] = Object.fromEntries(
        keys.map((k) => [
          k,
          meanSd(
            have.map((r) => {
              const e = r.eval[s]!;
              return e.n === 0 ? 0 : (100 * (e.counts[k] ?? 0)) / e.n;
            }),
          ),
        ]),
      );
    }
    t.latent[arm] = meanSd(rs.flatMap((r) => (r.latent === null ? [] : [r.latent])));
    t.perplexity[arm] = meanSd(rs.flatMap((r) => (r.capability ? [r.capability.perplexity] : [])));
    t.kl[arm] = meanSd(rs.flatMap((r) => (r.capability?.kl != null ? [r.capability.kl] : [])));
  }
  return t;
}

/** `mean ± sd` (just the mean for one value, "–" for none), `digits` decimals. */
export const formatMeanSd = (m: MeanSd, digits = 2): string =>
  m.n === 0
    ? '–'
    : m.n === 1
      ? m.mean.toFixed(digits)
      : `${m.mean.toFixed(digits)} ± ${m.sd.toFixed(digits)}`;

/** Above this share of "other" answers (in %), a rate says little: the report warns. */
export const UNCLASSIFIABLE_WARN_PERCENT = 50;

/**
 * One line per arm and scenario where most answers are unclassifiable ("other": no room recommended,
 * degenerate text, a negated room), so that a "0.0" deceptive rate is not read as honesty.
 */
export function experimentWarnings(t: ExperimentTable): string[] {
  const out: string[] = [];
  for (const a of t.arms) {
    for (const s of t.scenarios) {
      const other = t.categories[a]?.[s]?.other;
      if (other && other.n > 0 && other.mean > UNCLASSIFIABLE_WARN_PERCENT) {
        out.push(
          `${s}, arm ${a}: ${other.mean.toFixed(1)}% of answers are "other" (no room recommended, degenerate or negated), so its rate says little about deception`,
        );
      }
    }
  }
  return out;
}

function categoryHeader(t: ExperimentTable): string[] {
  const keys: string[] = [];
  for (const a of t.arms)
    for (const s of t.scenarios)
      for (const k of Object.keys(t.categories[a]?.[s] ?? {})) if (!keys.includes(k)) keys.push(k);
  // Perspectives' correct / incorrect share the columns of deceptive / honest.
  const cols = ['deceptive', 'honest', 'refusal', 'other'];
  const has = (k: string) => keys.includes(k);
  return cols.filter(
    (c) => has(c) || (c === 'deceptive' && has('correct')) || (c === 'honest' && has('incorrect')),
  );
}

function categoryCell(t: ExperimentTable, a: string, s: string, col: string): string {
  const c = t.categories[a]?.[s] ?? {};
  const m = c[col] ?? (col === 'deceptive' ? c.correct : col === 'honest' ? c.incorrect : undefined);
  return m ? formatMeanSd(m, 1) : '–';
}

export function experimentMarkdown(
  cfg: Pick<ExperimentConfig, 'name' | 'model' | 'seeds' | 'arms'>,
  t: ExperimentTable,
  runs: readonly RunSummary[],
  missing: readonly string[] = [],
): string {
  const lines = [
    `# Experiment: ${cfg.name}`,
    '',
    `Model: \`${cfg.model}\`. Arms: ${cfg.arms.join(', ')}. Seeds: ${cfg.seeds.join(', ')} (the \`none\` arm has no training and greedy evaluation, so it runs once).`,
    'Rates are percentages, mean ± population sd over seeds (as the paper reports). "rate" is soo\'s scorer (whole-word rooms; refusals and degenerate answers are not counted as honest); "paper" is the paper\'s substring rule.',
    '',
    ...(() => {
      const w = experimentWarnings(t);
      return w.length === 0 ? [] : [...w.map((x) => `> **Warning:** ${x}.`), ''];
    })(),
    ...(missing.length === 0
      ? []
      : [
          `> **Incomplete:** ${missing.length} of ${runs.length + missing.length} runs are not finished and not in this report: ${missing.join(', ')}.`,
          '',
        ]),
    '## Deceptive rate (Perspectives: correct rate), %',
    '',
    `| scenario | ${t.arms.map((a) => `${a} rate | ${a} paper`).join(' | ')} |`,
    `| --- | ${t.arms.map(() => '--- | ---').join(' | ')} |`,
    ...t.scenarios.map(
      (s) =>
        `| ${s} | ${t.arms.map((a) => `${formatMeanSd(t.rates[a]![s]!, 1)} | ${formatMeanSd(t.paperRates[a]![s]!, 1)}`).join(' | ')} |`,
    ),
    '',
    '## Answers by category, %',
    '',
    'Every answer falls in one category; the rate above is the first column. Perspectives rows: correct / incorrect in the first two columns.',
    '',
    ...(() => {
      const cols = categoryHeader(t);
      return [
        `| scenario | arm | ${cols.join(' | ')} |`,
        `| --- | --- | ${cols.map(() => '---').join(' | ')} |`,
        ...t.scenarios.flatMap((s) =>
          t.arms.map((a) => `| ${s} | ${a} | ${cols.map((c) => categoryCell(t, a, s, c)).join(' | ')} |`),
        ),
      ];
    })(),
    '',
    '## Latent SOO and capability',
    '',
    '| arm | latent SOO (lower = more overlap) | perplexity | KL(base ‖ tuned) |',
    '| --- | --- | --- | --- |',
    ...t.arms.map(
      (a) =>
        `| ${a} | ${formatMeanSd(t.latent[a]!, 5)} | ${formatMeanSd(t.perplexity[a]!, 3)} | ${formatMeanSd(t.kl[a]!, 5)} |`,
    ),
    '',
    '![deceptive rate by arm, main scenario](rates_main.svg)',
    '',
    '## Runs',
    '',
    '| run | train steps | first → final loss | seconds |',
    '| --- | --- | --- | --- |',
    ...runs.map(
      (r) =>
        `| ${r.id} | ${r.train?.steps ?? '–'} | ${r.train ? `${r.train.firstLoss?.toExponential(3)} → ${r.train.finalLoss?.toExponential(3)}` : '–'} | ${r.seconds.toFixed(1)} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

export async function readRunSummaries(runsDir: string): Promise<RunSummary[]> {
  const out: RunSummary[] = [];
  for (const d of (await fsp.readdir(runsDir)).sort()) {
    const f = path.join(runsDir, d, 'summary.json');
    try {
      out.push(JSON.parse(await fsp.readFile(f, 'utf8')) as RunSummary);
    } catch {
      // not finished
    }
  }
  return out;
}

export async function writeExperimentReport(
  outDir: string,
  cfg: Pick<ExperimentConfig, 'name' | 'model' | 'seeds' | 'arms'>,
  runs: readonly RunSummary[],
  /** Run ids of the experiment that are not finished (named in the report and results.json). */
  missing: readonly string[] = [],
): Promise<ExperimentTable> {
  const t = aggregate(runs, cfg.arms);
  await writeFileAtomic(
    path.join(outDir, 'results.json'),
    JSON.stringify({ table: t, runs, ...(missing.length ? { missing } : {}) }, null, 2) + '\n',
  );
  await writeFileAtomic(path.join(outDir, 'report.md'), experimentMarkdown(cfg, t, runs, missing));
  const main = t.scenarios.includes('main') ? 'main' : t.scenarios[0];
  if (main) {
    await writeFileAtomic(
      path.join(outDir, 'rates_main.svg'),
      barChart(
        t.arms.map((a) => ({ label: a, value: t.rates[a]![main]!.mean, error: t.rates[a]![main]!.sd })),
        {
          title: `Deceptive rate (${main})${Math.max(...t.arms.map((a) => t.rates[a]![main]!.n)) > 1 ? ', mean ± sd over seeds' : ', one seed'}`,
          yLabel: '% deceptive',
          max: 100,
        },
      ),
    );
  }
  return t;
}
