/**
 * Writes an ONNX graph with the official ONNX protobuf definitions (`onnx-proto`, the
 * compiled `onnx.proto`): nodes, initializers, and the layout bookkeeping the Keras
 * translation needs.
 *
 * Layout: Keras image models are channels-last (NHWC); ONNX Runtime's convolutions are
 * channels-first (NCHW). Every value carries its *logical* Keras shape (without the batch
 * axis) and its *storage*: `keras` (stored as Keras sees it) or `cf` (a channels-last
 * tensor stored channels-first, `[N, C, spatial…]`). Convolutions and pooling want `cf`,
 * Flatten/Reshape/Dense want `keras`; a Transpose is inserted only where the storage
 * changes, and each is made once per value. So a MobileNet transposes twice: the image at
 * the input, and nothing after its global pooling (whose output is `[N, C]` either way).
 */
import onnxProto from 'onnx-proto';

const {onnx} = onnxProto;

/** `keras`: stored in Keras' order; `cf`: a channels-last tensor stored channels-first. */
export type Storage = 'keras' | 'cf';

/** A value of the graph. */
export interface Value {
  readonly name: string;
  /** Logical Keras shape without the batch axis, e.g. `[224, 224, 3]`. */
  readonly shape: readonly number[];
  readonly storage: Storage;
  /**
   * Keras' mask over the steps, a bool `[batch, steps]` tensor, where a Masking layer or an
   * Embedding with `mask_zero` made one; masking.ts' `maskFlow` decides which layers pass it
   * on.
   */
  readonly mask?: string;
}

/** A layer (or an option of one) that has no ONNX translation here: the loader falls back to tfjs. */
export class NoOnnxTranslation extends Error {}

/** One node attribute, as onnx-proto spells it (built with {@link attr}). */
export type Attribute = onnxProto.onnx.IAttributeProto;

/** Attribute helpers: ONNX distinguishes ints from floats, JavaScript does not. */
export const attr = {
  int: (name: string, i: number): Attribute => ({name, type: onnx.AttributeProto.AttributeType.INT, i}),
  ints: (name: string, ints: readonly number[]): Attribute => ({
    name,
    type: onnx.AttributeProto.AttributeType.INTS,
    ints: [...ints],
  }),
  float: (name: string, f: number): Attribute => ({name, type: onnx.AttributeProto.AttributeType.FLOAT, f}),
  floats: (name: string, floats: readonly number[]): Attribute => ({
    name,
    type: onnx.AttributeProto.AttributeType.FLOATS,
    floats: [...floats],
  }),
  strs: (name: string, strings: readonly string[]): Attribute => ({
    name,
    type: onnx.AttributeProto.AttributeType.STRINGS,
    strings: strings.map(x => new TextEncoder().encode(x)),
  }),
  str: (name: string, s: string): Attribute => ({
    name,
    type: onnx.AttributeProto.AttributeType.STRING,
    s: new TextEncoder().encode(s),
  }),
};

