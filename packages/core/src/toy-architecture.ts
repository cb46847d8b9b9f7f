/**
 * What the embedded toy model *is*, which the demo and the tests need at run time: the folder shipped in
 * `assets/toy-house`, its special tokens and chat template, and its architecture (`config.json`). How it is
 * *built* (the "house with Bob" corpus, the BPE trainer, the folder writer) is build tooling in the private
 * workspace package `@soo/toy`, used by `soo toy train`.
 *
 * The constants only (no file access, so a browser can use them); toy-model.ts finds the folder on disk.
 */

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

/** Architecture of the embedded default (Llama, tied embeddings): 754,816 parameters. */
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
