/**
 * Base weights from core's reader (`WeightSource`), checked against the config's expected tensors, and
 * LoRA merged into them: W' = W + scaling · B A (PEFT's `merge_and_unload`), summed in float64 and rounded
 * once to float32.
 */
import {
  FormatError,
  InvalidArgumentError,
  NotFoundError,
  expectedWeights,
  parsePeftKey,
  peftKey,
  type AdapterTensors,
  type DecoderConfig,
  type HostTensor,
  type WeightSource,
} from '@soo/core';

/** Every weight the config expects, by HF key, as float32. `file` names the source in errors. */
export async function readDecoderWeights(
  config: DecoderConfig,
  weights: WeightSource,
  file = 'the model weights',
): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  for (const spec of expectedWeights(config)) {
    const shape = weights.shape(spec.name);
    if (!shape)
      throw new NotFoundError(
        'WEIGHTS_MISSING',
        `${file}: tensor "${spec.name}" is missing; expected shape [${spec.shape.join(', ')}]`,
        { file, field: spec.name },
      );
    if (shape.length !== spec.shape.length || shape.some((d, i) => d !== spec.shape[i]))
      throw new FormatError(
        'WEIGHTS_SHAPE',
        `${file}: tensor "${spec.name}" has shape [${shape.join(', ')}], expected [${spec.shape.join(', ')}]`,
        { file, field: spec.name },
      );
    out.set(spec.name, { data: await weights.readFloat32(spec.name), shape: [...spec.shape] });
  }
  return out;
}

/** The adapted modules' paths, from the PEFT keys of `adapter`. */
export function adaptedModules(adapter: AdapterTensors): string[] {
  const paths = new Set<string>();
  for (const key of adapter.tensors.keys()) {
    const parsed = parsePeftKey(key);
    if (!parsed)
      throw new InvalidArgumentError('ADAPTER_WEIGHTS', `"${key}" is not a PEFT LoRA key`, { field: key });
    paths.add(parsed.modulePath);
  }
  return [...paths];
}

/**
 * `base` with every adapted linear weight replaced by W + scaling · B A; other tensors are shared, not
 * copied. Throws `ADAPTER_WEIGHTS` naming the key when a module or shape does not fit.
 */
export function mergeLora(
  base: ReadonlyMap<string, HostTensor>,
  adapter: AdapterTensors,
): Map<string, HostTensor> {
  const out = new Map(base);
  for (const modulePath of adaptedModules(adapter)) {
    const aKey = peftKey(modulePath, 'A');
    const bKey = peftKey(modulePath, 'B');
    const A = adapter.tensors.get(aKey);
    const B = adapter.tensors.get(bKey);
    const W = base.get(`${modulePath}.weight`);
    const scaling = adapter.scaling.get(modulePath);
    const bad = (key: string, msg: string): never => {
      throw new InvalidArgumentError('ADAPTER_WEIGHTS', `"${key}" ${msg}`, { field: key });
    };
    if (!A) return bad(aKey, 'is missing (its lora_B is present)');
    if (!B) return bad(bKey, 'is missing (its lora_A is present)');
    if (!W) return bad(aKey, `adapts "${modulePath}", which is not a linear module of this model`);
    if (scaling === undefined) return bad(aKey, 'has no scaling');
    const [outF, inF] = W.shape as [number, number];
    const r = A.shape[0] as number;
    if (A.shape[1] !== inF || B.shape[0] !== outF || B.shape[1] !== r)
      bad(
        aKey,
        `A [${A.shape.join(', ')}] and B [${B.shape.join(', ')}] do not fit the weight [${outF}, ${inF}]`,
      );
    const merged = new Float32Array(outF * inF);
    const acc = new Float64Array(inF);
    for (let o = 0; o < outF; o++) {
      acc.fill(0);
      for (let k = 0; k < r; k++) {
        const b = (B.data[o * r + k] as number) * scaling;
        if (b === 0) continue;
        const row = k * inF;
        for (let i = 0; i < inF; i++) acc[i] = (acc[i] as number) + b * (A.data[row + i] as number);
      }
      const w = o * inF;
      for (let i = 0; i < inF; i++) merged[w + i] = (W.data[w + i] as number) + (acc[i] as number);
    }
    out.set(`${modulePath}.weight`, { data: merged, shape: [outF, inF] });
  }
  return out;
}
