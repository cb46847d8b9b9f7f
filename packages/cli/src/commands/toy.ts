/**
 * `soo toy train`: build the embedded default model from its seed: corpus -> BPE tokenizer -> a tiny Llama
 * trained from scratch (all parameters) on tfjs -> an HF model folder with a record of how it was made.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import {
  DataError,
  Rng,
  WeightStore,
  freshModel,
  loadModelWeights,
  saveModelWeights,
  scheduledLr,
  trainableCount,
  loadDecoderConfig,
  loadModel,
  loadTokenizer,
  requireCapability,
  toyModelDir,
  writeFileAtomic,
  type SooTokenizer,
} from '@soo/core';
import {
  TOY_MIXES,
  TOY_ORDERS,
  corpusHash,
  generateToyCorpus,
  toyCapabilityText,
  toyProbes,
  writeToyModelFiles,
  type ToyDocument,
  type ToyMix,
  type ToyProbe,
  type ToyOrder,
} from '@soo/toy';
import type { Command } from 'commander';
import { parseNumber } from '../args.js';
import { BACKEND_HELP, resolveBackend } from '../backends.js';
import { UsageError } from '../errors.js';
import { type Io, printJson, table } from '../io.js';
import { createProgress } from '../progress.js';
import {
  type ProbePoint,
  curvePoint,
  earlierStagesCurve,
  probeCurveSvg,
  probeLine,
  probeModel,
} from './toy-probe.js';

/** The evaluation seed the probes draw their scenario prompts from (held out of every toy corpus). */
const TOY_PROBE_EVAL_SEED = 0;

interface ToyTrainOpts {
  out: string;
  seed: string;
  documents: string;
  epochs: string;
  batch: string;
  lr: string;
  warmup: string;
  answerWeight: string;
  saveEvery: string;
  continue?: string;
  maxSteps?: string;
  mix: string;
  order: string;
  probeEvery: string;
  probeN: string;
  finalProbeN: string;
  backend?: string;
  json?: boolean;
}

/**
 * The token ids of one document (a chat turn through the chat template, or `<bos> paragraph <eos>`) and
 * `answerFrom`: the first position whose target is part of the assistant's answer (ids.length - 1 for a
 * paragraph: none).
 */
export function encodeToyDocument(
  doc: ToyDocument,
  tok: SooTokenizer,
): { ids: number[]; answerFrom: number } {
  if (doc.user === null) {
    const ids = tok.encode(`${tok.bosToken ?? ''}${doc.text}${tok.eosToken ?? ''}`, {
      addSpecialTokens: false,
    }).ids;
    return { ids, answerFrom: ids.length - 1 };
  }
  const prompt = tok.encodeChatUser(doc.user).ids;
  const ids = tok.encode(
    tok.applyChatTemplate([
      { role: 'user', content: doc.user },
      { role: 'assistant', content: doc.text },
    ]),
    { addSpecialTokens: false },
  ).ids;
  if (prompt.some((id, i) => ids[i] !== id))
    throw new DataError(
      'DATA_INVALID',
      `toy document (${doc.kind}): user: expected the chat template's prompt tokens to be a prefix of the conversation's tokens: ${JSON.stringify(doc.user)}`,
      { field: 'user' },
    );
  return { ids, answerFrom: prompt.length - 1 };
}

/** Target weights of one document: 1 on text and prompt positions, `answerWeight` on the answer's. */
export function answerWeights(doc: { ids: number[]; answerFrom: number }, answerWeight: number): number[] {
  return doc.ids.map((_, t) => (t >= doc.answerFrom ? answerWeight : 1));
}

/**
 * Batches of similar length: shuffle, sort windows of 32 batches by length, cut, shuffle the batch order.
 * Deterministic in `rng`.
 */
export function lengthBatches(lengths: readonly number[], batch: number, rng: Rng): number[][] {
  const idx = rng.shuffle(lengths.map((_, i) => i));
  const out: number[][] = [];
  const window = batch * 32;
  for (let s = 0; s < idx.length; s += window) {
    const w = idx.slice(s, s + window).sort((a, b) => (lengths[a] as number) - (lengths[b] as number));
    for (let b = 0; b < w.length; b += batch) out.push(w.slice(b, b + batch));
  }
  return rng.shuffle(out);
}

