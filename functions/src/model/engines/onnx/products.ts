/**
 * Keras' Dot, Embedding and CategoryEncoding in ONNX: a product of two values over chosen
 * axes, a table lookup, and token counts. As Keras computes them (tfjs-layers agrees;
 * onnx_layers.test.ts compares).
 */
import {weightsByRole, type GraphLayer} from '../../keras/graph.js';
import {attr, NoOnnxTranslation, OnnxBuilder, type Value} from './builder.js';
import {zeroMask} from './masking.js';

/** Keras' `l2_normalize` along `axis` (with the batch): x / √max(Σx², 1e-12). */
function l2Normalize(b: OnnxBuilder, x: string, axis: number, hint: string): string {
  const sum = b.op('ReduceSumSquare', [x], `${hint}/sum_sq`, [attr.ints('axes', [axis]), attr.int('keepdims', 1)]);
  const floor = b.floats(`${hint}/eps`, Float32Array.of(1e-12), []);
  const norm = b.op('Sqrt', [b.op('Max', [sum, floor], `${hint}/floored`)], `${hint}/norm`);
  return b.op('Div', [x, norm], hint);
}

/**
 * Dot(axes, normalize): Keras' `batch_dot` of two inputs of rank 1 or 2 each (without the
 * batch), contracted over one axis of each, as one Einsum: the result keeps the rest of x's
 * axes, then the rest of y's (`[n, d]·[m, d]` over (2, 2) → `[n, m]`; `[d]·[n, d]` over
 * (1, 2) → `[n]`), and a result with no axis left is `[1]`. Keras counts the batch in `axes`.
 * Higher ranks are refused by tfjs-layers too (its batchDot stops at 3 with the batch).
 */
export function dot(b: OnnxBuilder, layer: GraphLayer, inputs: readonly Value[]): Value {
  const [x, y] = inputs.map(v => b.toKeras(v)) as [Value, Value];
  if (inputs.length !== 2 || x.shape.length > 2 || y.shape.length > 2)
    throw new NoOnnxTranslation(`Dot '${layer.name}' of rank ${x.shape.length + 1} and ${y.shape.length + 1} inputs`);
  const given = layer.config['axes'];
  const [ax, ay] = (Array.isArray(given) ? given : [given, given]).map((a, i) => {
    const n = Number(a);
    return n < 0 ? n + [x, y][i]!.shape.length + 1 : n; // with the batch axis, as Keras counts
  }) as [number, number];
  if (!(ax >= 1 && ax <= x.shape.length && ay >= 1 && ay <= y.shape.length))
    throw new NoOnnxTranslation(`Dot '${layer.name}' over axes ${String(given)}`);
  if (x.shape[ax - 1] !== y.shape[ay - 1])
    throw new NoOnnxTranslation(`Dot '${layer.name}': contracted axes differ in size`);
  const normalize = layer.config['normalize'] === true;
  const xs = normalize ? l2Normalize(b, x.name, ax, `${layer.name}/x_normalized`) : x.name;
  const ys = normalize ? l2Normalize(b, y.name, ay, `${layer.name}/y_normalized`) : y.name;
  // Einsum letters: z for the batch, k for the contracted axis, the others their own.
  const xLetters = x.shape.map((_, i) => (i === ax - 1 ? 'k' : 'pq'[i]!));
  const yLetters = y.shape.map((_, i) => (i === ay - 1 ? 'k' : 'rs'[i]!));
  const kept = [...xLetters, ...yLetters].filter(l => l !== 'k');
  const equation = `z${xLetters.join('')},z${yLetters.join('')}->z${kept.join('')}`;
  const shape = [...x.shape.filter((_, i) => i !== ax - 1), ...y.shape.filter((_, i) => i !== ay - 1)];
  if (shape.length > 0) {
    const out = b.op('Einsum', [xs, ys], layer.name, [attr.str('equation', equation)]);
    return {name: out, shape, storage: 'keras'};
  }
  const sum = b.op('Einsum', [xs, ys], `${layer.name}/sum`, [attr.str('equation', equation)]);
  return {name: b.op('Unsqueeze', [sum, b.ints(`${layer.name}/axis`, [1])], layer.name), shape: [1], storage: 'keras'};
}

