/**
 * Hand-written SVG figures: rubric heatmaps and episode trajectories. Plain strings, no dependencies.
 */
import { PhysicalDeceptionEnv, type PhysicalDeceptionOptions } from '../env/physical-deception.js';
import type { Maddpg } from '../maddpg/maddpg.js';

const VIRIDIS: [number, number, number][] = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

/** Viridis-like colour for t ∈ [0, 1]. */
export function viridis(t: number): string {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i]!;
  const b = VIRIDIS[i + 1]!;
  const c = (k: number) => Math.round(a[k]! + (b[k]! - a[k]!) * f);
  return `rgb(${c(0)},${c(1)},${c(2)})`;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const fmt = (v: number) => (Math.round(v * 1000) / 1000).toString();

export interface HeatmapOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Colour scale maximum (default: the grid's maximum); share it across figures to compare them. */
  vmax?: number;
  cell?: number;
}

/**
 * A heatmap of `counts[i·ny + j]` with x = xs[i] horizontal and y = ys[j] vertical (y up), plus a
 * colour bar. Defaults label the axes as the rubric's thresholds.
 */
export function heatmapSvg(
  counts: Float64Array,
  xs: readonly number[],
  ys: readonly number[],
  opts: HeatmapOptions = {},
): string {
  const nx = xs.length;
  const ny = ys.length;
  const cell = opts.cell ?? 4;
  const left = 60;
  const top = 36;
  const W = nx * cell;
  const H = ny * cell;
  let vmax = opts.vmax ?? 0;
  if (opts.vmax === undefined) for (const v of counts) vmax = Math.max(vmax, v);
  const parts: string[] = [];
  const width = left + W + 90;
  const height = top + H + 50;
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
  );
  parts.push(`<rect width="100%" height="100%" fill="white"/>`);
  if (opts.title)
    parts.push(
      `<text x="${left + W / 2}" y="20" text-anchor="middle" font-size="13">${esc(opts.title)}</text>`,
    );
  for (let i = 0; i < nx; i++) {
    for (let j = 0; j < ny; j++) {
      const v = counts[i * ny + j]!;
      const y = top + (ny - 1 - j) * cell;
      parts.push(
        `<rect x="${left + i * cell}" y="${y}" width="${cell}" height="${cell}" fill="${viridis(vmax > 0 ? v / vmax : 0)}"/>`,
      );
    }
  }
  parts.push(`<rect x="${left}" y="${top}" width="${W}" height="${H}" fill="none" stroke="black"/>`);
  for (const k of [0, Math.floor((nx - 1) / 2), nx - 1]) {
    const x = left + (k + 0.5) * cell;
    parts.push(
      `<line x1="${x}" y1="${top + H}" x2="${x}" y2="${top + H + 4}" stroke="black"/><text x="${x}" y="${top + H + 16}" text-anchor="middle">${fmt(xs[k]!)}</text>`,
    );
  }
  for (const k of [0, Math.floor((ny - 1) / 2), ny - 1]) {
    const y = top + (ny - 1 - k + 0.5) * cell;
    parts.push(
      `<line x1="${left - 4}" y1="${y}" x2="${left}" y2="${y}" stroke="black"/><text x="${left - 6}" y="${y + 4}" text-anchor="end">${fmt(ys[k]!)}</text>`,
    );
  }
  parts.push(
    `<text x="${left + W / 2}" y="${top + H + 34}" text-anchor="middle">${esc(opts.xLabel ?? 'x: projection on the fake landmark above')}</text>`,
  );
  parts.push(
    `<text transform="translate(16 ${top + H / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel ?? 'y: cos(goal, fake) below')}</text>`,
  );
  // colour bar
  const bx = left + W + 20;
  for (let k = 0; k < 50; k++) {
    parts.push(
      `<rect x="${bx}" y="${top + H - ((k + 1) * H) / 50}" width="14" height="${H / 50 + 0.5}" fill="${viridis(k / 49)}"/>`,
    );
  }
  parts.push(`<rect x="${bx}" y="${top}" width="14" height="${H}" fill="none" stroke="black"/>`);
  parts.push(
    `<text x="${bx + 18}" y="${top + 10}">${fmt(vmax)}</text><text x="${bx + 18}" y="${top + H}">0</text>`,
  );
  parts.push('</svg>');
  return parts.join('\n');
}

export interface Trajectory {
  red: [number, number][];
  blue: [number, number][];
  landmarks: [number, number][];
  goalIndex: number;
  sightRadius: number;
  /** Step at which red got trapped (−1 if never). */
  trappedAt: number;
  rewards: [number, number];
}

