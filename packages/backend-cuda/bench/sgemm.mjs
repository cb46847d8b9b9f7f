// OpenBLAS sgemm throughput (row-major fp32, C = A·B, no transposes), at one thread and at all threads:
// a 1024³ reference and the matmuls of one forward pass of a ~25 M-parameter Llama.
export const description = 'OpenBLAS sgemm GFLOP/s: 1024^3 and the 25 M model shapes';

// ASSUMED shape of the 25 M model until its config lands (engine helper: replace with the real one):
// hidden 512, MLP 1536, vocab 8192, 6 layers (6 * (4*512^2 + 3*512*1536) + 8192*512 = 24.6 M parameters),
// a batch of 8 sequences of 256 tokens = 2048 rows.
export const model25m = { hidden: 512, intermediate: 1536, vocab: 8192, layers: 6, tokens: 2048 };

export function shapes(model = model25m) {
  const { hidden: d, intermediate: f, vocab: v, tokens: t } = model;
  return [
    { name: 'square-1024', m: 1024, n: 1024, k: 1024 },
    { name: '25m-attn-proj (q/k/v/o)', m: t, n: d, k: d },
    { name: '25m-mlp-up (gate/up)', m: t, n: f, k: d },
    { name: '25m-mlp-down', m: t, n: d, k: f },
    { name: '25m-lm-head', m: t, n: v, k: d },
  ];
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function run({ addon, emit, quick }) {
  const allThreads = addon.blasInfo().numThreads;
  const targetSeconds = quick ? 0.05 : 0.3;
  const samples = quick ? 1 : 3;
  try {
    for (const threads of [...new Set([1, allThreads])]) {
      addon.setBlasThreads(threads);
      for (const s of shapes()) {
        const flopsPerCall = 2 * s.m * s.n * s.k;
        const probe = addon.sgemmBench(s.m, s.n, s.k, 1);
        const iters = Math.max(1, Math.min(1000, Math.ceil((targetSeconds * probe * 1e9) / flopsPerCall)));
        const runs = Array.from({ length: samples }, () => addon.sgemmBench(s.m, s.n, s.k, iters));
        emit({
          bench: 'sgemm',
          shape: s.name,
          m: s.m,
          n: s.n,
          k: s.k,
          threads,
          iters,
          gflops: Number(median(runs).toFixed(2)),
          samples: runs.map((g) => Number(g.toFixed(2))),
        });
      }
    }
  } finally {
    addon.setBlasThreads(allThreads);
  }
}
