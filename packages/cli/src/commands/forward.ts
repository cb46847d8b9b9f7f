import { type TensorToWrite, loadTokenizer, writeSafetensors } from '@soo/core';
import type { Command } from 'commander';
import { parseIds, parseList } from '../args.js';
import { BACKEND_HELP, loadModelFor, resolveBackend } from '../backends.js';
import { UsageError } from '../errors.js';
import type { Io } from '../io.js';

interface ForwardOpts {
  model: string;
  adapter?: string;
  ids?: string;
  text?: string;
  chatUser?: string;
  hooks?: string;
  out: string;
  backend?: string;
  configFile?: string;
  logits: boolean;
}

export function registerForward(program: Command, io: Io): void {
  program
    .command('forward')
    .description(
      'run one forward pass and write logits [T, V] and the captured hook outputs to a safetensors file',
    )
    .requiredOption('--model <dir>', 'model folder')
    .option('--adapter <dir>', 'PEFT LoRA adapter folder to apply')
    .option('--ids <ids>', 'token ids, comma-separated')
    .option('--text <text>', 'text to encode (with special tokens)')
    .option('--chat-user <text>', 'one user turn rendered with the chat template and generation prompt')
    .option(
      '--hooks <names>',
      'hook points to capture, comma-separated (e.g. model.layers.2.self_attn.o_proj)',
    )
    .option('--no-logits', 'skip the logits (only hooks)')
    .requiredOption('--out <file>', 'output .safetensors file')
    .option('--backend <name>', BACKEND_HELP)
    .option('--config-file <name>', 'config file name inside the model folder', 'config.json')
    .addHelpText(
      'after',
      '\nExample:\n  soo forward --model packages/core/fixtures/hf-tiny/llama --ids 0,330,411 --hooks model.layers.2.self_attn.o_proj --out fwd.safetensors',
    )
    .action(async (opts: ForwardOpts) => {
      const given = [opts.ids, opts.text, opts.chatUser].filter((v) => v !== undefined).length;
      if (given !== 1) throw new UsageError('forward needs exactly one of --ids, --text, --chat-user');
      let ids: number[];
      if (opts.ids !== undefined) ids = parseIds('--ids', opts.ids);
      else {
        const tok = await loadTokenizer(opts.model);
        ids =
          opts.text !== undefined
            ? tok.encode(opts.text).ids
            : tok.encodeChatUser(opts.chatUser as string).ids;
      }
      const hooks = opts.hooks ? parseList(opts.hooks) : [];
      const backend = await resolveBackend(opts.backend);
      const model = await loadModelFor(backend, opts.model, {
        ...(opts.adapter ? { adapterDir: opts.adapter } : {}),
        configFile: opts.configFile,
      });
      try {
        const res = await model.forward({ ids: [ids], hooks, returnLogits: opts.logits });
        const tensors: Record<string, TensorToWrite> = {};
        if (res.logits)
          tensors.logits = { dtype: 'F32', shape: res.logits.shape.slice(1), data: res.logits.data };
        for (const [name, t] of Object.entries(res.hooks))
          tensors[name] = { dtype: 'F32', shape: t.shape.slice(1), data: t.data };
        await writeSafetensors(opts.out, tensors, { backend: backend.name, ids: ids.join(',') });
        io.err(
          `wrote ${Object.keys(tensors).length} tensors for ${ids.length} tokens to ${opts.out} (${backend.name})\n`,
        );
      } finally {
        model.dispose();
      }
    });
}
