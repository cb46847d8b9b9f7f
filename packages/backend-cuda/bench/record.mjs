// Turns one bench run's records into a BENCHMARKS.md section: machine, load, date and command first, one
// table per bench, native-cpu against tfjs-wasm as a ratio, then the raw JSON lines.
const fmt = (x) => (x === null || x === undefined ? '-' : String(x));

export function recordMarkdown(records) {
  const env = records.find((r) => r.bench === 'env') ?? {};
  const out = [
    '',
    `## ${records.some((r) => r.bench === 'onnx') ? 'onnx, ' : ''}native-cpu vs tfjs-wasm, ${String(env.date).slice(0, 10)}`,
    '',
    `Machine: ${env.cpu}, ${env.cores} cores, ${env.memoryGiB} GiB; load average ${fmt(env.loadavg?.join(' '))} at start; Node ${env.node}; OpenBLAS ${fmt(env.blas?.config)}; addon SIMD ${env.simd}. Command: \`${env.command}\`.`,
    '',
  ];
  const sgemm = records.filter((r) => r.bench === 'sgemm');
  if (sgemm.length) {
    out.push('OpenBLAS sgemm (row-major fp32):', '', '| shape | threads | GFLOP/s |', '| --- | --- | --- |');
    for (const r of sgemm) out.push(`| ${r.shape} (${r.m}x${r.n}x${r.k}) | ${r.threads} | ${r.gflops} |`);
    out.push('');
  }
  const steps = records.filter((r) => r.bench === 'soo-step');
  if (steps.length) {
    out.push(
      `SOO step on the ${steps[0].model}, hook ${steps[0].hook}, LoRA r 8 on q_proj,v_proj (FLOPs: 3 x the forward of the layers run, both passes; % of OpenBLAS sgemm ${steps[0].sgemmShape} in the same run):`,
      '',
      '| batch | native-cpu ms (CPU ms) | GFLOP/s (% sgemm) | tfjs-wasm ms (CPU ms) | GFLOP/s | native / tfjs |',
      '| --- | --- | --- | --- | --- | --- |',
    );
    for (const r of steps) {
      const n = r.results['native-cpu'];
      const t = r.results['tfjs-wasm'];
      out.push(
        `| ${r.batch} | ${n.ms} (${n.cpuMs}) | ${n.gflops} (${(100 * r.nativeFractionOfSgemm).toFixed(0)}% of ${r.sgemmGflops}) | ${fmt(t?.ms)} (${fmt(t?.cpuMs)}) | ${fmt(t?.gflops)} | ${fmt(r.speedupOverTfjsWasm)}x |`,
      );
    }
    out.push('');
  }
  const inf = records.find((r) => r.bench === 'inference');
  if (inf) {
    out.push(
      `Inference (forward: ${inf.forward}; generation: ${inf.generate}):`,
      '',
      '| model | native-cpu forward tok/s | tfjs-wasm forward tok/s | ratio | native-cpu generate tok/s | tfjs-wasm generate tok/s | ratio |',
      '| --- | --- | --- | --- | --- | --- | --- |',
    );
    const n = inf.results['native-cpu'] ?? {};
    const t = inf.results['tfjs-wasm'] ?? {};
    for (const label of Object.keys(n)) {
      const a = n[label];
      const b = t[label];
      const ratio = (x, y) => (x && y ? `${(x / y).toFixed(1)}x` : '-');
      out.push(
        `| ${label} | ${a.forwardTokensPerS} | ${fmt(b?.forwardTokensPerS)} | ${ratio(a.forwardTokensPerS, b?.forwardTokensPerS)} | ${a.generateTokensPerS} | ${fmt(b?.generateTokensPerS)} | ${ratio(a.generateTokensPerS, b?.generateTokensPerS)} |`,
      );
    }
    out.push('');
  }
  const ox = records.find((r) => r.bench === 'onnx');
  if (ox) {
    out.push(
      `onnxruntime-node on a \`soo export --onnx\` folder (${ox.onnxModel}; threads: ${ox.onnxThreads}) vs the source model on tfjs-wasm and native-cpu; generation: ${ox.generate}; forward: ${ox.forward}. Wall ms (process CPU ms, all threads):`,
      '',
      '| model | onnx generate tok/s | tfjs-wasm generate tok/s | native-cpu generate tok/s | onnx / tfjs-wasm | onnx / native-cpu | onnx forward tok/s | tfjs-wasm forward tok/s | native-cpu forward tok/s |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    );
    const o = ox.results.onnx ?? {};
    const t = ox.results['tfjs-wasm'] ?? {};
    const n = ox.results['native-cpu'] ?? {};
    const ratio = (x, y) => (x && y ? `${(x / y).toFixed(1)}x` : '-');
    const cell = (r, k) => (r ? `${r[`${k}TokensPerS`]} (${r[`${k}Ms`]} ms, CPU ${r[`${k}CpuMs`]} ms)` : '-');
    for (const label of Object.keys(o)) {
      out.push(
        `| ${label} | ${cell(o[label], 'generate')} | ${cell(t[label], 'generate')} | ${cell(n[label], 'generate')} | ${ratio(o[label].generateTokensPerS, t[label]?.generateTokensPerS)} | ${ratio(o[label].generateTokensPerS, n[label]?.generateTokensPerS)} | ${cell(o[label], 'forward')} | ${cell(t[label], 'forward')} | ${cell(n[label], 'forward')} |`,
      );
    }
    out.push('');
  }
  const pre = records.find((r) => r.bench === 'pretrain');
  if (pre) {
    const n = pre.results['native-cpu'];
    const t = pre.results['tfjs-wasm'];
    out.push(
      `Full-parameter training, ${pre.model}, ${pre.batch} per step:`,
      '',
      '| backend | ms / step (CPU ms) | tokens/s |',
      '| --- | --- | --- |',
      `| native-cpu | ${n.msPerStep} (${n.cpuMsPerStep}) | ${n.tokensPerS} |`,
      ...(t ? [`| tfjs-wasm | ${t.msPerStep} (${t.cpuMsPerStep}) | ${t.tokensPerS} |`] : []),
      '',
      `native-cpu / tfjs-wasm: ${fmt(pre.speedupOverTfjsWasm)}x.`,
      '',
    );
  }
  out.push('```json', ...records.map((r) => JSON.stringify(r)), '```', '');
  return out.join('\n');
}
