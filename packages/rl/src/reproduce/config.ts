import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from '@soo/core';

/** The settings of a `reproduce` run, written to `<out>/config.json`; a rerun must match them to resume. */
export interface ReproduceConfig {
  /** null: train both baselines here; 'shipped': the package's; a folder with deceptive/ and honest/. */
  baselines: string | null;
  trainEpisodes: number;
  finetuneEpisodes: number;
  /** Fine-tuning seeds per arm (K): arm "soo" (λ = β = 1) and arm "control" (λ = 0, β = 1). */
  finetuneSeeds: number;
  classifySeeds: number[];
  classifyEpisodes: number[];
  rubricSeeds: number[];
  rubricEpisodes: number;
  /**
   * 'blue' (default): every blue against common reds, noise floors, arms with bootstrap intervals;
   * 'paper': each condition with its own red (rl.md D.6), deceptive / honest / the first SOO agent.
   */
  rubricProtocol: 'blue' | 'paper';
  /** Episodes per classifier seed for the SOO-value distribution of every agent. */
  sooValueEpisodes: number;
  maddpg: { batchSize?: number; updateEvery?: number };
  seed: number;
}

/** A rerun into a folder started with other settings. */
export class ReproduceSettingsError extends InvalidArgumentError {
  override name = 'ReproduceSettingsError';
}

/** Write `<out>/config.json`, or check that the one there (an earlier run) has the same settings. */
export async function claimRunFolder(out: string, config: ReproduceConfig): Promise<void> {
  const configFile = join(out, 'config.json');
  if (existsSync(configFile)) {
    const before = await readFile(configFile, 'utf8');
    if (before.trim() !== JSON.stringify(config, null, 2)) {
      throw new ReproduceSettingsError(
        'INVALID_ARGUMENT',
        `${out} was started with other settings (${configFile}); rerun with the same flags to resume, or use a new --out`,
        { file: configFile },
      );
    }
  } else await writeFile(configFile, JSON.stringify(config, null, 2) + '\n');
}
