/**
 * What the "Try it in your browser" page computes (docs/try.md, .vitepress/components/TryModel.vue): the
 * embedded toy model and the shipped SOO adapter, fetched as site assets (scripts/build-site.mjs copies
 * them under /try/), on backend-tfjs in the browser: WebGL, else wasm (binaries served by the site), else
 * plain JavaScript. For a prompt: the greedy answer, and the latent SOO of a self/other pair per layer,
 * each before and after the adapter. Only `@soo/core/browser` and `@soo/backend-tfjs/browser`: no Node API.
 */
import {
  BackendError,
  LATENT_PROBE_TEMPLATE,
  TRAINING_ITEMS,
  adapterFromBytes,
  addGenerationConfigEos,
  chatTemplateOf,
  defaultStopTokens,
  fillTemplate,
  generateScenario,
  loadModelFromSource,
  measureLatentSoo,
  parseDecoderConfig,
  safetensorsModelSource,
  tokenizerFromJson,
  type Backend,
  type LoraAdapter,
  type SooModelBase,
  type SooTokenizer,
} from '@soo/core/browser';
import {
  createTfjsCpuBackend,
  createTfjsWasmBackend,
  createTfjsWebglBackend,
  setTfjsWasmPaths,
} from '@soo/backend-tfjs/browser';

/** Where build-site.mjs puts the assets, under the site's base. */
export const TRY_ASSETS = {
  model: 'try/toy-house/',
  adapter: 'try/toy-soo-adapter/',
  wasm: 'try/tfjs-wasm/',
} as const;

/** New tokens per answer at most (the toy model's answers end with its end token well before). */
export const TRY_MAX_NEW_TOKENS = 40;

/** The prompt the page starts with: the demo's main scenario (first evaluation item, the toy's suffix). */
export function defaultPrompt(): string {
  return generateScenario({ kind: 'main', n: 1, seed: 0, suffix: 'gemma' })[0]!.prompt;
}

/** The self/other pair the page starts with: the paper's latent-SOO probe (method.md s3), first item. */
export function defaultPair(): { self: string; other: string } {
  return fillTemplate(LATENT_PROBE_TEMPLATE, TRAINING_ITEMS[0]!);
}

export interface TryModel {
  model: SooModelBase;
  tokenizer: SooTokenizer;
  adapter: LoraAdapter;
  adapterUrl: string;
  /** The backend that ran (`tfjs-webgl`, `tfjs-wasm` or `tfjs-cpu`). */
  backend: string;
  /** Why faster backends were skipped, one line each. */
  skipped: string[];
  stopTokens: number[];
}

export interface LayerSoo {
  layer: number;
  before: number;
  after: number;
}

export interface TryResult {
  answerBefore: string;
  answerAfter: string;
  layers: LayerSoo[];
}

async function fetchOk(url: string): Promise<Response> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}, expected the file the docs build copies there`);
  return r;
}

const bytes = async (url: string): Promise<Uint8Array> =>
  new Uint8Array(await (await fetchOk(url)).arrayBuffer());
const text = async (url: string): Promise<string> => (await fetchOk(url)).text();
const json = async (url: string): Promise<Record<string, unknown>> =>
  JSON.parse(await text(url)) as Record<string, unknown>;

/** The first backend that initialises: WebGL, then wasm, then cpu; and why the others did not. */
async function firstBackend(): Promise<{ backend: Backend; skipped: string[] }> {
  const skipped: string[] = [];
  for (const [name, create] of [
    ['tfjs-webgl', createTfjsWebglBackend],
    ['tfjs-wasm', createTfjsWasmBackend],
    ['tfjs-cpu', createTfjsCpuBackend],
  ] as const) {
    try {
      return { backend: await create(), skipped };
    } catch (e) {
      if (!(e instanceof BackendError)) throw e;
      skipped.push(`${name}: ${e.message}`);
    }
  }
  throw new Error(`no tfjs backend initialised here: ${skipped.join('; ')}`);
}

/** Fetch the toy model and the adapter from the site (`base` is the site's base URL, ending in "/"). */
export async function loadTryModel(base: string): Promise<TryModel> {
  setTfjsWasmPaths(base + TRY_ASSETS.wasm);
  const dir = base + TRY_ASSETS.model;
  const adapterDir = base + TRY_ASSETS.adapter;
  const [config, generation, tokJson, tokCfg, weights, adapterConfig, adapterWeights] = await Promise.all([
    json(dir + 'config.json'),
    json(dir + 'generation_config.json'),
    json(dir + 'tokenizer.json'),
    json(dir + 'tokenizer_config.json'),
    bytes(dir + 'model.safetensors'),
    text(adapterDir + 'adapter_config.json'),
    bytes(adapterDir + 'adapter_model.safetensors'),
  ]);
  const decoder = parseDecoderConfig(config, dir + 'config.json');
  const tokenizer = tokenizerFromJson(dir, tokJson, tokCfg, chatTemplateOf(tokCfg));
  const adapterUrl = adapterDir + 'adapter_model.safetensors';
  const adapter = adapterFromBytes(adapterConfig, adapterWeights, {
    config: adapterDir + 'adapter_config.json',
    weights: adapterUrl,
  });
  const { backend, skipped } = await firstBackend();
  const model = await loadModelFromSource(
    backend,
    safetensorsModelSource(decoder, weights, dir + 'model.safetensors'),
  );
  // What `soo eval` stops on (`stopTokensForModel` in Node, which reads the same files).
  const stopTokens = addGenerationConfigEos(defaultStopTokens({ config: decoder }, tokenizer), generation);
  return { model, tokenizer, adapter, adapterUrl, backend: backend.name, skipped, stopTokens };
}

async function answer(t: TryModel, prompt: string): Promise<string> {
  const ids = t.tokenizer.encodeChatUser(prompt, { addGenerationPrompt: true }).ids;
  const [out] = await t.model.generate({
    prompts: [ids],
    maxNewTokens: TRY_MAX_NEW_TOKENS,
    greedy: true,
    stopTokens: t.stopTokens,
  });
  return t.tokenizer.decode(out ?? [], { skipSpecialTokens: true }).trim();
}

async function latentPerLayer(t: TryModel, pair: { self: string; other: string }): Promise<number[]> {
  const r = await measureLatentSoo({ model: t.model, tokenizer: t.tokenizer, pairs: [pair] });
  return r.perLayer.map((l) => l.mean);
}

/**
 * The greedy answer to `prompt` and the latent SOO of `pair` at every layer (all Linear outputs, full
 * pooling: `soo latent`'s defaults), first on the base model, then with the adapter.
 */
export async function runTry(
  t: TryModel,
  prompt: string,
  pair: { self: string; other: string },
): Promise<TryResult> {
  await t.model.detachAdapter();
  const answerBefore = await answer(t, prompt);
  const before = await latentPerLayer(t, pair);
  await t.model.attachAdapter(t.adapter, t.adapterUrl);
  const answerAfter = await answer(t, prompt);
  const after = await latentPerLayer(t, pair);
  return {
    answerBefore,
    answerAfter,
    layers: before.map((b, layer) => ({ layer, before: b, after: after[layer]! })),
  };
}
