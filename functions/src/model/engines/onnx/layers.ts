/**
 * One Keras layer call → ONNX nodes. Every formula is the one tfjs-layers computes (the
 * fidelity test holds the two engines to 1e-4): e.g. `hardSigmoid` is
 * `clip(0.2 x + 0.5, 0, 1)`, `gelu` is the exact `0.5 x (1 + erf(x / √2))`, `selu` uses
 * Keras' constants. A layer or option not listed throws {@link NoOnnxTranslation}, and
 * the loader serves that model with tfjs instead.
 */
import {INFERENCE_IDENTITY, weightsByRole, type GraphLayer} from '../../keras/graph.js';
import {reshapeTarget} from '../../keras/shapes.js';
import {batchNormAffine} from '../../keras/fold.js';
import {attr, NoOnnxTranslation, OnnxBuilder, type Value} from './builder.js';
import {recurrent, stackedCells} from './recurrent.js';
import {MASKED_LAYERS, masking} from './masking.js';
import {categoryEncoding, dot, embedding} from './products.js';
import {bidirectional, bidirectionalPair, timeDistributed} from './wrappers.js';
import {activation, clip} from './activations.js';
import {convLstm2d} from './conv_recurrent.js';
import {layerNormalization} from './normalization.js';
import {centerCrop, kerasResize, upSampling} from './resize.js';
import {convolution, globalPooling, padOrCrop, pooling} from './spatial.js';
import {convTranspose} from './transposed.js';
import {merge} from './merge.js';
import {channelGather, stackChannels} from './channel_order.js';

/** A per-channel `y = x * scale + shift` along logical `axis`. */
function affine(b: OnnxBuilder, v: Value, axis: number, scale: Float32Array, shift: Float32Array, hint: string): Value {
  const shape = b.channelShape(v, axis, scale.length);
  const m = b.op('Mul', [v.name, b.floats(`${hint}/scale`, scale, shape)], `${hint}/mul`);
  return {...v, name: b.op('Add', [m, b.floats(`${hint}/shift`, shift, shape)], hint)};
}

function dense(b: OnnxBuilder, layer: GraphLayer, input: Value): Value {
  const v = b.toKeras(input);
  const roles = layer.config['use_bias'] === false ? ['kernel'] : ['kernel', 'bias'];
  const declared = Number(layer.config['units']);
  const w = weightsByRole(layer, roles, {kernel: [v.shape.at(-1)!, declared], bias: [declared]});
  const kernel = w.get('kernel')!;
  const units = kernel.shape.at(-1)!;
  const k = b.floats(`${layer.name}/kernel`, kernel.values, kernel.shape);
  const bias = w.get('bias');
  const bName = bias ? b.floats(`${layer.name}/bias`, bias.values, [units]) : null;
  let y: string;
  if (v.shape.length === 1) y = b.op('Gemm', bName ? [v.name, k, bName] : [v.name, k], layer.name);
  else {
    y = b.op('MatMul', [v.name, k], `${layer.name}/matmul`);
    if (bName) y = b.op('Add', [y, bName], layer.name);
  }
  return {name: y, shape: [...v.shape.slice(0, -1), units], storage: 'keras'};
}

function reshape(b: OnnxBuilder, layer: GraphLayer, input: Value, target: readonly number[]): Value {
  const v = b.toKeras(input);
  const shape = reshapeTarget(layer.name, v.shape, target);
  const y = b.op('Reshape', [v.name, b.ints(`${layer.name}/shape`, [-1, ...shape])], layer.name);
  return {name: y, shape, storage: 'keras'};
}

/** Layers that one function of the layer and its (first) input translates. */
const BY_CLASS: Readonly<Record<string, (b: OnnxBuilder, layer: GraphLayer, v: Value) => Value>> = {
  SimpleRNN: recurrent,
  GRU: recurrent,
  LSTM: recurrent,
  Masking: masking,
  Bidirectional: bidirectional,
  ConvLSTM2D: convLstm2d,
  RNN: stackedCells,
  Embedding: embedding,
  CategoryEncoding: categoryEncoding,
  ...Object.fromEntries(
    ['Max', 'Average'].flatMap(kind => ['1D', '2D', '3D'].map(rank => [`${kind}Pooling${rank}`, pooling]))
  ),
  ...Object.fromEntries(
    ['GlobalAveragePooling', 'GlobalMaxPooling'].flatMap(kind =>
      ['1D', '2D'].map(rank => [`${kind}${rank}`, globalPooling])
    )
  ),
  ZeroPadding2D: padOrCrop,
  Cropping2D: padOrCrop,
  UpSampling2D: upSampling,
  KerasResize: kerasResize,
  KerasCenterCrop: centerCrop,
  ChannelGather: channelGather,
};