export function registerToy(program: Command, io: Io): void {
  const toy = program.command('toy').description('the embedded default model: build it from its seed');
  toy
    .command('probe')
    .description(
      "ask a toy model the held-out probes (main, mirrored, self twin, name, Perspectives, location, value) and print each kind's accuracy under the world's rules",
    )
    .option('--model <dir>', 'model folder (default: the embedded toy model)')
    .option('--n <n>', 'probes per kind', '250')
    .option('--backend <name>', BACKEND_HELP)
    .option('--json', 'the scores as one JSON object')
    .action(async (opts: { model?: string; n: string; backend?: string; json?: boolean }) => {
      const n = parseNumber('--n', opts.n, { integer: true, min: 1 });
      const dir = path.resolve(opts.model ?? toyModelDir());
      const backend = await resolveBackend(opts.backend);
      const model = await loadModel(backend, dir);
      try {
        const tok = await loadTokenizer(dir);
        const point = await probeModel(model, tok, toyProbes({ n, evalSeed: TOY_PROBE_EVAL_SEED }), {
          step: 0,
          tokens: 0,
        });
        if (opts.json) printJson(io, { model: dir, n, evalSeed: TOY_PROBE_EVAL_SEED, scores: point.scores });
        else
          io.out(
            table([
              ['probe', 'accuracy %', 'other %', 'n'],
              ...point.scores.map((x) => [
                x.kind,
                (100 * x.accuracy).toFixed(1),
                (100 * x.other).toFixed(1),
                String(x.n),
              ]),
            ]) + '\n',
          );
      } finally {
        model.dispose();
      }
    });
  toy
    .command('train')
    .description(
      'generate the toy corpus, train its BPE tokenizer and a tiny Llama from scratch (all weights)',
    )
    .requiredOption('--out <dir>', 'model folder to write (HF layout)')
    .option('--seed <n>', 'seed of the corpus, the initialisation and the batch order', '0')
    .option('--documents <n>', 'corpus size in documents', '24000')
    .option('--epochs <n>', 'passes over the corpus', '1')
    .option('--batch <n>', 'documents per optimizer step', '24')
    .option('--lr <x>', 'peak learning rate (linear warm-up, cosine decay to 10%)', '0.003')
    .option('--warmup <n>', 'warm-up steps', '50')
    .option('--answer-weight <x>', 'loss weight of the assistant answers relative to every other token', '8')
    .option('--save-every <n>', 'also write model.safetensors every n steps (0: only at the end)', '0')
    .option(
      '--continue <dir>',
      'continue training the model in <dir> (its tokenizer and weights) on a fresh corpus drawn from --seed',
    )
    .option('--mix <name>', 'document mix: default | skills (short forms; the second stage)', 'default')
    .option(
      '--order <o>',
      "order of the two rooms in every text: random (the binding world) | paper (the paper's prompts' order: the positional world)",
      'random',
    )
    .option('--max-steps <n>', 'stop after n optimizer steps (the schedule still spans the whole corpus)')
    .option(
      '--probe-every <n>',
      'ask the held-out probes (main, mirrored, self, Perspectives, location, value, train) every n steps (0: only at the end)',
      '200',
    )
    .option('--probe-n <n>', 'probes per kind during training', '64')
    .option('--final-probe-n <n>', 'probes per kind after training (the paper evaluates 250)', '250')
    .option(
      '--backend <name>',
      'a backend with full training: cuda | native-cpu | tfjs-wasm | tfjs-cpu (wasm and cpu mean tfjs-*; default: the fastest available here)',
    )
    .option('--json', 'progress as JSON lines on stdout')
    .action(async (opts: ToyTrainOpts) => {
      const seed = parseNumber('--seed', opts.seed, { integer: true, min: 0 });
      const documents = parseNumber('--documents', opts.documents, { integer: true, min: 1 });
      const epochs = parseNumber('--epochs', opts.epochs, { integer: true, min: 1 });
      const batch = parseNumber('--batch', opts.batch, { integer: true, min: 1 });
      const lr = parseNumber('--lr', opts.lr, { min: 0 });
      const warmup = parseNumber('--warmup', opts.warmup, { integer: true, min: 0 });
      const answerWeight = parseNumber('--answer-weight', opts.answerWeight, { min: 0 });
      const saveEvery = parseNumber('--save-every', opts.saveEvery, { integer: true, min: 0 });
      const probeEvery = parseNumber('--probe-every', opts.probeEvery, { integer: true, min: 0 });
      const probeN = parseNumber('--probe-n', opts.probeN, { integer: true, min: 1 });
      const finalProbeN = parseNumber('--final-probe-n', opts.finalProbeN, { integer: true, min: 1 });
      const maxSteps =
        opts.maxSteps === undefined
          ? Infinity
          : parseNumber('--max-steps', opts.maxSteps, { integer: true, min: 1 });
      const json = Boolean(opts.json);
      const t0 = performance.now();
      if (!Object.hasOwn(TOY_MIXES, opts.mix))
        throw new UsageError(
          `--mix: expected one of ${Object.keys(TOY_MIXES).join(', ')}, got "${opts.mix}"`,
        );
      if (!(TOY_ORDERS as readonly string[]).includes(opts.order))
        throw new UsageError(`--order: expected one of ${TOY_ORDERS.join(', ')}, got "${opts.order}"`);
      const corpus = generateToyCorpus({
        seed,
        documents,
        mix: opts.mix as ToyMix,
        order: opts.order as ToyOrder,
      });
      const hash = corpusHash(corpus.documents);
      let previous: unknown = null;
      if (opts.continue) {
        const from = path.resolve(opts.continue);
        previous = JSON.parse(await fsp.readFile(path.join(from, 'training.json'), 'utf8')) as unknown;
        if (from !== path.resolve(opts.out)) {
          await fsp.mkdir(opts.out, { recursive: true });
          for (const f of [
            'config.json',
            'tokenizer.json',
            'tokenizer_config.json',
            'generation_config.json',
          ])
            await fsp.copyFile(path.join(from, f), path.join(opts.out, f));
        }
      } else await writeToyModelFiles(opts.out, corpus.documents);
      await writeFileAtomic(path.join(opts.out, 'capability.txt'), toyCapabilityText(`${seed}-heldout`));
      const tok = await loadTokenizer(opts.out);
      const encoded = corpus.documents.map((d) => encodeToyDocument(d, tok));
      const tokens = encoded.reduce((s, e) => s + e.ids.length, 0);
      const config = await loadDecoderConfig(opts.out);
      const backend = await resolveBackend(
        opts.backend === 'wasm' || opts.backend === 'cpu' ? `tfjs-${opts.backend}` : opts.backend,
      );
      requireCapability(backend, 'fullTraining');
      const rng = new Rng(seed).split('toy-batches');
      const perEpoch = Math.ceil(documents / batch);
      const total = perEpoch * epochs;
      const schedule = { lr, warmupSteps: warmup, totalSteps: total };
      const model = await freshModel(backend, config, seed);
      const trainer = model.createLmTrainer({
        optimizer: { lr, betas: [0.9, 0.95], weightDecay: 0 },
        clipGradNorm: 1,
        seed,
      });
      if (opts.continue) {
        const store = await WeightStore.openDir(path.resolve(opts.continue));
        try {
          await loadModelWeights(model, store);
        } finally {
          await store.close();
        }
      }
      const parameterCount = trainableCount(model);
      const padId = config.padTokenId ?? 0;
      if (!json)
        io.err(
          `toy model: ${parameterCount.toLocaleString('en-US')} parameters; corpus ${documents} documents, ${tokens.toLocaleString('en-US')} tokens (sha256 ${hash.slice(0, 12)}); ${total} steps\n`,
        );
      const progress = createProgress(io, { label: 'step', total: Math.min(total, maxSteps), json });
      const log: Array<{ step: number; loss: number; lr: number }> = [];
      const probesDuring = toyProbes({ n: probeN, evalSeed: TOY_PROBE_EVAL_SEED, corpus: corpus.documents });
      const curve: ProbePoint[] = [];
      let latest: Record<string, number> = {};
      const probeAt = async (probes: readonly ToyProbe[]): Promise<ProbePoint> => {
        const point = await probeModel(model, tok, probes, { step, tokens: tokensSeen });
        curve.push(point);
        latest = Object.fromEntries(
          point.scores
            .filter((x) => x.kind === 'main' || x.kind === 'self' || x.kind === 'perspectives')
            .map((x) => [x.kind, x.accuracy]),
        );
        if (json) printJson(io, { event: 'probe', step, tokens: tokensSeen, scores: point.scores });
        return point;
      };
      let step = 0;
      let tokensSeen = 0;
      const tt = performance.now();
      training: for (let e = 0; e < epochs; e++) {
        for (const b of lengthBatches(
          encoded.map((x) => x.ids.length),
          batch,
          rng,
        )) {
          const docs = b.map((i) => encoded[i]!);
          const stepLr = scheduledLr(schedule, step);
          trainer.setLearningRate(stepLr);
          const r = await trainer.step({
            ids: docs.map((d) => d.ids),
            padId,
            targetWeights: docs.map((d) => answerWeights(d, answerWeight)),
          });
          step++;
          tokensSeen += docs.reduce((n, d) => n + d.ids.length, 0);
          if (probeEvery > 0 && step % probeEvery === 0) await probeAt(probesDuring);
          if (saveEvery > 0 && step % saveEvery === 0)
            await saveModelWeights(model, path.join(opts.out, 'model.safetensors'), {
              soo_toy_step: String(step),
            });
          log.push({ step, loss: r.loss, lr: stepLr });
          const recent = log.slice(-50);
          progress.update(step, {
            loss: recent.reduce((s, x) => s + x.loss, 0) / recent.length,
            epoch: e + 1,
            ...latest,
          });
          if (step >= maxSteps) break training;
        }
      }
      const trainSeconds = (performance.now() - tt) / 1000;
      const last = log.slice(-100);
      const finalLoss = last.reduce((s, x) => s + x.loss, 0) / last.length;
      progress.finish({ loss: finalLoss });
      const final = await probeAt(
        toyProbes({ n: finalProbeN, evalSeed: TOY_PROBE_EVAL_SEED, corpus: corpus.documents }),
      );
      const earlier = earlierStagesCurve(previous);
      await writeFileAtomic(
        path.join(opts.out, 'probes.svg'),
        probeCurveSvg(
          [...earlier.points, ...curve.map((p) => curvePoint(p, earlier.tokens))],
          `held-out probes while training (${path.basename(opts.out)})`,
        ),
      );
      await saveModelWeights(model, path.join(opts.out, 'model.safetensors'), {
        soo_toy_seed: String(seed),
        corpus_sha256: hash,
      });
      trainer.dispose();
      model.dispose();
      const record = {
        command: `soo toy train --out ${opts.out} --seed ${seed} --documents ${documents} --epochs ${epochs} --batch ${batch} --lr ${lr} --warmup ${warmup} --answer-weight ${answerWeight} --mix ${opts.mix} --order ${opts.order}${Number.isFinite(maxSteps) ? ` --max-steps ${maxSteps}` : ''}${opts.continue ? ` --continue ${opts.continue}` : ''} --backend ${backend.name}`,
        seed,
        order: opts.order,
        corpus: {
          documents,
          tokens,
          sha256: hash,
          counts: corpus.counts,
          rejectedEvalInstances: corpus.rejected,
        },
        parameters: parameterCount,
        steps: step,
        tokensSeen,
        scheduleSteps: total,
        trainSeconds: Math.round(trainSeconds),
        tokensPerSecond: Math.round((tokens * epochs) / trainSeconds),
        finalLoss,
        firstLoss: log[0]?.loss ?? null,
        probes: {
          evalSeed: TOY_PROBE_EVAL_SEED,
          n: finalProbeN,
          nDuring: probeN,
          every: probeEvery,
          final: final.scores,
          curve: curve.slice(0, -1).map((p) => ({
            step: p.step,
            tokens: p.tokens,
            accuracy: Object.fromEntries(p.scores.map((x) => [x.kind, Number(x.accuracy.toFixed(4))])),
          })),
        },
        backend: backend.name,
        node: process.version,
        date: new Date().toISOString(),
        ...(previous ? { continuedFrom: previous } : {}),
        totalSeconds: Math.round((performance.now() - t0) / 1000),
      };
      await writeFileAtomic(path.join(opts.out, 'training.json'), JSON.stringify(record, null, 2) + '\n');
      await writeFileAtomic(
        path.join(opts.out, 'train_log.jsonl'),
        log
          .filter((x) => x.step % 10 === 0 || x.step === 1)
          .map((x) => JSON.stringify(x))
          .join('\n') + '\n',
      );
      if (json) printJson(io, { event: 'result', ...record });
      else {
        io.err(`held-out probes (n = ${finalProbeN} each): ${probeLine(final)}\n`);
        io.err(`wrote ${opts.out}: final loss ${finalLoss.toFixed(4)} after ${record.trainSeconds} s\n`);
      }
    });
}
