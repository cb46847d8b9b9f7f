import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { FormatError, NotFoundError, SooError } from './errors.js';

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
        `${path.join(this.dir, 'tokenizer_config.json')}: chat_template: the model folder has no chat template (expected "chat_template" in tokenizer_config.json or a chat_template.jinja file)`,
        {
          file: path.join(this.dir, 'tokenizer_config.json'),
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

async function exists(file: string): Promise<boolean> {
  try {
    await fsp.access(file);
    return true;
  } catch {
    return false;
  }
}

async function readJson(file: string, code: 'TOKENIZER_LOAD'): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    throw new NotFoundError(
      'FILE_NOT_FOUND',
      `${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'}): expected a tokenizer file here`,
      { file, cause: e },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new FormatError(code, `${file}: not valid JSON: ${(e as Error).message}`, {
      file,
      field: '(syntax)',
      cause: e,
    });
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) {
    throw new FormatError(code, `${file}: expected a JSON object at the top level`, {
      file,
      field: '(top level)',
    });
  }
  return json as Record<string, unknown>;
}

/** Load `tokenizer.json` + `tokenizer_config.json` (+ optional `chat_template.jinja`) from a model folder. */
export async function loadTokenizer(dir: string): Promise<SooTokenizer> {
  // A missing folder, or a file given as the folder, is reported as such (not as a missing tokenizer.json).
  const st = await fsp.stat(dir).catch(() => null);
  if (!st || !st.isDirectory()) {
    throw new NotFoundError(
      'MODEL_DIR_NOT_FOUND',
      st
        ? `${dir}: is a file, expected a model folder (with tokenizer.json)`
        : `${dir}: folder does not exist, expected a model folder (with tokenizer.json)`,
      { file: dir, field: 'folder' },
    );
  }
  const tokFile = path.join(dir, 'tokenizer.json');
  const cfgFile = path.join(dir, 'tokenizer_config.json');
  const tokJson = await readJson(tokFile, 'TOKENIZER_LOAD');
  let cfg: Record<string, unknown> = {};
  if (await exists(cfgFile)) cfg = await readJson(cfgFile, 'TOKENIZER_LOAD');
  let chatTemplate: string | null = null;
  const ct = cfg.chat_template;
  if (typeof ct === 'string') chatTemplate = ct;
  else if (Array.isArray(ct)) {
    const def = ct.find((t) => t && typeof t === 'object' && (t as { name?: unknown }).name === 'default') as
      { template?: unknown } | undefined;
    if (def && typeof def.template === 'string') chatTemplate = def.template;
  }
  if (chatTemplate === null) {
    try {
      chatTemplate = await fsp.readFile(path.join(dir, 'chat_template.jinja'), 'utf8');
    } catch {
      chatTemplate = null;
    }
  }
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
