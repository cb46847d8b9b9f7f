/**
 * `@soo/core/browser`: the part of @soo/core that touches no Node API (no `fs`, `path`, `url`, `crypto`),
 * for bundlers that target a browser. Models, tokenizers and adapters come from bytes and JSON fetched by
 * the page instead of folders: `parseDecoderConfig`, `tokenizerFromJson`, `safetensorsModelSource`,
 * `adapterFromBytes`, `loadModelFromSource`. The Node entry (`@soo/core`) exports all of this too, and
 * the same module instances: a backend registered through one entry is seen through the other.
 */
export * from './errors.js';
export * from './rng.js';
export * from './config-types.js';
export * from './config-parse.js';
export * from './json-reader.js';
export * from './model-info.js';
export * from './soo.js';
export * from './tokenizer-core.js';
export * from './safetensors/dtypes.js';
export * from './safetensors/header.js';
export * from './safetensors/bytes.js';
export * from './adapter-parse.js';
export * from './hooks.js';
export * from './backend-spec.js';
export * from './backend-registry.js';
export * from './batch.js';
export * from './memory-model-source.js';
export * from './lora-init.js';
export * from './sampling.js';
export * from './generate.js';
export * from './soo-model-base.js';
export * from './data/vocabulary.js';
export * from './data/match.js';
export * from './data/pair-templates.js';
export * from './data/scenarios.js';
export * from './eval/latent-measure.js';
export * from './eval/stop-tokens.js';
export * from './toy-architecture.js';
export * from './rope.js';
