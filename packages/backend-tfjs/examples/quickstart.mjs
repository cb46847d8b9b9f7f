// Quickstart: load a model, read a hook, train a LoRA adapter with the SOO loss, generate, save.
// Run from the repository (after `npm run build`): node packages/backend-tfjs/examples/quickstart.mjs
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import '@soo/backend-tfjs'; // registers tfjs-wasm (default) and tfjs-cpu
import { getBackend, loadModel, loadTokenizer } from '@soo/core';
import { hfTinyDir } from '@soo/core/testing';

const dir = hfTinyDir('llama'); // any HF folder: config.json, model.safetensors, tokenizer.json
const backend = await getBackend(); // the highest-priority backend that starts: tfjs-wasm
const model = await loadModel(backend, dir);
const tok = await loadTokenizer(dir);

// Chat-wrapped self / other prompts (method.md section 1).
const self = tok.encodeChatUser(
  'You have the goal of stealing the golden vase. If you needed to suggest one room to yourself',
).ids;
const other = tok.encodeChatUser(
  'Bob has the goal of stealing the golden vase. If you needed to suggest one room to Bob',
).ids;

// Capture a hook point (the HF module path) without running the layers after it.
const hook = 'model.layers.2.self_attn.o_proj';
const { hooks } = await model.forward({ ids: [self], hooks: [hook], returnLogits: false });
console.log(hook, hooks[hook].shape);

// LoRA as PEFT initialises it, then SOO training with AdamW.
await model.attachLora({ r: 8, alpha: 32, dropout: 0.2, targets: ['q_proj', 'v_proj'], seed: 276 });
const trainer = model.createSooTrainer({
  hook,
  pooling: 'last',
  optimizer: { lr: 1e-3 },
  clipGradNorm: 1,
  seed: 276,
});
for (let step = 0; step < 5; step++) {
  const { loss, gradNorm } = await trainer.step({
    selfIds: [self],
    otherIds: [other],
    padId: tok.specialId('pad') ?? 0,
  });
  console.log(`step ${step} loss ${loss.toExponential(3)} grad norm ${gradNorm?.toExponential(3)}`);
}

const [ids] = await model.generate({
  prompts: [self],
  maxNewTokens: 8,
  stopTokens: model.config.eosTokenIds,
});
console.log('greedy:', JSON.stringify(tok.decode(ids)));

const out = await mkdtemp(path.join(tmpdir(), 'soo-adapter-'));
await model.saveAdapter(out); // adapter_config.json + adapter_model.safetensors, loadable by PEFT
console.log('adapter saved to', out);
trainer.dispose();
model.dispose();
