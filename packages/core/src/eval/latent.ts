/** The latent SOO report files (`writeLatent`); the measurement is in latent-measure.ts, re-exported here. */
import * as path from 'node:path';
import { writeFileAtomic } from '../fs.js';
import { linePlot } from '../report/svg.js';
import { latentMarkdown, type LatentSooReport } from './latent-measure.js';

export * from './latent-measure.js';

/**
 * Write `latent.json` ({base, adapter?}), `latent.md` (tables) and `latent_layers.svg` (per-layer latent SOO,
 * base vs adapter when both). Returns the paths.
 */
export async function writeLatent(
  outDir: string,
  base: LatentSooReport,
  tuned?: LatentSooReport,
): Promise<string[]> {
  const files = {
    json: path.join(outDir, 'latent.json'),
    md: path.join(outDir, 'latent.md'),
    svg: path.join(outDir, 'latent_layers.svg'),
  };
  await writeFileAtomic(
    files.json,
    JSON.stringify(tuned ? { base, adapter: tuned } : { base }, null, 2) + '\n',
  );
  await writeFileAtomic(files.md, latentMarkdown(base, tuned));
  const series = [{ name: 'base', points: base.perLayer.map((l) => [l.layer, l.mean] as const) }];
  if (tuned) series.push({ name: 'adapter', points: tuned.perLayer.map((l) => [l.layer, l.mean] as const) });
  await writeFileAtomic(
    files.svg,
    linePlot(series, {
      title: `Latent SOO per layer (${base.modules}, ${base.pooling})`,
      xLabel: 'layer',
      yLabel: 'MSE(self, other)',
    }),
  );
  return Object.values(files);
}
