import onnxProto from 'onnx-proto';

// onnx-proto is CommonJS (`module.exports = $root`); the namespace hangs off the default export.
const { onnx } = onnxProto;

/** ONNX tensor element types the exporters use, with their TensorProto.DataType numbers. */
export const ElemType = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  // Added in ONNX 1.16 (IR 10); onnx-proto's enum predates them, the wire format does not care.
  uint4: 21,
  int4: 22,
} as const;
export type ElemTypeName = keyof typeof ElemType;

/** A dimension: a fixed size, or a symbolic name (dynamic, e.g. 'batch'). */
export type Dim = number | string;

/**
 * A node attribute value. A plain number is an INT attribute (most ONNX attributes are);
 * floats must say so, so that `epsilon: { float: 1 }` never silently becomes an INT.
 */
export type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

/** An operator set the model imports: '' (or 'ai.onnx') is the default domain. */
export interface OpsetImport {
  domain: string;
  version: number;
}

export interface SerializeOptions {
  /** Operator sets used by the graph, e.g. [{ domain: '', version: 17 }]. */
  opsets: OpsetImport[];
  /** IR version: 8 for opset 17, 10 for opset 21 (INT4 types). */
  irVersion: number;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  /** Free-form key/value metadata stored in the model (e.g. the model config). */
  metadata?: Record<string, string>;
}

/** Bytes per element of the fixed-width types (int4 is packed; see {@link OnnxGraphBuilder.initializer}). */
const BYTES: Partial<Record<ElemTypeName, number>> = {
  float32: 4,
  uint8: 1,
  int8: 1,
  int32: 4,
  int64: 8,
  bool: 1,
  float16: 2,
};

function valueInfo(name: string, type: ElemTypeName, dims: Dim[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: ElemType[type],
        shape: {
          dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
        },
      },
    },
  });
}

function attribute(name: string, v: AttrValue) {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') {
    if (!Number.isInteger(v))
      throw new Error(`ONNX attribute ${name}: ${v} is not an integer; use { float: ${v} }`);
    return onnx.AttributeProto.create({ name, type: T.INT, i: v });
  }
  if (typeof v === 'string')
    return onnx.AttributeProto.create({ name, type: T.STRING, s: new TextEncoder().encode(v) });
  if (Array.isArray(v)) return onnx.AttributeProto.create({ name, type: T.INTS, ints: v });
  if ('float' in v) return onnx.AttributeProto.create({ name, type: T.FLOAT, f: v.float });
  return onnx.AttributeProto.create({ name, type: T.FLOATS, floats: v.floats });
}

