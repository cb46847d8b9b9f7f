// Export a model with its SOO adapter merged, then run the exported folder: a forward pass with a hook
// output, and greedy generation through the KV cache. Run after `npm run build`:
//   node packages/backend-onnx/examples/deploy.mjs [model folder] [adapter folder]
// (default: the tiny Llama fixture of @soo/core and its PEFT adapter).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { hfTinyDir } from '@soo/core/testing';
import { exportOnnx, loadExportedModel } from '@soo/backend-onnx';

const modelDir = process.argv[2] ?? hfTinyDir('llama');
const adapterDir = process.argv[3] ?? path.join(hfTinyDir('llama'), 'adapter');
const outDir = path.join(mkdtempSync(path.join(tmpdir(), 'soo-onnx-example-')), 'deploy');
const hook = 'model.layers.1.self_attn.o_proj';

const { files, bytes } = await exportOnnx({ modelDir, adapterDir, outDir, hooks: [hook] });
console.log(`exported ${files.length} files (${bytes.model + bytes.data} bytes) to ${outDir}`);

const model = await loadExportedModel(outDir); // the `onnx` backend on onnxruntime-node
const { logits, hooks } = await model.forward({ ids: [[1, 5, 9, 13]], hooks: [hook] });
console.log('logits', logits.shape.join(' x '), `${hook}`, hooks[hook].shape.join(' x '));
const [tokens] = await model.generate({ prompts: [[1, 5, 9, 13]], maxNewTokens: 8 });
console.log('greedy tokens', tokens.join(' '));
model.dispose();
