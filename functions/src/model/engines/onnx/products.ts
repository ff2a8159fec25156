/**
 * Keras' Dot and Embedding in ONNX: a product of two values over chosen axes, and a table
 * lookup. Both as Keras computes them (tfjs-layers agrees; onnx_layers.test.ts compares).
 */
import {weightsByRole, type GraphLayer} from '../../keras/graph.js';
import {attr, NoOnnxTranslation, OnnxBuilder, type Value} from './builder.js';

/** Keras' `l2_normalize` along `axis` (with the batch): x / √max(Σx², 1e-12). */
function l2Normalize(b: OnnxBuilder, x: string, axis: number, hint: string): string {
  const sum = b.op('ReduceSumSquare', [x], `${hint}/sum_sq`, [attr.ints('axes', [axis]), attr.int('keepdims', 1)]);
  const floor = b.floats(`${hint}/eps`, Float32Array.of(1e-12), []);
  const norm = b.op('Sqrt', [b.op('Max', [sum, floor], `${hint}/floored`)], `${hint}/norm`);
  return b.op('Div', [x, norm], hint);
}

/**
 * Dot(axes, normalize) of two vectors (`[d]·[d]` → `[1]`) or two matrices (`[n, d]`, `[m, e]`,
 * contracted over one axis of each: `axes` 2, 2 gives `[n, m]`). Keras counts the batch axis in
 * `axes`. Other ranks are left to tfjs.
 */
export function dot(b: OnnxBuilder, layer: GraphLayer, inputs: readonly Value[]): Value {
  const [x, y] = inputs.map(v => b.toKeras(v)) as [Value, Value];
  const rank = x.shape.length;
  if (inputs.length !== 2 || y.shape.length !== rank || rank > 2)
    throw new NoOnnxTranslation(`Dot '${layer.name}' of rank ${x.shape.length + 1} and ${y.shape.length + 1} inputs`);
  const given = layer.config['axes'];
  const axes = (Array.isArray(given) ? given : [given, given]).map(a => {
    const n = Number(a);
    return n < 0 ? n + rank + 1 : n; // with the batch axis, as Keras counts
  }) as [number, number];
  if (axes.some(a => a < 1 || a > rank)) throw new NoOnnxTranslation(`Dot '${layer.name}' over axes ${String(given)}`);
  const normalize = layer.config['normalize'] === true;
  const xs = normalize ? l2Normalize(b, x.name, axes[0], `${layer.name}/x_normalized`) : x.name;
  const ys = normalize ? l2Normalize(b, y.name, axes[1], `${layer.name}/y_normalized`) : y.name;
  if (rank === 1) {
    const product = b.op('Mul', [xs, ys], `${layer.name}/product`);
    const sum = b.op('ReduceSum', [product, b.ints(`${layer.name}/axes`, [1])], layer.name, [attr.int('keepdims', 1)]);
    return {name: sum, shape: [1], storage: 'keras'};
  }
  // Matrices: contract x's axis a with y's axis b. MatMul contracts x's last with y's first
  // (after the batch), so x is transposed when a is 1 and y when b is 2.
  const swap = (v: string, hint: string) => b.op('Transpose', [v], hint, [attr.ints('perm', [0, 2, 1])]);
  const left = axes[0] === 1 ? swap(xs, `${layer.name}/x_t`) : xs;
  const right = axes[1] === 2 ? swap(ys, `${layer.name}/y_t`) : ys;
  if (x.shape[axes[0] - 1] !== y.shape[axes[1] - 1])
    throw new NoOnnxTranslation(`Dot '${layer.name}': contracted axes differ in size`);
  const shape = [x.shape[2 - axes[0]]!, y.shape[2 - axes[1]]!];
  return {name: b.op('MatMul', [left, right], layer.name), shape, storage: 'keras'};
}

/**
 * Embedding: each value, cast to an integer as Keras does (toward zero), picks a row of
 * `embeddings`. Indices are clipped to the table, where Keras would fail the request on an
 * index out of range: a bad pixel should not make a message fail forever. `mask_zero` feeds a
 * mask to later layers, which is left to tfjs.
 */
export function embedding(b: OnnxBuilder, layer: GraphLayer, input: Value): Value {
  if (layer.config['mask_zero'] === true) throw new NoOnnxTranslation(`Embedding '${layer.name}' (mask_zero)`);
  const v = b.toKeras(input);
  const table = weightsByRole(layer, ['embeddings']).get('embeddings')!;
  const [rows, width] = table.shape as [number, number];
  const ints = b.op('Cast', [v.name], `${layer.name}/indices`, [attr.int('to', 7)]); // INT64
  const lo = b.ints(`${layer.name}/first`, [0]);
  const hi = b.ints(`${layer.name}/last`, [rows - 1]);
  const flat = (hint: string, name: string) => b.op('Reshape', [name, b.ints(`${layer.name}/${hint}`, [])], hint);
  const clipped = b.op(
    'Clip',
    [ints, flat(`${layer.name}/lo`, lo), flat(`${layer.name}/hi`, hi)],
    `${layer.name}/clipped`
  );
  const y = b.op('Gather', [b.floats(`${layer.name}/embeddings`, table.values, table.shape), clipped], layer.name, [
    attr.int('axis', 0),
  ]);
  return {name: y, shape: [...v.shape, width], storage: 'keras'};
}
