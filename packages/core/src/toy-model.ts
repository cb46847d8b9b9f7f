/** `toyModelDir`: the embedded toy model's folder on disk. What the model is: toy-architecture.ts. */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NotFoundError } from './errors.js';

export * from './toy-architecture.js';

/** The committed toy model folder (`assets/toy-house` of @soo/core), from the sources or the build. */
export function toyModelDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '../assets/toy-house')]; // from src/ and from dist/
  const found = candidates.find((c) => existsSync(path.join(c, 'model.safetensors')));
  if (!found) {
    throw new NotFoundError(
      'FILE_NOT_FOUND',
      `the embedded toy model is missing (looked in ${candidates.join(', ')}); rebuild it with \`npm run toy:train\``,
      { file: candidates[0] },
    );
  }
  return found;
}
