/**
 * `loadTokenizer`: a model folder's tokenizer files, read from disk (Node). The tokenizer itself, which
 * needs no file system, is in tokenizer-core.ts and re-exported here.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { FormatError, NotFoundError } from './errors.js';
import { chatTemplateOf, tokenizerFromJson, type SooTokenizer } from './tokenizer-core.js';

export * from './tokenizer-core.js';

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
  let chatTemplate = chatTemplateOf(cfg);
  if (chatTemplate === null) {
    try {
      chatTemplate = await fsp.readFile(path.join(dir, 'chat_template.jinja'), 'utf8');
    } catch {
      chatTemplate = null;
    }
  }
  return tokenizerFromJson(dir, tokJson, cfg, chatTemplate);
}