/**
 * Embedding: each value, cast to an integer as Keras does (toward zero), picks a row of
 * `embeddings`. Indices are clipped to the table, where Keras would fail the request on an
 * index out of range: a bad pixel should not make a message fail forever. `mask_zero` marks
 * the steps whose input is not 0 for the layers after it (onnx/masking.ts).
 */
export function embedding(b: OnnxBuilder, layer: GraphLayer, input: Value): Value {
  const v = b.toKeras(input);
  const table = weightsByRole(layer, ['embeddings'], {
    embeddings: [Number(layer.config['input_dim']), Number(layer.config['output_dim'])],
  }).get('embeddings')!;
  const [rows, width] = table.shape as [number, number];
  const ints = b.op('Cast', [v.name], `${layer.name}/indices`, [attr.int('to', 7)]); // INT64
  const lo = b.ints(`${layer.name}/first`, [0], []);
  const hi = b.ints(`${layer.name}/last`, [rows - 1], []);
  const clipped = b.op('Clip', [ints, lo, hi], `${layer.name}/clipped`);
  const y = b.op('Gather', [b.floats(`${layer.name}/embeddings`, table.values, table.shape), clipped], layer.name, [
    attr.int('axis', 0),
  ]);
  const mask = layer.config['mask_zero'] === true ? zeroMask(b, layer, v) : undefined;
  return {name: y, shape: [...v.shape, width], storage: 'keras', ...(mask ? {mask} : {})};
}

/**
 * CategoryEncoding: each value cast to an integer token (toward zero); `multi_hot` marks the
 * tokens a row holds, `count` counts them, `one_hot` encodes a single token (tfjs-layers takes
 * one per row), `int` passes the tokens on. A token outside `[0, num_tokens)` marks nothing,
 * where Keras and tfjs-layers fail the request. `tf_idf` needs weights the config does not
 * carry (tfjs-layers cannot run it either: such a model is refused); `sparse` is left to tfjs.
 */
export function categoryEncoding(b: OnnxBuilder, layer: GraphLayer, input: Value): Value {
  const v = b.toKeras(input);
  const mode = String(layer.config['output_mode'] ?? 'multi_hot');
  const tokens = Number(layer.config['num_tokens']);
  const ints = b.op('Cast', [v.name], `${layer.name}/tokens`, [attr.int('to', 7)]); // INT64
  if (mode === 'int') return {...v, name: b.op('Cast', [ints], layer.name, [attr.int('to', 1)]), storage: 'keras'};
  const rows = v.shape.length === 1 && (mode !== 'one_hot' || v.shape[0] === 1);
  if (!['multi_hot', 'one_hot', 'count'].includes(mode) || !rows || !(tokens > 0) || layer.config['sparse'] === true)
    throw new NoOnnxTranslation(`CategoryEncoding '${layer.name}' (${mode} of shape [${v.shape.join(', ')}])`);
  // [batch, n, 1] == [tokens] → [batch, n, tokens], then over n: any (max) or how many (sum).
  const column = b.op('Unsqueeze', [ints, b.ints(`${layer.name}/last`, [2])], `${layer.name}/column`);
  const range = b.ints(
    `${layer.name}/range`,
    Array.from({length: tokens}, (_, t) => t)
  );
  const equal = b.op('Equal', [column, range], `${layer.name}/equal`);
  const hits = b.op('Cast', [equal], `${layer.name}/hits`, [attr.int('to', 1)]); // FLOAT
  const keep = attr.int('keepdims', 0);
  const out =
    mode === 'count'
      ? b.op('ReduceSum', [hits, b.ints(`${layer.name}/axes`, [1])], layer.name, [keep])
      : b.op('ReduceMax', [hits], layer.name, [attr.ints('axes', [1]), keep]);
  return {name: out, shape: [tokens], storage: 'keras'};
}
