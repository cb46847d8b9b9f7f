/**
 * The toy model's folder in Hugging Face layout: config.json (Llama), tokenizer.json (byte-level BPE trained
 * on the corpus), tokenizer_config.json (chat template, special tokens), generation_config.json. The weights
 * come from full-parameter training (`soo toy train`, core's `freshModel`).
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import {
  TOY_ARCHITECTURE,
  TOY_BOS,
  TOY_CHAT_TEMPLATE,
  TOY_EOS,
  TOY_PAD,
  TOY_SPECIAL_TOKENS,
  toyConfigJson,
  writeFileAtomic,
  type ToyArchitecture,
} from '@soo/core';
import { bpeTokenizerJson, trainBpe } from './bpe.js';
import type { ToyDocument } from './world.js';

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
