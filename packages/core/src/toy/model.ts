/**
 * The toy model's folder in Hugging Face layout: config.json (Llama), tokenizer.json (byte-level BPE trained
 * on the corpus), tokenizer_config.json (chat template, special tokens), generation_config.json. The weights
 * come from a backend's full-parameter trainer (backend-tfjs `Pretrainer`).
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NotFoundError } from '../errors.js';
import * as path from 'node:path';
import { writeFileAtomic } from '../fs.js';
import { bpeTokenizerJson, trainBpe } from './bpe.js';
import type { ToyDocument } from './world.js';

export const TOY_SPECIAL_TOKENS = Object.freeze([
  '<|pad|>',
  '<|bos|>',
  '<|end|>',
  '<|user|>',
  '<|assistant|>',
]);
export const TOY_PAD = '<|pad|>';
export const TOY_BOS = '<|bos|>';
export const TOY_EOS = '<|end|>';

/** A single-turn chat template in the style of the small HF chat models. */
export const TOY_CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|user|>\\n' + message['content'] + '<|end|>\\n' }}" +
  "{% elif message['role'] == 'assistant' %}{{ '<|assistant|>\\n' + message['content'] + '<|end|>\\n' }}{% endif %}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}";

/** Architecture of the embedded default (Llama, tied embeddings): about 0.75 M parameters. */
export interface ToyArchitecture {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  layers: number;
  heads: number;
  maxPositions: number;
}

export const TOY_ARCHITECTURE: ToyArchitecture = Object.freeze({
  vocabSize: 768,
  hiddenSize: 128,
  intermediateSize: 256,
  layers: 4,
  heads: 4,
  maxPositions: 256,
});

/** The HF `config.json` of a toy Llama. */
export function toyConfigJson(arch: ToyArchitecture = TOY_ARCHITECTURE): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: arch.vocabSize,
    hidden_size: arch.hiddenSize,
    intermediate_size: arch.intermediateSize,
    num_hidden_layers: arch.layers,
    num_attention_heads: arch.heads,
    num_key_value_heads: arch.heads,
    head_dim: arch.hiddenSize / arch.heads,
    max_position_embeddings: arch.maxPositions,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    hidden_act: 'silu',
    attention_bias: false,
    mlp_bias: false,
    tie_word_embeddings: true,
    initializer_range: 0.02,
    pad_token_id: TOY_SPECIAL_TOKENS.indexOf(TOY_PAD),
    bos_token_id: TOY_SPECIAL_TOKENS.indexOf(TOY_BOS),
    eos_token_id: TOY_SPECIAL_TOKENS.indexOf(TOY_EOS),
    torch_dtype: 'float32',
  };
}

/** Texts the tokenizer is trained on: every user turn, answer and paragraph. */
export function corpusTexts(docs: readonly ToyDocument[]): string[] {
  const out: string[] = [];
  for (const d of docs) {
    if (d.user !== null) out.push(d.user);
    out.push(d.text);
  }
  return out;
}

/** SHA-256 of the corpus (documents as JSON lines): recorded with the model to pin its data. */
export function corpusHash(docs: readonly ToyDocument[]): string {
  const h = createHash('sha256');
  for (const d of docs) h.update(JSON.stringify(d) + '\n');
  return h.digest('hex');
}

/**
 * Write the tokenizer files (tokenizer.json trained on `docs`, tokenizer_config.json, generation_config.json)
 * and config.json into `dir`.
 */
export async function writeToyModelFiles(
  dir: string,
  docs: readonly ToyDocument[],
  arch: ToyArchitecture = TOY_ARCHITECTURE,
): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  const bpe = trainBpe(corpusTexts(docs), { vocabSize: arch.vocabSize, specialTokens: TOY_SPECIAL_TOKENS });
  // A vocabulary smaller than asked (a tiny corpus) keeps the embedding at vocabSize rows: unused ids.
  const json = (o: unknown): string => JSON.stringify(o, null, 2) + '\n';
  await writeFileAtomic(
    path.join(dir, 'tokenizer.json'),
    JSON.stringify(bpeTokenizerJson(bpe, TOY_SPECIAL_TOKENS)),
  );
  await writeFileAtomic(
    path.join(dir, 'tokenizer_config.json'),
    json({
      tokenizer_class: 'PreTrainedTokenizerFast',
      bos_token: TOY_BOS,
      eos_token: TOY_EOS,
      pad_token: TOY_PAD,
      unk_token: null,
      add_bos_token: false,
      add_eos_token: false,
      model_max_length: arch.maxPositions,
      chat_template: TOY_CHAT_TEMPLATE,
    }),
  );
  const cfg = toyConfigJson(arch);
  await writeFileAtomic(
    path.join(dir, 'generation_config.json'),
    json({ bos_token_id: cfg.bos_token_id, eos_token_id: cfg.eos_token_id, pad_token_id: cfg.pad_token_id }),
  );
  await writeFileAtomic(path.join(dir, 'config.json'), json(cfg));
}

/** The committed toy model folder (`assets/toy-house` of @soo/core), from the sources or the build. */
export function toyModelDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [
    path.resolve(here, '../../assets/toy-house'), // src/toy/
    path.resolve(here, '../assets/toy-house'), // dist/
  ];
  const found = candidates.find((c) => existsSync(path.join(c, 'model.safetensors')));
  if (!found) {
    throw new NotFoundError(
      'FILE_NOT_FOUND',
      `the embedded toy model is missing (looked in ${candidates.join(', ')}); rebuild it with \`npm run toy:train\``,
      { file: candidates[0] },
    );
  }
  return found;
}