/** One deterministic episode (no exploration noise), positions recorded from reset on. */
export function recordTrajectory(
  maddpg: Maddpg,
  opts: { seed: number; env?: PhysicalDeceptionOptions },
): Trajectory {
  const env = new PhysicalDeceptionEnv({ ...opts.env, seed: opts.seed });
  let obs: readonly Float64Array[] = env.resetArrays();
  const red: [number, number][] = [[env.red.px, env.red.py]];
  const blue: [number, number][] = [[env.blue.px, env.blue.py]];
  let trappedAt = env.trapped ? 0 : -1;
  const rewards: [number, number] = [0, 0];
  for (let t = 0; t < env.maxCycles; t++) {
    const r = env.stepArrays(maddpg.act(obs, false));
    obs = r.obs;
    rewards[0] += r.rewards[0]!;
    rewards[1] += r.rewards[1]!;
    red.push([env.red.px, env.red.py]);
    blue.push([env.blue.px, env.blue.py]);
    if (trappedAt < 0 && env.trapped) trappedAt = t + 1;
  }
  return {
    red,
    blue,
    landmarks: env.world.landmarks.map((l) => [l.px, l.py]),
    goalIndex: env.goalIndex,
    sightRadius: env.sightRadius,
    trappedAt,
    rewards,
  };
}

/** The arena [−1, 1]² with walls, landmarks (goal green, fake grey), both paths and blue's sight radius. */
export function trajectorySvg(tr: Trajectory, opts: { title?: string; size?: number } = {}): string {
  const S = opts.size ?? 400;
  const m = 20;
  const sx = (x: number) => m + ((x + 1) / 2) * S;
  const sy = (y: number) => m + ((1 - y) / 2) * S;
  const r = (d: number) => (d / 2) * S;
  const path = (pts: [number, number][]) =>
    pts.map(([x, y], k) => `${k ? 'L' : 'M'}${sx(x).toFixed(2)},${sy(y).toFixed(2)}`).join(' ');
  const p: string[] = [];
  const W = S + 2 * m;
  const H = S + 2 * m + (opts.title ? 20 : 0);
  p.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
  );
  p.push(`<rect width="100%" height="100%" fill="white"/>`);
  p.push(
    `<rect x="${m}" y="${m}" width="${S}" height="${S}" fill="#f7f7f7" stroke="black" stroke-width="${r(0.1)}" stroke-opacity="0.35"/>`,
  );
  tr.landmarks.forEach(([x, y], k) => {
    const fill = k === tr.goalIndex ? 'rgb(38,166,38)' : 'rgb(38,38,38)';
    p.push(`<circle cx="${sx(x)}" cy="${sy(y)}" r="${r(0.08)}" fill="${fill}" fill-opacity="0.8"/>`);
    p.push(
      `<circle cx="${sx(x)}" cy="${sy(y)}" r="${r(0.16)}" fill="none" stroke="${fill}" stroke-dasharray="3 3"/>`,
    );
    p.push(
      `<text x="${sx(x)}" y="${sy(y) - r(0.16) - 3}" text-anchor="middle">${k === tr.goalIndex ? 'goal' : 'fake'}</text>`,
    );
  });
  p.push(`<path d="${path(tr.red)}" fill="none" stroke="rgb(217,89,89)" stroke-width="2"/>`);
  p.push(`<path d="${path(tr.blue)}" fill="none" stroke="rgb(89,89,217)" stroke-width="2"/>`);
  const [rx, ry] = tr.red[0]!;
  const [bx, by] = tr.blue[0]!;
  p.push(
    `<circle cx="${sx(bx)}" cy="${sy(by)}" r="${r(tr.sightRadius)}" fill="none" stroke="rgb(89,89,217)" stroke-opacity="0.5"/>`,
  );
  p.push(
    `<circle cx="${sx(rx)}" cy="${sy(ry)}" r="4" fill="rgb(217,89,89)"/><circle cx="${sx(bx)}" cy="${sy(by)}" r="4" fill="rgb(89,89,217)"/>`,
  );
  const [ex, ey] = tr.red[tr.red.length - 1]!;
  const [fx, fy] = tr.blue[tr.blue.length - 1]!;
  p.push(
    `<rect x="${sx(ex) - 4}" y="${sy(ey) - 4}" width="8" height="8" fill="rgb(217,89,89)"/><rect x="${sx(fx) - 4}" y="${sy(fy) - 4}" width="8" height="8" fill="rgb(89,89,217)"/>`,
  );
  const caption = `${opts.title ? esc(opts.title) + ' — ' : ''}return red ${fmt(tr.rewards[0])}, blue ${fmt(tr.rewards[1])}${tr.trappedAt >= 0 ? `, red trapped at step ${tr.trappedAt}` : ''}`;
  p.push(`<text x="${m}" y="${S + 2 * m + 12}">${caption}</text>`);
  p.push('</svg>');
  return p.join('\n');
}
