/**
 * The tokenizer of a model folder, built from its files' contents (no file reading here, so it runs in a
 * browser too): `tokenizerFromJson`. `loadTokenizer` (tokenizer.ts) reads the files from a folder.
 */
import { Template } from '@huggingface/jinja';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { FormatError, SooError } from './errors.js';

/** One chat turn, as chat templates receive it. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | (string & {});
  content: string;
}

export interface EncodeOptions {
  /** Add the tokenizer's special tokens (BOS where it adds one). Default true, like HF. */
  addSpecialTokens?: boolean;
}

export interface Encoding {
  ids: number[];
  tokens: string[];
}

export interface ChatTemplateOptions {
  /** Append the assistant turn header. Default true. */
  addGenerationPrompt?: boolean;
  /** Extra variables passed to the template. */
  extra?: Record<string, unknown>;
}

/**
 * A model folder's tokenizer: `tokenizer.json` run by `@huggingface/tokenizers` (pure JS, matches the Rust
 * tokenizers on the fixtures, byte fallback included) and the chat template from `tokenizer_config.json`
 * (or `chat_template.jinja`) rendered by `@huggingface/jinja` in its sandbox with `trim_blocks` and
 * `lstrip_blocks`, as transformers renders it.
 */
export class SooTokenizer {
  readonly dir: string;
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly padToken: string | null;
  readonly unkToken: string | null;
  readonly chatTemplate: string | null;
  private readonly tok: HfTokenizer;
  private compiled: Template | null = null;

  constructor(dir: string, tok: HfTokenizer, config: Record<string, unknown>, chatTemplate: string | null) {
    this.dir = dir;
    this.tok = tok;
    this.bosToken = tokenString(config.bos_token);
    this.eosToken = tokenString(config.eos_token);
    this.padToken = tokenString(config.pad_token);
    this.unkToken = tokenString(config.unk_token);
    this.chatTemplate = chatTemplate;
  }

  encode(text: string, options: EncodeOptions = {}): Encoding {
    const enc = this.tok.encode(text, { add_special_tokens: options.addSpecialTokens ?? true });
    return { ids: [...enc.ids], tokens: [...enc.tokens] };
  }

  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    return this.tok.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? false });
  }

  idToToken(id: number): string | undefined {
    return this.tok.id_to_token(id);
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  get vocabSize(): number {
    return this.tok.get_vocab(true).size;
  }

  /** The id of a special token by role, if the tokenizer defines it. */
  specialId(role: 'bos' | 'eos' | 'pad' | 'unk'): number | undefined {
    const t = { bos: this.bosToken, eos: this.eosToken, pad: this.padToken, unk: this.unkToken }[role];
    return t === null ? undefined : this.tok.token_to_id(t);
  }

  /** Render messages with the model's chat template (no tokenization). */
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    if (this.chatTemplate === null) {
      throw new FormatError(
        'CHAT_TEMPLATE',
        `${fileIn(this.dir, 'tokenizer_config.json')}: chat_template: the model folder has no chat template (expected "chat_template" in tokenizer_config.json or a chat_template.jinja file)`,
        {
          file: fileIn(this.dir, 'tokenizer_config.json'),
          field: 'chat_template',
        },
      );
    }
    try {
      this.compiled ??= new Template(this.chatTemplate);
      return this.compiled.render({
        messages,
        add_generation_prompt: options.addGenerationPrompt ?? true,
        bos_token: this.bosToken ?? '',
        eos_token: this.eosToken ?? '',
        pad_token: this.padToken ?? '',
        unk_token: this.unkToken ?? '',
        ...options.extra,
      });
    } catch (e) {
      if (e instanceof SooError) throw e;
      throw new FormatError(
        'CHAT_TEMPLATE',
        `${this.dir}: chat_template: rendering failed: ${(e as Error).message}`,
        {
          file: this.dir,
          field: 'chat_template',
          cause: e,
        },
      );
    }
  }

  /**
   * Render a single user turn with the generation prompt and encode it without adding special tokens
   * (the template already contains them). This is how soo wraps every prompt.
   */
  encodeChatUser(content: string, options: ChatTemplateOptions = {}): Encoding & { text: string } {
    const text = this.applyChatTemplate([{ role: 'user', content }], options);
    return { ...this.encode(text, { addSpecialTokens: false }), text };
  }
}

function tokenString(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') {
    return (v as { content: string }).content;
  }
  return null;
}

/** `name` inside the folder (or URL) `dir`, for messages: one slash between them. */
function fileIn(dir: string, name: string): string {
  if (dir === '' || dir === '.') return name;
  return `${dir.replace(/\/+$/, '')}/${name}`;
}

/** The chat template `tokenizer_config.json` holds (a string, or the "default" entry of a list), or null. */
export function chatTemplateOf(cfg: Record<string, unknown>): string | null {
  const ct = cfg.chat_template;
  if (typeof ct === 'string') return ct;
  if (Array.isArray(ct)) {
    const def = ct.find((t) => t && typeof t === 'object' && (t as { name?: unknown }).name === 'default') as
      { template?: unknown } | undefined;
    if (def && typeof def.template === 'string') return def.template;
  }
  return null;
}

/**
 * A tokenizer from the parsed `tokenizer.json` and `tokenizer_config.json` of a model folder and its chat
 * template (`chatTemplateOf(cfg)`, else `chat_template.jinja`, else null). `dir` names the folder (or URL)
 * in errors. Throws `TOKENIZER_LOAD` when the tokenizers library cannot build it.
 */
export function tokenizerFromJson(
  dir: string,
  tokJson: Record<string, unknown>,
  cfg: Record<string, unknown>,
  chatTemplate: string | null,
): SooTokenizer {
  const tokFile = fileIn(dir, 'tokenizer.json');
  let tok: HfTokenizer;
  try {
    tok = new HfTokenizer(tokJson, cfg);
  } catch (e) {
    throw new FormatError(
      'TOKENIZER_LOAD',
      `${tokFile}: the tokenizer could not be built: ${(e as Error).message}`,
      {
        file: tokFile,
        // the property the tokenizers library complained about, when it names one
        field: /"([A-Za-z_][\w.]*)"/.exec((e as Error).message)?.[1] ?? 'model',
        cause: e,
      },
    );
  }
  return new SooTokenizer(dir, tok, cfg, chatTemplate);
}
