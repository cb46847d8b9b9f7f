import { loadTokenizer } from '@soo/core';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { type Io, printJson } from '../io.js';

export function registerTokenize(program: Command, io: Io): void {
  program
    .command('tokenize')
    .description("encode text with a model folder's tokenizer (optionally through its chat template)")
    .requiredOption('--model <dir>', 'model folder with tokenizer.json')
    .option('--text <text>', 'raw text to encode')
    .option(
      '--chat-user <text>',
      'render one user turn with the chat template and generation prompt, then encode it',
    )
    .option('--no-special', 'do not add special tokens (BOS) when encoding --text')
    .option('--json', 'print {"ids", "tokens", "text"} as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  soo tokenize --model packages/core/fixtures/hf-tiny/gemma2 --chat-user "Which room?" --json\n  soo tokenize --model ./my-model --text "Hello Bob" --no-special',
    )
    .action(
      async (opts: { model: string; text?: string; chatUser?: string; special: boolean; json?: boolean }) => {
        if ((opts.text === undefined) === (opts.chatUser === undefined)) {
          throw new UsageError('tokenize needs exactly one of --text or --chat-user');
        }
        const tok = await loadTokenizer(opts.model);
        let text: string;
        let ids: number[];
        let tokens: string[];
        if (opts.chatUser !== undefined) {
          ({ text, ids, tokens } = tok.encodeChatUser(opts.chatUser));
        } else {
          text = opts.text as string;
          ({ ids, tokens } = tok.encode(text, { addSpecialTokens: opts.special }));
        }
        if (opts.json) {
          printJson(io, { ids, tokens, text });
          return;
        }
        io.out(`text:   ${JSON.stringify(text)}\n`);
        io.out(`ids:    ${ids.join(' ')}\n`);
        io.out(`tokens: ${tokens.map((t) => JSON.stringify(t)).join(' ')}\n`);
        io.out(`count:  ${ids.length}\n`);
      },
    );
}
