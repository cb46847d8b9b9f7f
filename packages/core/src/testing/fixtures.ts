import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The oracle fixtures folder that ships with `@soo/core` (`<package>/fixtures`: hf-tiny, hf-tiny-extra,
 * configs). `SOO_FIXTURES` overrides it (a folder with the same layout). Found by walking up from this
 * module, so it works from the sources, the built `dist/` and an installed package alike.
 */
export function fixturesDir(): string {
  const env = process.env.SOO_FIXTURES;
  if (env) {
    const dir = path.resolve(env);
    if (!existsSync(path.join(dir, 'hf-tiny'))) throw new Error(`SOO_FIXTURES=${env} has no hf-tiny/ folder`);
    return dir;
  }
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'fixtures');
    if (existsSync(path.join(candidate, 'hf-tiny')) && existsSync(path.join(dir, 'package.json')))
      return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(
    `could not find @soo/core's fixtures/ folder above ${path.dirname(fileURLToPath(import.meta.url))} (set SOO_FIXTURES to its path)`,
  );
}

/** `fixtures/configs/<name>`: the paper models' configs (no weights). */
export function fixtureConfigPath(name: string): string {
  return path.join(fixturesDir(), 'configs', name);
}

export const FIXTURE_ARCHS = ['llama', 'mistral', 'gemma2', 'qwen2'] as const;
export type FixtureArch = (typeof FIXTURE_ARCHS)[number];

/** `fixtures/hf-tiny/<arch>`. */
export function hfTinyDir(arch: FixtureArch): string {
  return path.join(fixturesDir(), 'hf-tiny', arch);
}

/** The hf-tiny-extra fixture folders: [label, model folder]. */
export function hfTinyExtraDirs(): Array<[string, string]> {
  const base = path.join(fixturesDir(), 'hf-tiny-extra');
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

/** [label, model folder] of every oracle fixture (hf-tiny, then hf-tiny-extra). */
export function conformanceFixtures(): Array<[string, string]> {
  return [...FIXTURE_ARCHS.map((a) => [a, hfTinyDir(a)] as [string, string]), ...hfTinyExtraDirs()];
}
