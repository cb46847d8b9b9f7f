/**
 * A small builder of ONNX graphs: named inputs and outputs, initializers, nodes with generated value
 * names, cached constants. `encode` writes the model (protobufjs, `onnx-proto.ts`), inline or with the
 * large initializers in one external data file (ONNX's `location` / `offset` / `length` entries).
 */
import {
  AttributeType,
  DataType,
  encodeModel,
  type AttributeMessage,
  type DataTypeValue,
  type Dim,
  type NodeMessage,
  type TensorMessage,
  type ValueInfoMessage,
} from './onnx-proto.js';

/** An attribute value: a number is an int unless wrapped by `float()`; arrays of ints; tensors. */
export type AttributeValue =
  | number
  | { float: number }
  | number[]
  | { floats: number[] }
  | { tensor: { dims: number[]; dataType: DataTypeValue; bytes: Uint8Array } };

export const float = (value: number): { float: number } => ({ float: value });

interface Initializer {
  name: string;
  dims: number[];
  dataType: DataTypeValue;
  bytes: Uint8Array;
}

export interface EncodeOptions {
  producerVersion: string;
  docString: string;
  metadata?: Record<string, string>;
  /** Put initializers of at least `threshold` bytes in `fileName` (next to the model file). */
  externalData?: { fileName: string; threshold: number };
}

export interface EncodedModel {
  model: Uint8Array;
  /** The external data file's chunks, in order (empty without `externalData`). */
  externalData: Uint8Array[];
}

/** Byte alignment of each tensor in the external data file. */
const EXTERNAL_ALIGNMENT = 64;

export function bytesOf(a: Float32Array | BigInt64Array | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export class GraphBuilder {
  private readonly nodes: NodeMessage[] = [];
  private readonly initializers: Initializer[] = [];
  private readonly inputs: ValueInfoMessage[] = [];
  private readonly outputs: ValueInfoMessage[] = [];
  private readonly constants = new Map<string, string>();
  private counter = 0;

  constructor(readonly opset: number) {}

  input(name: string, elemType: DataTypeValue, shape: Dim[], doc?: string): string {
    this.inputs.push({ name, elemType, shape, ...(doc ? { doc } : {}) });
    return name;
  }

  /** Expose `value` as graph output `name` (through an Identity when the names differ). */
  output(name: string, value: string, elemType: DataTypeValue, shape: Dim[], doc?: string): void {
    if (value !== name) this.node('Identity', [value], {}, [name]);
    this.outputs.push({ name, elemType, shape, ...(doc ? { doc } : {}) });
  }

  hasOutput(name: string): boolean {
    return this.outputs.some((o) => o.name === name);
  }

  get outputCount(): number {
    return this.outputs.length;
  }

  initializer(name: string, data: Float32Array | BigInt64Array, dims: number[]): string {
    const dataType = data instanceof Float32Array ? DataType.FLOAT : DataType.INT64;
    this.initializers.push({ name, dims, dataType, bytes: bytesOf(data) });
    return name;
  }

  /** An int64 constant (cached by value). */
  ints(values: readonly number[], dims: number[] = [values.length]): string {
    const key = `i:${dims.join('x')}:${values.join(',')}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.initializer(
        `const.${this.constants.size}`,
        BigInt64Array.from(values, (v) => BigInt(v)),
        dims,
      );
      this.constants.set(key, name);
    }
    return name;
  }

  /** A float32 scalar constant (cached by value). */
  scalar(value: number): string {
    const v = Math.fround(value);
    const key = `f:${Object.is(v, -0) ? '-0' : String(v)}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.initializer(`const.${this.constants.size}`, Float32Array.of(v), []);
      this.constants.set(key, name);
    }
    return name;
  }

  /** Add a node; returns its output names (generated unless given). */
  node(
    op: string,
    inputs: readonly string[],
    attrs: Record<string, AttributeValue> = {},
    outputs: number | readonly string[] = 1,
  ): string[] {
    const id = this.counter++;
    const outs =
      typeof outputs === 'number'
        ? Array.from({ length: outputs }, (_, i) => `${op}_${id}${outputs > 1 ? `_${i}` : ''}`)
        : [...outputs];
    this.nodes.push({
      input: [...inputs],
      output: outs,
      name: `${op}_${id}`,
      op_type: op,
      attribute: Object.entries(attrs).map(([name, v]) => attribute(name, v)),
    });
    return outs;
  }

  /** A one-output node. */
  op(op: string, inputs: readonly string[], attrs: Record<string, AttributeValue> = {}): string {
    return this.node(op, inputs, attrs)[0] as string;
  }

  encode(options: EncodeOptions): EncodedModel {
    const chunks: Uint8Array[] = [];
    let offset = 0;
    const ext = options.externalData;
    const tensors: TensorMessage[] = this.initializers.map((t) => {
      if (!ext || t.bytes.byteLength < ext.threshold)
        return { name: t.name, dims: t.dims, data_type: t.dataType, raw_data: t.bytes };
      const pad = (EXTERNAL_ALIGNMENT - (offset % EXTERNAL_ALIGNMENT)) % EXTERNAL_ALIGNMENT;
      if (pad) chunks.push(new Uint8Array(pad));
      offset += pad;
      chunks.push(t.bytes);
      const entry = {
        name: t.name,
        dims: t.dims,
        data_type: t.dataType,
        data_location: 1 as const,
        external_data: [
          { key: 'location', value: ext.fileName },
          { key: 'offset', value: String(offset) },
          { key: 'length', value: String(t.bytes.byteLength) },
        ],
      };
      offset += t.bytes.byteLength;
      return entry;
    });
    const model = encodeModel({
      producerName: 'soo',
      producerVersion: options.producerVersion,
      docString: options.docString,
      opset: this.opset,
      graphName: 'decoder',
      nodes: this.nodes,
      initializers: tensors,
      inputs: this.inputs,
      outputs: this.outputs,
      metadata: options.metadata ?? {},
    });
    return { model, externalData: chunks };
  }
}

function attribute(name: string, v: AttributeValue): AttributeMessage {
  if (typeof v === 'number') return { name, type: AttributeType.INT, i: v };
  if (Array.isArray(v)) return { name, type: AttributeType.INTS, ints: v };
  if ('float' in v) return { name, type: AttributeType.FLOAT, f: v.float };
  if ('floats' in v) return { name, type: AttributeType.FLOATS, floats: v.floats };
  return {
    name,
    type: AttributeType.TENSOR,
    t: { name: '', dims: v.tensor.dims, data_type: v.tensor.dataType, raw_data: v.tensor.bytes },
  };
}