/** Translates one call of `layer` on `inputs`. */
export function translateLayer(b: OnnxBuilder, layer: GraphLayer, inputs: readonly Value[]): Value {
  const c = layer.config;
  const v = inputs[0]!;
  const cls = layer.className;
  if (INFERENCE_IDENTITY.has(cls)) return v;
  const simple = (v.mask && MASKED_LAYERS[cls]) || BY_CLASS[cls];
  if (simple) return simple(b, layer, v);
  switch (cls) {
    case 'Conv1D':
    case 'Conv2D':
    case 'Conv3D':
    case 'DepthwiseConv2D':
    case 'SeparableConv2D':
      return activation(b, c['activation'], convolution(b, layer, v), `${layer.name}/act`);
    case 'TimeDistributed':
      return timeDistributed(b, layer, v, translateLayer);
    case 'Dot':
      return dot(b, layer, inputs);
    case 'Conv2DTranspose':
    case 'Conv3DTranspose':
      return activation(b, c['activation'], convTranspose(b, layer, v), `${layer.name}/act`);
    case 'Dense':
      return activation(b, c['activation'], dense(b, layer, v), `${layer.name}/act`);
    case 'Activation':
      return activation(b, c['activation'], v, layer.name);
    case 'HardActivation': // Keras 3's hard_sigmoid or hard_swish (keras/layer_substitutions.ts)
      return activation(b, c['kind'] === 'hardswish' ? 'hardSwish' : 'hardSigmoid3', v, layer.name);
    case 'BatchNormalization': {
      const axis = Number(c['axis'] ?? -1);
      const {scale, shift} = batchNormAffine(layer, v.shape.at(axis < 0 ? axis : axis - 1) ?? NaN);
      return affine(b, v, axis, scale, shift, layer.name);
    }
    case 'ReLU': {
      const max = c['max_value'];
      if (max === undefined || max === null) return {...v, name: b.op('Relu', [v.name], layer.name)};
      return {...v, name: clip(b, v.name, 0, Number(max), layer.name)};
    }
    case 'LeakyReLU': {
      const alpha = Number(c['alpha'] ?? c['negative_slope'] ?? 0.3);
      return {...v, name: b.op('LeakyRelu', [v.name], layer.name, [attr.float('alpha', alpha)])};
    }
    case 'ELU':
      return {...v, name: b.op('Elu', [v.name], layer.name, [attr.float('alpha', Number(c['alpha'] ?? 1))])};
    case 'ThresholdedReLU':
      return {
        ...v,
        name: b.op('ThresholdedRelu', [v.name], layer.name, [attr.float('alpha', Number(c['theta'] ?? 1))]),
      };
    case 'Softmax': {
      const axis = Array.isArray(c['axis']) ? (c['axis'] as number[]) : [Number(c['axis'] ?? -1)];
      if (axis.length !== 1) throw new NoOnnxTranslation(`Softmax '${layer.name}' over axes ${axis.join(', ')}`);
      return {...v, name: b.op('Softmax', [v.name], layer.name, [attr.int('axis', b.storageAxis(v, axis[0]!))])};
    }
    case 'PReLU': {
      const k = b.toKeras(v);
      // Keras' alpha has the input's shape, 1 along the shared axes (1-based, batch left out).
      const shared = ([c['shared_axes'] ?? []].flat() as number[]).map(Number);
      const want = k.shape.map((d, i) => (shared.includes(i + 1) ? 1 : d));
      const alpha = weightsByRole(layer, ['alpha'], {alpha: want}).get('alpha')!;
      const slope = b.floats(`${layer.name}/alpha`, alpha.values, alpha.shape);
      return {...k, name: b.op('PRelu', [k.name, slope], layer.name)};
    }
    case 'Rescaling': {
      // A number, or (Keras 3) a list per channel, broadcast against the last axis.
      const n = v.shape.at(-1)!;
      const [scale, offset] = [c['scale'] ?? 1, c['offset'] ?? 0].map(x => {
        const a = [x].flat() as unknown[];
        if (a.length === 1 || (a.length === n && a.every(e => typeof e === 'number')))
          return Float32Array.from({length: n}, (_, i) => Number(a[a.length === 1 ? 0 : i]));
        throw new NoOnnxTranslation(`Rescaling '${layer.name}' by ${JSON.stringify(x)} on ${n} channels`);
      }) as [Float32Array, Float32Array];
      return affine(b, v, -1, scale, offset, layer.name);
    }
    case 'LayerNormalization':
      return layerNormalization(b, layer, v);
    case 'Flatten': {
      let k = b.toKeras(v);
      if (c['data_format'] === 'channels_first' && k.shape.length > 1) {
        // Keras moves a channels-first value's channels last before flattening (so that a
        // model's Dense weights keep their order across data formats); tfjs-layers too.
        const perm = [0, ...k.shape.map((_, i) => i + 2).slice(0, -1), 1];
        const y = b.op('Transpose', [k.name], `${layer.name}/channels_last`, [attr.ints('perm', perm)]);
        k = {name: y, shape: [...k.shape.slice(1), k.shape[0]!], storage: 'keras'};
      }
      const y = b.op('Flatten', [k.name], layer.name, [attr.int('axis', 1)]);
      return {name: y, shape: [k.shape.reduce((a, d) => a * d, 1)], storage: 'keras'};
    }
    case 'Reshape':
      return reshape(b, layer, v, (c['target_shape'] as number[]).map(Number));
    case 'KeepDims': {
      // A global pooling with keepdims=True (keras/config.ts): [C] → [1, 1, C] or [C, 1, 1].
      const ones = Array<number>(Number(c['spatial_rank'] ?? 2)).fill(1);
      const shape = c['channels_first'] ? [v.shape[0]!, ...ones] : [...ones, v.shape[0]!];
      return reshape(b, layer, v, shape);
    }
    case 'Permute': {
      const k = b.toKeras(v);
      const dims = (c['dims'] as number[]).map(Number);
      const y = b.op('Transpose', [k.name], layer.name, [attr.ints('perm', [0, ...dims])]);
      return {name: y, shape: dims.map(d => k.shape[d - 1]!), storage: 'keras'};
    }
    case 'RepeatVector': {
      const k = b.toKeras(v);
      const n = Number(c['n']);
      const u = b.op('Unsqueeze', [k.name, b.ints(`${layer.name}/axes`, [1])], `${layer.name}/unsqueeze`);
      const y = b.op('Expand', [u, b.ints(`${layer.name}/shape`, [1, n, 1])], layer.name);
      return {name: y, shape: [n, ...k.shape], storage: 'keras'};
    }
    case 'Add':
    case 'Subtract':
    case 'Multiply':
    case 'Average':
    case 'Maximum':
    case 'Minimum':
    case 'Concatenate':
      return merge(b, layer, inputs);
    case 'StackChannels':
      return stackChannels(b, layer, inputs);
    default:
      throw new NoOnnxTranslation(`${cls} '${layer.name}'`);
  }
}

/** A layer call's outputs, by Keras' output index: one, or Bidirectional(merge_mode=None)'s two. */
export function translateCall(b: OnnxBuilder, layer: GraphLayer, inputs: readonly Value[]): readonly Value[] {
  if (layer.className === 'Bidirectional' && layer.config['merge_mode'] === null)
    return bidirectionalPair(b, layer, inputs[0]!);
  return [translateLayer(b, layer, inputs)];
}

/** Layer classes {@link translateLayer} knows (others make the loader fall back to tfjs). */
export const ONNX_LAYERS = new Set([
  ...INFERENCE_IDENTITY,
  ...Object.keys(BY_CLASS),
  ...'TimeDistributed Dot Conv1D Conv2D Conv2DTranspose Conv3DTranspose Conv3D DepthwiseConv2D SeparableConv2D Dense Activation HardActivation BatchNormalization ReLU LeakyReLU ELU ThresholdedReLU Softmax PReLU Rescaling LayerNormalization Flatten Reshape KeepDims Permute RepeatVector Add Subtract Multiply Average Maximum Minimum Concatenate StackChannels InputLayer'.split(
    ' '
  ),
]);
