/**
 * `loadDecoderConfig`: a model folder's `config.json` read from disk (Node) and parsed by
 * `parseDecoderConfig` (config-parse.ts, re-exported here). Errors: `FILE_NOT_FOUND`, and the parser's.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_CONFIG_FILE, parseDecoderConfig } from './config-parse.js';
import type { DecoderConfig } from './config-types.js';
import { FormatError, NotFoundError } from './errors.js';

export * from './config-parse.js';

export interface LoadDecoderConfigOptions {
  /** File to read when `dirOrFile` is a folder (default `config.json`), e.g. `config.hub-v4.json`. */
  configFileName?: string;
}

/**
 * Read and normalise a model's config. `dirOrFile` is a model folder (reads `config.json`, or
 * `options.configFileName`) or the path of the config file itself.
 */
export async function loadDecoderConfig(
  dirOrFile: string,
  options: LoadDecoderConfigOptions = {},
): Promise<DecoderConfig> {
  const file = await resolveConfigPath(dirOrFile, options.configFileName ?? DEFAULT_CONFIG_FILE);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    throw new NotFoundError(
      'FILE_NOT_FOUND',
      `${file}: cannot read the model config (${errnoCode(e)}); expected a readable JSON file`,
      {
        file,
        cause: e,
      },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) as unknown;
  } catch (e) {
    throw new FormatError(
      'CONFIG_JSON',
      `${file}: not valid JSON (${(e as Error).message}); expected a config.json object`,
      {
        file,
        field: '(syntax)',
        cause: e,
      },
    );
  }
  return parseDecoderConfig(json, file);
}

async function resolveConfigPath(dirOrFile: string, fileName: string): Promise<string> {
  let stat;
  try {
    stat = await fsp.stat(dirOrFile);
  } catch (e) {
    throw new NotFoundError(
      'FILE_NOT_FOUND',
      `${dirOrFile}: no such file or folder (${errnoCode(e)}); expected a model folder or the path of its ${fileName}`,
      { file: dirOrFile, cause: e },
    );
  }
  if (!stat.isDirectory()) return dirOrFile;
  const file = path.join(dirOrFile, fileName);
  try {
    await fsp.access(file);
  } catch (e) {
    throw new NotFoundError(
      'FILE_NOT_FOUND',
      `${file}: the model folder has no ${fileName} (${errnoCode(e)})`,
      { file, cause: e },
    );
  }
  return file;
}

function errnoCode(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : String(e);
}
