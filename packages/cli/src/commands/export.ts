/**
 * `soo export --onnx`: an HF model folder (and a PEFT adapter, merged into the weights) -> a folder to serve
 * with onnxruntime or transformers.js: model.onnx (+ model.onnx_data) in Optimum's decoder layout with a KV
 * cache, optional hook outputs, and the config, generation config, tokenizer and chat template.
 */
import { isSooError } from '@soo/core';
import type { Command } from 'commander';
import { parseList } from '../args.js';
import { UsageError } from '../errors.js';
import { type Io, printJson } from '../io.js';
import { createProgress, heartbeat } from '../progress.js';

interface ExportOpts {
  onnx?: boolean;
  model: string;
  adapter?: string;
  out: string;
  hooks?: string;
  configFile: string;
  json?: boolean;
}

const PHASES = ['read', 'merge', 'write'] as const;

export function registerExport(program: Command, io: Io): void {
  program
    .command('export')
    .description(
      'write a model (with its LoRA adapter merged) as a folder that onnxruntime-node and transformers.js load',
    )
    .option('--onnx', 'ONNX, Optimum decoder layout with KV cache (the one format; required)')
    .requiredOption('--model <dir>', 'HF model folder (safetensors)')
    .option('--adapter <dir>', 'PEFT LoRA adapter folder, merged into the base weights')
    .requiredOption('--out <dir>', 'output folder: model.onnx, model.onnx_data, config and tokenizer files')
    .option(
      '--hooks <list>',
      'comma-separated hook names to add as outputs hook.<name>, e.g. model.layers.19.self_attn.o_proj',
    )
    .option('--config-file <name>', 'config file name inside the model folder', 'config.json')
    .option('--json', 'progress as JSON lines on stdout, then the result as one JSON object')
    .addHelpText(
      'after',
      '\nExamples:\n  soo export --onnx --model ./Mistral-7B-Instruct-v0.2 --adapter runs/soo-seed276 --out deploy/mistral-soo\n' +
        '  soo export --onnx --model packages/core/fixtures/hf-tiny/llama --hooks model.layers.1.self_attn.o_proj --out /tmp/tiny-onnx\n' +
        '  soo eval --backend onnx --model deploy/mistral-soo --suffix mistral --out deploy/eval',
    )
    .action(async (opts: ExportOpts) => {
      if (!opts.onnx) throw new UsageError('export: expected --onnx (ONNX is the one export format)');
      const json = Boolean(opts.json);
      const hooks = opts.hooks ? parseList(opts.hooks) : [];
      const { exportOnnx } = await import('@soo/backend-onnx');
      const progress = createProgress(io, { label: 'phase', total: PHASES.length, json });
      const beat = heartbeat(io, 'exporting', json);
      let result;
      try {
        result = await exportOnnx({
          modelDir: opts.model,
          outDir: opts.out,
          hooks,
          configFile: opts.configFile,
          ...(opts.adapter ? { adapterDir: opts.adapter } : {}),
          onProgress: (p) => {
            if (p.done === p.total) progress.update(PHASES.indexOf(p.phase) + 1);
          },
        });
      } catch (e) {
        if (isSooError(e) && e.code === 'HOOK_UNKNOWN') throw new UsageError(`--hooks: ${e.message}`);
        throw e;
      } finally {
        beat.stop();
      }
      progress.finish({}, PHASES.length);
      if (json) {
        printJson(io, {
          event: 'result',
          out: result.outDir,
          files: result.files,
          bytes: result.bytes,
          manifest: result.manifest,
        });
      } else {
        const mb = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;
        io.out(
          `exported ${opts.model}${opts.adapter ? ` + ${opts.adapter} (merged)` : ''} to ${result.outDir}\n` +
            `  model.onnx ${mb(result.bytes.model)}, model.onnx_data ${mb(result.bytes.data)}, opset ${result.manifest.opset}\n` +
            `  inputs: input_ids, attention_mask, position_ids, past_key_values.{0..${(result.manifest.inputs.length - 3) / 2 - 1}}.key|value\n` +
            `  outputs: logits, present.*.key|value${result.manifest.hooks.length ? `, ${result.manifest.hooks.map((h) => `hook.${h}`).join(', ')}` : ''}\n` +
            `  files: ${result.files.join(', ')}\n` +
            `run it: soo eval --backend onnx --model ${result.outDir}\n`,
        );
      }
    });
}
