/**
 * The tokens generation stops on (no file access, so a browser can use it): the config's eos ids, the
 * tokenizer's eos token, and the `eos_token_id`s of a model folder's `generation_config.json` (what
 * transformers' `generate` stops on; Gemma-2 chat models list `<end_of_turn>` only there).
 * `stopTokensForModel` (evaluate.ts) reads that file from a folder.
 */
import type { DecoderConfig } from '../config-types.js';
import type { SooTokenizer } from '../tokenizer-core.js';

/** The stop tokens evaluation uses by default: config eos ids, then the tokenizer's eos id if new. */
export function defaultStopTokens(
  model: { config: Pick<DecoderConfig, 'eosTokenIds'> },
  tokenizer?: Pick<SooTokenizer, 'specialId'>,
): number[] {
  const out = [...model.config.eosTokenIds];
  const eos = tokenizer?.specialId('eos');
  if (eos !== undefined && !out.includes(eos)) out.push(eos);
  return out;
}

/**
 * `stopTokens` plus the `eos_token_id`s (one id or a list) of a parsed `generation_config.json` that it
 * does not hold yet; anything else in `generationConfig` is ignored.
 */
export function addGenerationConfigEos(stopTokens: readonly number[], generationConfig: unknown): number[] {
  const out = [...stopTokens];
  const eos = (generationConfig as { eos_token_id?: unknown } | null)?.eos_token_id;
  for (const id of Array.isArray(eos) ? eos : [eos]) {
    if (typeof id === 'number' && Number.isInteger(id) && id >= 0 && !out.includes(id)) out.push(id);
  }
  return out;
}
