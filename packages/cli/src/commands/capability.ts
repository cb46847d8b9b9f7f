import * as path from 'node:path';
import {
  type SooModel,
  type JudgeConfig,
  type JudgeQuestion,
  capabilityMarkdown,
  generateJudgeAnswers,
  judgeAnswers,
  loadTokenizer,
  measureCapability,
  readCapabilityTexts,
  readJudgeConfig,
  readJudgeQuestions,
  stopTokensForModel,
  summarizeJudgments,
  writeCapability,
  writeJudgeFiles,
  loadModel,
} from '@soo/core';
import type { Command } from 'commander';
import { parseNumber } from '../args.js';
import { BACKEND_HELP, resolveBackend } from '../backends.js';
import { UsageError } from '../errors.js';
import { type Io, printJson } from '../io.js';
import { httpJudge } from '../judge-client.js';
import { type Progress, createProgress } from '../progress.js';

interface CapabilityOpts {
  model: string;
  adapter?: string;
  text?: string;
  maxTokens?: string;
  window?: string;
  judgeConfig?: string;
  questions?: string;
  judgeMaxNewTokens: string;
  out: string;
  backend?: string;
  configFile: string;
  json?: boolean;
}

export function registerCapability(program: Command, io: Io): void {
  program
    .command('capability')
    .description(
      'capability proxy: perplexity on held-out text and KL(base || adapter); optional MT-Bench-style judge',
    )
    .requiredOption('--model <dir>', 'model folder')
    .option(
      '--adapter <dir>',
      'PEFT LoRA adapter folder: compare the model with the adapter against the base',
    )
    .option(
      '--text <file>',
      'held-out plain text (paragraphs separated by blank lines); default the bundled sample',
    )
    .option('--max-tokens <n>', 'score at most this many tokens')
    .option('--window <n>', 'tokens per scoring window (default min(max positions, 1024))')
    .option(
      '--questions <file>',
      'MT-Bench questions (FastChat question.jsonl): generate answers (judged with --judge-config)',
    )
    .option(
      '--judge-config <file>',
      'JSON {"baseUrl", "model", "apiKeyEnv"} of an OpenAI-compatible endpoint that grades the answers',
    )
    .option('--judge-max-new-tokens <n>', 'new tokens per answer turn', '1024')
    .requiredOption('--out <dir>', 'output folder: capability.json, capability.md (+ judge/*.jsonl)')
    .option('--backend <name>', BACKEND_HELP)
    .option('--config-file <name>', 'config file name inside the model folder', 'config.json')
    .option('--json', 'progress as JSON lines on stdout, then the report as one JSON object')
    .addHelpText(
      'after',
      '\nThe judge is contacted only when --judge-config is given; the API key is read from the environment\n' +
        'variable the config names (never from the file).\n\nExamples:\n' +
        '  soo capability --model ./Mistral-7B-Instruct-v0.2 --adapter runs/soo-seed276 --out runs/soo-seed276/capability\n' +
        '  soo capability --model ./Mistral-7B-Instruct-v0.2 --adapter runs/soo-seed276 --questions mt_bench/question.jsonl \\\n' +
        '    --judge-config judge.json --out runs/soo-seed276/mt-bench',
    )
    .action(async (opts: CapabilityOpts) => {
      if (opts.judgeConfig !== undefined && opts.questions === undefined) {
        throw new UsageError(
          '--judge-config needs --questions (the MT-Bench question file to answer and grade)',
        );
      }
      const maxTokens =
        opts.maxTokens !== undefined
          ? parseNumber('--max-tokens', opts.maxTokens, { integer: true, min: 1 })
          : undefined;
      const window =
        opts.window !== undefined
          ? parseNumber('--window', opts.window, { integer: true, min: 2 })
          : undefined;
      const judgeMaxNewTokens = parseNumber('--judge-max-new-tokens', opts.judgeMaxNewTokens, {
        integer: true,
        min: 1,
      });
      const json = Boolean(opts.json);
      // Read every input before loading models, so a bad file fails fast.
      const texts = await readCapabilityTexts(opts.text);
      const judgeConfig: JudgeConfig | undefined = opts.judgeConfig
        ? await readJudgeConfig(opts.judgeConfig)
        : undefined;
      const questions: JudgeQuestion[] | undefined = opts.questions
        ? await readJudgeQuestions(opts.questions)
        : undefined;
      const tokenizer = await loadTokenizer(opts.model);
      const backend = await resolveBackend(opts.backend);
      const models: Array<{ label: string; model: SooModel }> = [];
      try {
        models.push({
          label: 'base',
          model: await loadModel(backend, opts.model, { configFile: opts.configFile }),
        });
        if (opts.adapter) {
          models.push({
            label: 'adapter',
            model: await loadModel(backend, opts.model, {
              adapterDir: opts.adapter,
              configFile: opts.configFile,
            }),
          });
        }
        const base = models[0]!.model;
        const tuned = models[1]?.model;
        let progress: Progress | undefined;
        const report = await measureCapability({
          base,
          ...(tuned ? { tuned } : {}),
          tokenizer,
          texts,
          ...(maxTokens !== undefined ? { maxTokens } : {}),
          ...(window !== undefined ? { window } : {}),
          onProgress: (p) => {
            progress ??= createProgress(io, { label: 'window', total: p.total, json });
            progress.update(p.done);
          },
        });
        progress?.finish();
        const files: string[] = [];
        let judge: Record<string, { mean: number; n: number }> | undefined;
        if (questions) {
          const judgeDir = path.join(opts.out, 'judge');
          judge = judgeConfig ? {} : undefined;
          for (const { label, model } of models) {
            const total = questions.reduce((s, q) => s + q.turns.length, 0);
            const gp = createProgress(io, { label: `answer (${label})`, total, json });
            const answers = await generateJudgeAnswers({
              model,
              tokenizer,
              questions,
              modelId: label,
              maxNewTokens: judgeMaxNewTokens,
              stopTokens: await stopTokensForModel(opts.model, model, tokenizer),
              onProgress: (p) => gp.update(p.done),
            });
            gp.finish();
            if (judgeConfig && judge) {
              const jobs = answers.reduce((s, a) => s + Math.min(2, a.choices[0]?.turns.length ?? 0), 0);
              const jp = createProgress(io, { label: `judge (${label})`, total: jobs, json });
              const judgments = await judgeAnswers({
                config: judgeConfig,
                complete: httpJudge(judgeConfig),
                questions,
                answers,
                onProgress: (p) => jp.update(p.done),
              });
              jp.finish();
              const s = summarizeJudgments(judgments);
              judge[label] = { mean: s.mean, n: s.n };
              files.push(...(await writeJudgeFiles(judgeDir, label, answers, judgments)));
            } else {
              files.push(...(await writeJudgeFiles(judgeDir, label, answers)));
            }
          }
        }
        files.unshift(...(await writeCapability(opts.out, report, judge)));
        if (json) printJson(io, { event: 'result', ...report, ...(judge ? { judge } : {}), files });
        else {
          io.out(capabilityMarkdown(report, judge));
          io.err(`wrote ${files.join(', ')}\n`);
        }
      } finally {
        for (const { model } of models) model.dispose();
      }
    });
}
