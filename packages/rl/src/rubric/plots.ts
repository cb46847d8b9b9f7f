/**
 * Two small SVG charts for the reproduce report: a strip plot (one column of dots per group, with its
 * mean as a bar) and a scatter plot with the diagonal y = x. Plain strings, no dependencies.
 */
export interface StripGroup {
  name: string;
  values: readonly number[];
  color?: string;
}

export interface ScatterSeries {
  name: string;
  color: string;
  points: readonly (readonly [number, number])[];
}

const PALETTE = ['#c0392b', '#2471a3', '#7d3c98', '#229954', '#b9770e', '#515a5a'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const num = (v: number) => (Math.round(v * 100) / 100).toString();

function ticks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9 * step; t += step) out.push(t);
  return out;
}

function fmtTick(t: number): string {
  const a = Math.abs(t);
  return a >= 1e4 || (a > 0 && a < 1e-2) ? t.toExponential(1) : String(Math.round(t * 1000) / 1000);
}

/** One column per group: every value as a dot (jittered deterministically), the mean as a bar. */
export function stripPlotSvg(groups: readonly StripGroup[], opts: { title: string; yLabel: string }): string {
  const W = 140 * Math.max(1, groups.length) + 80;
  const H = 360;
  const L = 70;
  const T = 40;
  const B = 60;
  const all = groups.flatMap((g) => g.values.filter(Number.isFinite));
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (!Number.isFinite(lo)) [lo, hi] = [0, 1];
  if (hi === lo) [lo, hi] = [lo - 1, hi + 1];
  const pad = (hi - lo) * 0.05;
  lo -= pad;
  hi += pad;
  const y = (v: number) => T + (H - T - B) * (1 - (v - lo) / (hi - lo));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(opts.title)}</text>`,
    `<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>`,
  ];
  for (const t of ticks(lo, hi)) {
    parts.push(
      `<line x1="${L}" x2="${W - 10}" y1="${num(y(t))}" y2="${num(y(t))}" stroke="#ddd"/>`,
      `<text x="${L - 6}" y="${num(y(t) + 4)}" text-anchor="end">${fmtTick(t)}</text>`,
    );
  }
  groups.forEach((g, i) => {
    const cx = L + 70 + i * 140;
    const color = g.color ?? PALETTE[i % PALETTE.length]!;
    g.values.forEach((v, k) => {
      if (!Number.isFinite(v)) return;
      const jitter = (((k * 0.618034) % 1) - 0.5) * 60;
      parts.push(
        `<circle cx="${num(cx + jitter)}" cy="${num(y(v))}" r="3" fill="${color}" fill-opacity="0.6"/>`,
      );
    });
    const fin = g.values.filter(Number.isFinite);
    if (fin.length) {
      const m = fin.reduce((a, b) => a + b, 0) / fin.length;
      parts.push(
        `<line x1="${cx - 40}" x2="${cx + 40}" y1="${num(y(m))}" y2="${num(y(m))}" stroke="black" stroke-width="2"/>`,
      );
    }
    parts.push(`<text x="${cx}" y="${H - B + 20}" text-anchor="middle">${esc(g.name)}</text>`);
    parts.push(`<text x="${cx}" y="${H - B + 36}" text-anchor="middle" fill="#555">n = ${fin.length}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/** Points per series on shared axes from 0, with the diagonal y = x. */
export function scatterSvg(
  series: readonly ScatterSeries[],
  opts: { title: string; xLabel: string; yLabel: string },
): string {
  const S = 420;
  const L = 80;
  const T = 40;
  const B = 60;
  const R = 150;
  const all = series.flatMap((s) => s.points.flat()).filter(Number.isFinite);
  const hi = (all.length ? Math.max(...all) : 1) * 1.05 || 1;
  const span = S - T - B;
  const x = (v: number) => L + (span * v) / hi;
  const y = (v: number) => T + span * (1 - v / hi);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${L + span + R}" height="${S}" viewBox="0 0 ${L + span + R} ${S}" font-family="sans-serif" font-size="12">`,
    `<rect width="${L + span + R}" height="${S}" fill="white"/>`,
    `<text x="${(L + span + R) / 2}" y="20" text-anchor="middle" font-size="14">${esc(opts.title)}</text>`,
    `<text x="${L + span / 2}" y="${S - 16}" text-anchor="middle">${esc(opts.xLabel)}</text>`,
    `<text transform="translate(16 ${T + span / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>`,
  ];
  for (const t of ticks(0, hi)) {
    parts.push(
      `<line x1="${L}" x2="${L + span}" y1="${num(y(t))}" y2="${num(y(t))}" stroke="#eee"/>`,
      `<text x="${L - 6}" y="${num(y(t) + 4)}" text-anchor="end">${fmtTick(t)}</text>`,
      `<text x="${num(x(t))}" y="${T + span + 16}" text-anchor="middle">${fmtTick(t)}</text>`,
    );
  }
  parts.push(
    `<line x1="${L}" y1="${T + span}" x2="${L + span}" y2="${T}" stroke="#888" stroke-dasharray="4 4"/>`,
    `<rect x="${L}" y="${T}" width="${span}" height="${span}" fill="none" stroke="#444"/>`,
  );
  series.forEach((s, i) => {
    for (const [px, py] of s.points)
      if (Number.isFinite(px) && Number.isFinite(py))
        parts.push(
          `<circle cx="${num(x(px))}" cy="${num(y(py))}" r="3.5" fill="${s.color}" fill-opacity="0.65"/>`,
        );
    parts.push(
      `<circle cx="${L + span + 20}" cy="${T + 10 + 18 * i}" r="5" fill="${s.color}"/>`,
      `<text x="${L + span + 30}" y="${T + 14 + 18 * i}">${esc(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
