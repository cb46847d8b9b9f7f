/**
 * Small, dependency-free SVG charts for reports (loss curves, per-layer latent SOO, bar charts of rates).
 * Output is deterministic text: the same data gives the same bytes, so reports diff cleanly.
 */

export interface Series {
  name: string;
  points: ReadonlyArray<readonly [number, number]>;
}

export interface LinePlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
  /** Log-scale y axis (values must be > 0). */
  logY?: boolean;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmtTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(1);
  return Number(v.toPrecision(3)).toString();
}

function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

/** A line chart with axes, ticks and a legend. Non-finite points are skipped. */
export function linePlot(series: readonly Series[], opts: LinePlotOptions): string {
  const W = opts.width ?? 640;
  const H = opts.height ?? 360;
  const m = { l: 64, r: 16, t: 36, b: 48 };
  const ty = (y: number): number => (opts.logY ? Math.log10(y) : y);
  const pts = series.flatMap((s) =>
    s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!opts.logY || y > 0)),
  );
  let [x0, x1, y0, y1] = [0, 1, 0, 1];
  if (pts.length) {
    x0 = Math.min(...pts.map((p) => p[0]));
    x1 = Math.max(...pts.map((p) => p[0]));
    y0 = Math.min(...pts.map((p) => ty(p[1])));
    y1 = Math.max(...pts.map((p) => ty(p[1])));
  }
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const sx = (x: number): number => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (y: number): number => H - m.b - ((ty(y) - y0) / (y1 - y0)) * (H - m.t - m.b);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(opts.title)}</text>`);
  for (const v of niceTicks(x0, x1)) {
    const x = sx(v).toFixed(1);
    out.push(`<line x1="${x}" y1="${m.t}" x2="${x}" y2="${H - m.b}" stroke="#eee"/>`);
    out.push(`<text x="${x}" y="${H - m.b + 14}" text-anchor="middle">${fmtTick(v)}</text>`);
  }
  for (const tv of niceTicks(y0, y1)) {
    const v = opts.logY ? 10 ** tv : tv;
    const y = sy(v).toFixed(1);
    out.push(`<line x1="${m.l}" y1="${y}" x2="${W - m.r}" y2="${y}" stroke="#eee"/>`);
    out.push(
      `<text x="${m.l - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmtTick(v)}</text>`,
    );
  }
  out.push(`<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`);
  out.push(`<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="black"/>`);
  out.push(
    `<text x="${(m.l + W - m.r) / 2}" y="${H - 12}" text-anchor="middle">${escapeXml(opts.xLabel)}</text>`,
  );
  out.push(
    `<text x="14" y="${(m.t + H - m.b) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(m.t + H - m.b) / 2})">${escapeXml(opts.yLabel)}${opts.logY ? ' (log)' : ''}</text>`,
  );
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length] as string;
    const p = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!opts.logY || y > 0));
    if (p.length > 1)
      out.push(
        `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${p.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`,
      );
    if (p.length <= 40)
      for (const [x, y] of p)
        out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.5" fill="${color}"/>`);
    out.push(`<rect x="${W - m.r - 150}" y="${m.t + 4 + i * 16}" width="10" height="10" fill="${color}"/>`);
    out.push(`<text x="${W - m.r - 135}" y="${m.t + 13 + i * 16}">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

export interface Bar {
  label: string;
  value: number;
  /** Error bar half-width (e.g. sd). */
  error?: number;
}

/** A vertical bar chart (e.g. deceptive rate per arm), values in [0, max]. */
export function barChart(
  bars: readonly Bar[],
  opts: { title: string; yLabel: string; max?: number; width?: number; height?: number },
): string {
  const W = opts.width ?? Math.max(320, 80 + bars.length * 70);
  const H = opts.height ?? 300;
  const m = { l: 56, r: 16, t: 36, b: 64 };
  const max = opts.max ?? Math.max(1e-12, ...bars.map((b) => b.value + (b.error ?? 0)));
  const bw = (W - m.l - m.r) / Math.max(1, bars.length);
  const sy = (v: number): number => H - m.b - (v / max) * (H - m.t - m.b);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(opts.title)}</text>`);
  for (const v of niceTicks(0, max)) {
    const y = sy(v).toFixed(1);
    out.push(`<line x1="${m.l}" y1="${y}" x2="${W - m.r}" y2="${y}" stroke="#eee"/>`);
    out.push(
      `<text x="${m.l - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmtTick(v)}</text>`,
    );
  }
  bars.forEach((b, i) => {
    const x = m.l + i * bw + bw * 0.15;
    const y = sy(Math.max(0, b.value));
    out.push(
      `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(bw * 0.7).toFixed(1)}" height="${(H - m.b - y).toFixed(1)}" fill="${PALETTE[i % PALETTE.length]}"/>`,
    );
    if (b.error) {
      const cx = (x + bw * 0.35).toFixed(1);
      out.push(
        `<line x1="${cx}" y1="${sy(b.value + b.error).toFixed(1)}" x2="${cx}" y2="${sy(Math.max(0, b.value - b.error)).toFixed(1)}" stroke="black"/>`,
      );
    }
    out.push(
      `<text x="${(x + bw * 0.35).toFixed(1)}" y="${H - m.b + 14}" text-anchor="middle">${escapeXml(b.label)}</text>`,
    );
    out.push(
      `<text x="${(x + bw * 0.35).toFixed(1)}" y="${(y - 4).toFixed(1)}" text-anchor="middle">${fmtTick(b.value)}</text>`,
    );
  });
  out.push(`<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`);
  out.push(
    `<text x="14" y="${(m.t + H - m.b) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(m.t + H - m.b) / 2})">${escapeXml(opts.yLabel)}</text>`,
  );
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** One group of a grouped bar chart: a category (e.g. a scenario) with one bar per series (e.g. an arm). */
export interface BarGroup {
  label: string;
  /** One value per series, in the series' order; `null` where a series has no value (no bar drawn). */
  values: ReadonlyArray<{ value: number; error?: number } | null>;
}

