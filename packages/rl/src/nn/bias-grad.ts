/** g[oB + o] += Σ_b dz[b,o], row after row (contiguous reads; each sum still in order b = 0, 1, …). */
export function biasGrad(dz: Float64Array, B: number, O: number, g: Float64Array, oB: number): void {
  for (let b = 0; b < B; b++) {
    const r = b * O;
    for (let o = 0; o < O; o++) g[oB + o]! += dz[r + o]!;
  }
}
