/**
 * LayerNormalization in ONNX. Keras normalises over the axes it is given, with `gamma` and
 * `beta` of those axes' sizes: `(x − mean) / sqrt(var + ε) · γ + β`, mean and (biased)
 * variance over those axes. Trailing axes are ONNX's LayerNormalization op; any other set is
 * written out with ReduceMean.
 */
import {weightsByRole, type GraphLayer} from '../../keras/graph.js';
import {attr, NoOnnxTranslation, OnnxBuilder, type Value} from './builder.js';

/** LayerNormalization over its `axis` (a number or a list; see the module comment). */
export function layerNormalization(b: OnnxBuilder, layer: GraphLayer, input: Value): Value {
  const c = layer.config;
  const k = b.toKeras(input);
  const rank = k.shape.length + 1; // with the batch axis
  const axes = [...new Set(([c['axis'] ?? -1].flat() as number[]).map(a => (a < 0 ? a + rank : a)))].sort(
    (a, b) => a - b
  );
  if (axes.length === 0 || axes.some(a => !(a >= 1 && a < rank)))
    throw new NoOnnxTranslation(`LayerNormalization '${layer.name}' over axis ${String(c['axis'])}`);
  // γ and β broadcast: the normalised axes' sizes, 1 elsewhere (batch axis left out).
  const dims = k.shape.map((d, i) => (axes.includes(i + 1) ? d : 1));
  const size = axes.reduce((n, a) => n * k.shape[a - 1]!, 1);
  // Keras stores γ and β as the normalised axes' sizes, in the order its config lists them.
  const stored = ([c['axis'] ?? -1].flat() as number[]).map(a => k.shape[(a < 0 ? a + rank : a) - 1] ?? NaN);
  const w = weightsByRole(
    layer,
    [...(c['scale'] !== false ? ['gamma'] : []), ...(c['center'] !== false ? ['beta'] : [])],
    {gamma: stored, beta: stored}
  );
  const gamma = w.get('gamma')?.values ?? new Float32Array(size).fill(1);
  const beta = w.get('beta')?.values ?? new Float32Array(size);
  const epsilon = Number(c['epsilon'] ?? 1e-3);
  const first = axes[0]!;
  if (axes.every((a, i) => a === first + i) && axes.at(-1) === rank - 1) {
    const trailing = dims.slice(first - 1);
    const y = b.op(
      'LayerNormalization',
      [k.name, b.floats(`${layer.name}/gamma`, gamma, trailing), b.floats(`${layer.name}/beta`, beta, trailing)],
      layer.name,
      [attr.int('axis', first), attr.float('epsilon', epsilon)]
    );
    return {...k, name: y};
  }
  const mean = b.op('ReduceMean', [k.name], `${layer.name}/mean`, [attr.ints('axes', axes)]);
  const centred = b.op('Sub', [k.name, mean], `${layer.name}/centred`);
  const square = b.op('Mul', [centred, centred], `${layer.name}/square`);
  const variance = b.op('ReduceMean', [square], `${layer.name}/variance`, [attr.ints('axes', axes)]);
  const eps = b.floats(`${layer.name}/epsilon`, Float32Array.of(epsilon), []);
  const std = b.op('Sqrt', [b.op('Add', [variance, eps], `${layer.name}/var_eps`)], `${layer.name}/std`);
  const normal = b.op('Div', [centred, std], `${layer.name}/normal`);
  const scaled = b.op('Mul', [normal, b.floats(`${layer.name}/gamma`, gamma, dims)], `${layer.name}/scaled`);
  return {...k, name: b.op('Add', [scaled, b.floats(`${layer.name}/beta`, beta, dims)], layer.name)};
}