/** Accumulates nodes and initializers; see the module comment. */
export class OnnxBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly used = new Set<string>();
  /** Value name → the same value in the other storage, made once. */
  private readonly converted = new Map<string, Value>();

  /** A fresh value name based on `hint`. */
  fresh(hint: string): string {
    const base = hint.replace(/[^A-Za-z0-9_./:-]/g, '_');
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  /** A float32 initializer. */
  floats(hint: string, values: Float32Array, dims: readonly number[]): string {
    const name = this.fresh(hint);
    const raw = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    this.initializers.push({name, dims: [...dims], dataType: onnx.TensorProto.DataType.FLOAT, rawData: raw});
    return name;
  }

  /** An int64 initializer (shapes, axes, pads): 1-D, or of `dims` (`[]` for a scalar). */
  ints(hint: string, values: readonly number[], dims: readonly number[] = [values.length]): string {
    const name = this.fresh(hint);
    const data = BigInt64Array.from(values, v => BigInt(v));
    this.initializers.push({
      name,
      dims: [...dims],
      dataType: onnx.TensorProto.DataType.INT64,
      rawData: new Uint8Array(data.buffer),
    });
    return name;
  }

  /** `x` split along `axis` into its `count` slices of 1 (a sequence's steps, each kept as an axis of 1). */
  slices(x: string, axis: number, count: number, hint: string): string[] {
    const sizes = this.ints(`${hint}/sizes`, Array<number>(count).fill(1));
    return this.opMany('Split', [x, sizes], hint, count, [attr.int('axis', axis)]);
  }

  /** `x` with its `axis` in reverse order (the steps of a sequence read backwards). */
  reverse(x: string, axis: number, hint: string): string {
    const ints = (name: string, n: number) => this.ints(`${hint}/${name}`, [n]);
    return this.op(
      'Slice',
      [x, ints('start', -1), ints('end', -(2 ** 31)), ints('axis', axis), ints('step', -1)],
      hint
    );
  }

  /** The op type of the node that writes value `name` (undefined for an input or initializer). */
  producer(name: string): string | undefined {
    return this.nodes.find(n => n.output?.includes(name))?.opType ?? undefined;
  }

  /** Adds a node with one output and returns the output's name. */
  op(type: string, inputs: readonly string[], hint: string, attributes: Attribute[] = []): string {
    const output = this.fresh(hint);
    this.nodes.push({opType: type, input: [...inputs], output: [output], name: output, attribute: attributes});
    return output;
  }

  /** Adds a node with `count` outputs (recurrent ops: sequence and last state) and returns their names. */
  opMany(type: string, inputs: readonly string[], hint: string, count: number, attributes: Attribute[] = []): string[] {
    const outputs = Array.from({length: count}, (_, i) => this.fresh(`${hint}/out${i}`));
    this.nodes.push({opType: type, input: [...inputs], output: [...outputs], name: outputs[0]!, attribute: attributes});
    return outputs;
  }

  /** `v` stored in Keras order (a Transpose if it is stored channels-first). */
  toKeras(v: Value): Value {
    if (v.storage === 'keras') return v;
    return this.convert(v, 'keras', [0, ...range(2, v.shape.length + 1), 1]);
  }

  /** `v` (channels-last, rank ≥ 3 with batch) stored channels-first. */
  toChannelsFirst(v: Value): Value {
    if (v.storage === 'cf') return v;
    if (v.shape.length < 2)
      throw new NoOnnxTranslation(`cannot store a rank-${v.shape.length + 1} value channels-first`);
    return this.convert(v, 'cf', [0, v.shape.length, ...range(1, v.shape.length)]);
  }

  private convert(v: Value, storage: Storage, perm: number[]): Value {
    const cached = this.converted.get(v.name);
    if (cached) return cached;
    const name = this.op('Transpose', [v.name], `${v.name}_${storage}`, [attr.ints('perm', perm)]);
    const out = {name, shape: v.shape, storage};
    this.converted.set(v.name, out);
    this.converted.set(name, v);
    return out;
  }

  /** The storage axis of logical axis `axis` (counting the batch axis as 0; negative from the end). */
  storageAxis(v: Value, axis: number): number {
    const rank = v.shape.length + 1;
    const a = axis < 0 ? axis + rank : axis;
    if (v.storage === 'keras' || a === 0) return a;
    return a === rank - 1 ? 1 : a + 1;
  }

  /** Shape of a per-channel constant that broadcasts along logical `axis` of `v`. */
  channelShape(v: Value, axis: number, channels: number): number[] {
    const a = this.storageAxis(v, axis);
    return [channels, ...Array<number>(v.shape.length - a).fill(1)];
  }

  /**
   * The serialised ModelProto: input `input` (NHWC image batch), output `output`; `about`
   * becomes its doc string and metadata, for whoever opens the file.
   */
  encode(
    graphName: string,
    input: {name: string; dims: readonly number[]},
    output: Value,
    about?: {doc: string; metadata: Readonly<Record<string, string>>}
  ): Uint8Array {
    const outName = output.name === input.name ? this.op('Identity', [output.name], 'output') : output.name;
    const info = (name: string, dims: readonly number[]) => ({
      name,
      type: {
        tensorType: {
          elemType: onnx.TensorProto.DataType.FLOAT,
          shape: {dim: [{dimParam: 'batch'}, ...dims.map(d => ({dimValue: d}))]},
        },
      },
    });
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{domain: '', version: OPSET}],
      producerName: 'auto-update-classifier',
      ...(about && {
        docString: about.doc,
        metadataProps: Object.entries(about.metadata).map(([key, value]) => ({key, value})),
      }),
      graph: {
        name: graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: [info(input.name, input.dims)],
        output: [info(outName, output.shape)],
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

/** The ONNX operator set written (17: LayerNormalization; ReduceMean still takes attribute axes). */
export const OPSET = 17;

/** `[from, to)`. */
export function range(from: number, to: number): number[] {
  return Array.from({length: Math.max(0, to - from)}, (_, i) => from + i);
}
