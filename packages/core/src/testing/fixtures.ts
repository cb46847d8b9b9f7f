import { existsSync } from 'node:fs';
import * as path from 'node:path';

/**
 * The `shared/` folder beside the repository root (fixtures, docs). Found from `SOO_SHARED`, else by
 * walking up from the working directory until a `shared/fixtures` folder appears next to a folder.
 */
export function sharedDir(): string {
  const env = process.env.SOO_SHARED;
  if (env) return path.resolve(env);
  let dir = process.cwd();
  for (;;) {
    const candidate = path.join(dir, 'shared');
    if (existsSync(path.join(candidate, 'fixtures', 'hf-tiny'))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error('could not find the shared/ folder (set SOO_SHARED to its path)');
}

export const FIXTURE_ARCHS = ['llama', 'mistral', 'gemma2', 'qwen2'] as const;
export type FixtureArch = (typeof FIXTURE_ARCHS)[number];

/** `shared/fixtures/hf-tiny/<arch>`. */
export function hfTinyDir(arch: FixtureArch): string {
  return path.join(sharedDir(), 'fixtures', 'hf-tiny', arch);
}

/** The hf-tiny-extra fixture folders: [label, model folder]. */
export function hfTinyExtraDirs(): Array<[string, string]> {
  const base = path.join(sharedDir(), 'fixtures', 'hf-tiny-extra');
  return [
    ['llama3-rope-rslora', path.join(base, 'llama3-rope-rslora', 'llama')],
    ['mistral-bf16-sharded', path.join(base, 'mistral-bf16-sharded', 'mistral')],
    ['mistral-sliding-window', path.join(base, 'mistral-sliding-window', 'mistral')],
  ];
}

/** Relative error ‖out − ref‖ / ‖ref‖ in float64. Throws when ‖ref‖ is 0 (never test on zeros). */
export function relativeError(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (out.length !== ref.length) throw new Error(`length mismatch: ${out.length} vs ${ref.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = (out[i] as number) - (ref[i] as number);
    num += d * d;
    den += (ref[i] as number) * (ref[i] as number);
  }
  if (den === 0) throw new Error('reference is all zeros: relative error is undefined');
  return Math.sqrt(num / den);
}