/**
 * A grouped vertical bar chart with error bars, a legend and labelled axes: `groups` along x, one bar per
 * series inside each group (e.g. deceptive % per scenario for each arm, mean ± sd over seeds).
 */
export function groupedBarChart(
  series: readonly string[],
  groups: readonly BarGroup[],
  opts: { title: string; xLabel: string; yLabel: string; max?: number; width?: number; height?: number },
): string {
  const W = opts.width ?? Math.max(420, 90 + groups.length * (series.length * 22 + 26));
  const H = opts.height ?? 340;
  const m = { l: 56, r: 16, t: 36 + 16 * Math.ceil(series.length / 4), b: 76 };
  const vals = groups.flatMap((g) => g.values.flatMap((v) => (v ? [v.value + (v.error ?? 0)] : [])));
  const max = opts.max ?? Math.max(1e-12, ...vals);
  const gw = (W - m.l - m.r) / Math.max(1, groups.length);
  const bw = (gw * 0.8) / Math.max(1, series.length);
  const sy = (v: number): number => H - m.b - (Math.min(v, max) / max) * (H - m.t - m.b);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(opts.title)}</text>`);
  series.forEach((name, i) => {
    const x = m.l + (i % 4) * 150;
    const y = 30 + Math.floor(i / 4) * 16;
    out.push(`<rect x="${x}" y="${y}" width="10" height="10" fill="${PALETTE[i % PALETTE.length]}"/>`);
    out.push(`<text x="${x + 14}" y="${y + 9}">${escapeXml(name)}</text>`);
  });
  for (const v of niceTicks(0, max)) {
    const y = sy(v).toFixed(1);
    out.push(`<line x1="${m.l}" y1="${y}" x2="${W - m.r}" y2="${y}" stroke="#eee"/>`);
    out.push(
      `<text x="${m.l - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmtTick(v)}</text>`,
    );
  }
  groups.forEach((g, gi) => {
    const gx = m.l + gi * gw + gw * 0.1;
    g.values.forEach((v, si) => {
      if (!v || !Number.isFinite(v.value)) return;
      const x = gx + si * bw;
      const y = sy(Math.max(0, v.value));
      out.push(
        `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(bw * 0.9).toFixed(1)}" height="${(H - m.b - y).toFixed(1)}" fill="${PALETTE[si % PALETTE.length]}"/>`,
      );
      if (v.error) {
        const cx = (x + bw * 0.45).toFixed(1);
        const [hi, lo] = [sy(v.value + v.error).toFixed(1), sy(Math.max(0, v.value - v.error)).toFixed(1)];
        out.push(`<line x1="${cx}" y1="${hi}" x2="${cx}" y2="${lo}" stroke="black"/>`);
        for (const yy of [hi, lo])
          out.push(
            `<line x1="${(x + bw * 0.25).toFixed(1)}" y1="${yy}" x2="${(x + bw * 0.65).toFixed(1)}" y2="${yy}" stroke="black"/>`,
          );
      }
    });
    out.push(
      `<text x="${(gx + gw * 0.4).toFixed(1)}" y="${H - m.b + 14}" text-anchor="middle">${escapeXml(g.label)}</text>`,
    );
  });
  out.push(`<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`);
  out.push(
    `<text x="${(m.l + W - m.r) / 2}" y="${H - 16}" text-anchor="middle">${escapeXml(opts.xLabel)}</text>`,
  );
  out.push(
    `<text x="14" y="${(m.t + H - m.b) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(m.t + H - m.b) / 2})">${escapeXml(opts.yLabel)}</text>`,
  );
  out.push('</svg>');
  return out.join('\n') + '\n';
}
