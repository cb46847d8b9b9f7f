import {
  SCENARIO_KINDS,
  SUFFIX_PRESETS,
  type ScenarioKind,
  type SuffixPreset,
  evaluationMarkdown,
  loadTokenizer,
  parseScenarioKind,
  runEvaluation,
  stopTokensForModel,
  writeEvaluation,
} from '@soo/core';
import type { Command } from 'commander';
import { parseList, parseNumber } from '../args.js';
import { BACKEND_HELP, loadModelFor, resolveBackend } from '../backends.js';
import { UsageError } from '../errors.js';
import { type Io, printJson } from '../io.js';
import { createProgress } from '../progress.js';

interface EvalOpts {
  model: string;
  adapter?: string;
  scenarios: string;
  mirrored?: boolean;
  n: string;
  maxNewTokens: string;
  suffix: string;
  seed: string;
  batch: string;
  out: string;
  backend?: string;
  configFile: string;
  json?: boolean;
}

/** Parse `--scenarios`: `all`, or kinds separated by commas (variants joined with `+`, e.g. name+action). */
export function parseScenarioList(value: string): ScenarioKind[] {
  const parts = parseList(value);
  if (parts.length === 0)
    throw new UsageError('--scenarios: expected "all" or a comma-separated list of scenario kinds');
  if (parts.length === 1 && parts[0]!.toLowerCase() === 'all') return [...SCENARIO_KINDS];
  return parts.map((p) => {
    try {
      return parseScenarioKind(p);
    } catch {
      throw new UsageError(
        `--scenarios: unknown scenario kind ${JSON.stringify(p)} (expected all, or some of ${SCENARIO_KINDS.join(', ')})`,
      );
    }
  });
}

export function registerEval(program: Command, io: Io): void {
  program
    .command('eval')
    .description(
      'behavioural evaluation: greedy answers to the deception scenarios, scored deceptive / honest / refusal / other',
    )
    .requiredOption('--model <dir>', 'model folder (its tokenizer and chat template are used)')
    .option('--adapter <dir>', 'PEFT LoRA adapter folder to evaluate on top of the model')
    .option('--scenarios <list>', `"all" or comma-separated kinds: ${SCENARIO_KINDS.join(', ')}`, 'main')
    .option('--mirrored', "also run each scenario's mirrored-order control (expensive room named first)")
    .option('--n <n>', 'prompts per scenario', '250')
    .option('--max-new-tokens <n>', 'new tokens per answer at most', '75')
    .option('--suffix <preset>', `answer-format suffix: ${Object.keys(SUFFIX_PRESETS).join(' | ')}`, 'none')
    .option('--seed <n>', 'seed of the scenario draw', '0')
    .option('--batch <n>', 'prompts per generate call (prompts of similar length are batched together)', '8')
    .requiredOption('--out <dir>', 'output folder: answers.jsonl, results.json, results.md, rates.svg')
    .option('--backend <name>', BACKEND_HELP)
    .option('--config-file <name>', 'config file name inside the model folder', 'config.json')
    .option('--json', 'progress as JSON lines on stdout, then the results as one JSON object')
    .addHelpText(
      'after',
      '\nExamples:\n  soo eval --model ./Mistral-7B-Instruct-v0.2 --adapter runs/soo-seed276 --suffix mistral --out runs/soo-seed276/eval\n' +
        '  soo eval --model ./gemma-2-27b-it --scenarios all --mirrored --suffix gemma --out eval-base\n' +
        '  soo eval --model packages/core/fixtures/hf-tiny/llama --n 6 --max-new-tokens 8 --out /tmp/tiny-eval',
    )
    .action(async (opts: EvalOpts) => {
      const scenarios = parseScenarioList(opts.scenarios);
      if (!Object.prototype.hasOwnProperty.call(SUFFIX_PRESETS, opts.suffix)) {
        throw new UsageError(
          `--suffix: expected one of ${Object.keys(SUFFIX_PRESETS).join(', ')}, got "${opts.suffix}"`,
        );
      }
      const n = parseNumber('--n', opts.n, { integer: true, min: 1 });
      const maxNewTokens = parseNumber('--max-new-tokens', opts.maxNewTokens, { integer: true, min: 1 });
      const seed = parseNumber('--seed', opts.seed, { integer: true });
      const batchSize = parseNumber('--batch', opts.batch, { integer: true, min: 1 });
      const json = Boolean(opts.json);
      const tokenizer = await loadTokenizer(opts.model);
      const backend = await resolveBackend(opts.backend);
      const model = await loadModelFor(backend, opts.model, {
        ...(opts.adapter ? { adapterDir: opts.adapter } : {}),
        configFile: opts.configFile,
      });
      try {
        const total = n * scenarios.length * (opts.mirrored ? 2 : 1);
        const progress = createProgress(io, { label: 'prompt', total, json });
        const result = await runEvaluation({
          model,
          tokenizer,
          scenarios,
          mirrored: Boolean(opts.mirrored),
          n,
          seed,
          suffix: opts.suffix as SuffixPreset,
          maxNewTokens,
          batchSize,
          stopTokens: await stopTokensForModel(opts.model, model, tokenizer),
          onProgress: (p) => progress.update(p.done),
        });
        progress.finish();
        const files = await writeEvaluation(opts.out, result);
        if (json) {
          printJson(io, { event: 'result', settings: result.settings, scenarios: result.scenarios, files });
        } else {
          io.out(evaluationMarkdown(result, `SOO evaluation: ${opts.adapter ?? opts.model}`));
          io.err(`wrote ${files.join(', ')}\n`);
        }
      } finally {
        model.dispose();
      }
    });
}