function byteView(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * A minimal ONNX graph builder: named initializers (raw little-endian data), nodes with
 * auto-named outputs, typed graph inputs/outputs with symbolic dims, and serialization.
 * It does no shape inference and no checking beyond sizes; onnxruntime validates on load.
 */
export class OnnxGraphBuilder {
  private readonly nodes: ReturnType<typeof onnx.NodeProto.create>[] = [];
  private readonly inits: ReturnType<typeof onnx.TensorProto.create>[] = [];
  private readonly inputs: ReturnType<typeof onnx.ValueInfoProto.create>[] = [];
  private readonly outputs: ReturnType<typeof onnx.ValueInfoProto.create>[] = [];
  private readonly names = new Set<string>();
  private readonly constCache = new Map<string, string>();
  private counter = 0;

  constructor(readonly graphName: string) {}

  private claim(name: string): string {
    if (this.names.has(name))
      throw new Error(`ONNX graph ${this.graphName}: duplicate value name ${name}`);
    this.names.add(name);
    return name;
  }

  /** A value name starting with `hint` that is not taken yet (not reserved either). */
  private unused(hint: string): string {
    let n: string;
    do n = `${hint}_${this.counter++}`;
    while (this.names.has(n));
    return n;
  }

  /** A fresh value name starting with `hint`, reserved for the caller. */
  fresh(hint: string): string {
    return this.claim(this.unused(hint));
  }

  /** Declares a graph input. */
  input(name: string, type: ElemTypeName, dims: Dim[]): string {
    this.inputs.push(valueInfo(this.claim(name), type, dims));
    return name;
  }

  /** Declares an existing value as a graph output. */
  output(name: string, type: ElemTypeName, dims: Dim[]): void {
    this.outputs.push(valueInfo(name, type, dims));
  }

  /**
   * Adds a constant tensor. `data` is the element data for fixed-width types; for int4/uint4
   * it is the packed bytes (two elements per byte, the first in the low nibble, as ONNX stores them).
   */
  initializer(name: string, type: ElemTypeName, dims: number[], data: ArrayBufferView): string {
    const n = dims.reduce((a, d) => a * d, 1);
    const expected = type === 'int4' || type === 'uint4' ? Math.ceil(n / 2) : n * BYTES[type]!;
    if (data.byteLength !== expected) {
      throw new Error(
        `ONNX initializer ${name}: ${type} ${JSON.stringify(dims)} needs ${expected} bytes, got ${data.byteLength}`,
      );
    }
    // Copy: the caller's buffer may be a view that is reused or transferred later.
    const raw = byteView(data).slice();
    this.inits.push(
      onnx.TensorProto.create({
        name: this.claim(name),
        dataType: ElemType[type],
        dims,
        rawData: raw,
      }),
    );
    return name;
  }

  /** A float32 constant. */
  float(name: string, dims: number[], data: Float32Array | number[]): string {
    return this.initializer(
      name,
      'float32',
      dims,
      data instanceof Float32Array ? data : Float32Array.from(data),
    );
  }

  /** An int64 constant (shapes, axes, indices). */
  int64(name: string, dims: number[], data: BigInt64Array | number[]): string {
    const d = data instanceof BigInt64Array ? data : BigInt64Array.from(data, (x) => BigInt(x));
    return this.initializer(name, 'int64', dims, d);
  }

  /** An int8 constant. */
  int8(name: string, dims: number[], data: Int8Array): string {
    return this.initializer(name, 'int8', dims, data);
  }

  /** A shared 1-D int64 constant with the given values, created once per distinct value list. */
  ints(values: number[]): string {
    const key = `i64:${values.join(',')}`;
    let n = this.constCache.get(key);
    if (!n) {
      n = this.int64(this.unused('const_i64'), [values.length], values);
      this.constCache.set(key, n);
    }
    return n;
  }

  /** A shared int64 scalar constant (rank 0), created once per value. */
  intScalar(value: number): string {
    const key = `i64s:${value}`;
    let n = this.constCache.get(key);
    if (!n) {
      n = this.int64(this.unused('const_i64'), [], [value]);
      this.constCache.set(key, n);
    }
    return n;
  }

  /** A shared float32 scalar constant (rank 0), created once per value. */
  scalar(value: number): string {
    const key = `f32:${Math.fround(value)}`;
    let n = this.constCache.get(key);
    if (!n) {
      n = this.float(this.unused('const_f32'), [], [value]);
      this.constCache.set(key, n);
    }
    return n;
  }

  /**
   * Adds a node and returns its output names. `outputs` is a count (names are generated from
   * the op type) or explicit names; '' as an input means "optional input left out".
   */
  node(
    opType: string,
    inputs: string[],
    attrs: Record<string, AttrValue> = {},
    outputs: number | string[] = 1,
    domain = '',
  ): string[] {
    const outs =
      typeof outputs === 'number'
        ? Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase()))
        : outputs.map((o) => this.claim(o));
    this.nodes.push(
      onnx.NodeProto.create({
        opType,
        domain,
        name: `${opType}_${this.nodes.length}`,
        input: inputs,
        output: outs,
        attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
      }),
    );
    return outs;
  }

  /** {@link node} with exactly one output, returned as a string. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, domain = ''): string {
    return this.node(opType, inputs, attrs, 1, domain)[0]!;
  }

  /** Serializes the model (graph + opsets + metadata) to protobuf bytes. */
  toBytes(opts: SerializeOptions): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: opts.irVersion,
      producerName: opts.producerName ?? 'localrec',
      producerVersion: opts.producerVersion ?? '',
      docString: opts.docString ?? '',
      opsetImport: opts.opsets.map((o) => ({ domain: o.domain, version: o.version })),
      metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: this.graphName,
        node: this.nodes,
        initializer: this.inits,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
