/**
 * The config rules that substitute layers (config_rules.ts runs them with the others): a
 * Keras layer tfjs-layers lacks, or reads differently, becomes layers both engines run
 * (KeepDims after pooling with keepdims, HardActivation, KerasResize, BatchNormalization for
 * Normalization, Dropout for spatial dropout and augmentation, a recurrent layer for an RNN of
 * one cell, ConvNeXt's StochasticDepth and LayerScale), each changing nothing an inference
 * computes. Also the rules' shared types.
 */
import type {LayerEntry} from './config.js';

/** Layers whose `activation` is not applied to their output (hardActivations leaves them). */
const RECURRENT_OR_WRAPPER = new Set([
  'SimpleRNN',
  'GRU',
  'LSTM',
  'ConvLSTM2D',
  'RNN',
  'Bidirectional',
  'TimeDistributed',
]);

/** A translation context: where tfjs would need a new layer name, etc. */
export interface Context {
  /** Renames of layer outputs: consumers of key must read value instead. */
  readonly renames: Map<string, string>;
  /** Layers (class + name) tfjs cannot run, with the reason. */
  readonly unsupported: string[];
  /** Entries a rule added: they already read the original output, renames skip them. */
  readonly inserted: Set<LayerEntry>;
  /** Keras 3 wrote the config (its `hard_sigmoid` is relu6(x + 3) / 6, not Keras 2's 0.2 x + 0.5). */
  readonly keras3: boolean;
}

/** A rule rewrites one layer entry; it may return extra entries to insert after it. */
export type LayerRule = (layer: LayerEntry, ctx: Context) => LayerEntry[] | void;

/** The name of a layer entry, wherever Keras wrote it. */
export function layerName(layer: LayerEntry): string {
  return String(layer.config['name'] ?? layer.name ?? '?');
}

/** `GlobalAveragePooling2D(keepdims=True)` (Keras ≥ 2.6): tfjs ignores keepdims, so a KeepDims layer restores the kept axes. */
export const keepDimsPooling: LayerRule = (layer, ctx) => {
  if (!/^Global(Average|Max)Pooling[12]D$/.test(layer.class_name)) return;
  const keep = layer.config['keepdims'] === true;
  delete layer.config['keepdims'];
  if (!keep) return;
  const name = layerName(layer);
  const reshape: LayerEntry = {
    // KeepDims is this project's layer (extra_layers.ts): tfjs' Reshape cannot do [-1, 1, 1].
    class_name: 'KeepDims',
    name: `${name}_keepdims`,
    config: {
      name: `${name}_keepdims`,
      trainable: false,
      spatial_rank: layer.class_name.endsWith('2D') ? 2 : 1,
      channels_first: layer.config['data_format'] === 'channels_first',
    },
  };
  if (layer.inbound_nodes !== undefined) reshape.inbound_nodes = [[[name, 0, 0, {}]]];
  ctx.renames.set(name, `${name}_keepdims`);
  ctx.inserted.add(reshape);
  return [reshape];
};

/** A Sequential's first layer declares the model's input shape: a rewritten layer keeps it. */
function inputShapeOf(layer: LayerEntry): Record<string, unknown> {
  const shape = layer.config['batch_input_shape'];
  return shape === undefined ? {} : {batch_input_shape: shape};
}

/** Makes `layer` a `className` layer with `options`, keeping its name and input shape. */
export function rewrite(layer: LayerEntry, className: string, options: Record<string, unknown>): void {
  const config = {...inputShapeOf(layer), name: layerName(layer), trainable: false, ...options};
  layer.class_name = className;
  layer.config = config;
}

/**
 * `hard_swish` (= `hard_silu`, x · relu6(x + 3) / 6) and Keras 3's `hard_sigmoid`
 * (relu6(x + 3) / 6) are not tfjs activations: an Activation layer of one becomes this
 * project's HardActivation layer, and a layer with one fused gets a HardActivation after it.
 */
export const hardActivations: LayerRule = (layer, ctx) => {
  // A recurrent layer applies its activations inside the recurrence, not after it, and a
  // wrapper's are in the layer it holds: renameActivations names them instead.
  if (RECURRENT_OR_WRAPPER.has(layer.class_name)) return;
  const act = layer.config['activation'];
  // Spelt without underscores: tfjs camel-cases snake_case strings in configs it reads.
  const kind =
    act === 'hard_swish' || act === 'hard_silu'
      ? 'hardswish'
      : act === 'hard_sigmoid' && ctx.keras3
        ? 'hardsigmoid'
        : null;
  if (!kind) return;
  const name = layerName(layer);
  if (layer.class_name === 'Activation') {
    return rewrite(layer, 'HardActivation', {kind});
  }
  layer.config['activation'] = 'linear';
  const after: LayerEntry = {
    class_name: 'HardActivation',
    name: `${name}_${kind}`,
    config: {name: `${name}_${kind}`, trainable: false, kind},
  };
  if (layer.inbound_nodes !== undefined) after.inbound_nodes = [[[name, 0, 0, {}]]];
  ctx.renames.set(name, `${name}_${kind}`);
  ctx.inserted.add(after);
  return [after];
};

/**
 * Keras resizes images with half-pixel centres (`tf.image.resize`); tfjs-layers' Resizing
 * aligns corners instead and its bilinear UpSampling2D has no half-pixel centres. Both become
 * this project's KerasResize layer, which resizes as Keras does (and CenterCrop, whose tfjs
 * version samples between pixels, becomes KerasCenterCrop). Options tfjs-layers cannot
 * follow either (cropping or padding to the aspect ratio, other interpolations, channels
 * first) are refused, naming them.
 */
export const kerasResize: LayerRule = (layer, ctx) => {
  const c = layer.config;
  const name = layerName(layer);
  const interpolation = String(c['interpolation'] ?? (layer.class_name === 'Resizing' ? 'bilinear' : 'nearest'));
  if (layer.class_name === 'Resizing') {
    const why =
      c['crop_to_aspect_ratio'] === true
        ? 'crop_to_aspect_ratio'
        : c['antialias'] === true
          ? 'antialias'
          : c['pad_to_aspect_ratio'] === true
            ? 'pad_to_aspect_ratio'
            : interpolation !== 'bilinear' && interpolation !== 'nearest'
              ? `interpolation '${interpolation}'`
              : c['data_format'] === 'channels_first'
                ? 'channels_first'
                : null;
    if (why) return void ctx.unsupported.push(`Resizing '${name}' (${why})`);
    return rewrite(layer, 'KerasResize', {height: Number(c['height']), width: Number(c['width']), interpolation});
  }
  if (layer.class_name === 'CenterCrop') {
    if (c['data_format'] === 'channels_first')
      return void ctx.unsupported.push(`CenterCrop '${name}' (channels_first)`);
    return rewrite(layer, 'KerasCenterCrop', {height: Number(c['height']), width: Number(c['width'])});
  }
  if (layer.class_name !== 'UpSampling2D' || interpolation !== 'bilinear') return;
  if (c['data_format'] === 'channels_first')
    return void ctx.unsupported.push(`UpSampling2D '${name}' (bilinear, channels_first)`);
  const size = c['size'];
  const factor = Array.isArray(size) ? size.map(Number) : [Number(size ?? 2), Number(size ?? 2)];
  rewrite(layer, 'KerasResize', {factor, interpolation});
};

/**
 * Keras' Normalization layer, `(x - mean) / max(√variance, 1e-7)` (or its inverse with
 * `invert=True`), becomes a BatchNormalization here; keras/normalization.ts gives it the
 * weights that make the two equal. Both engines run BatchNormalization already.
 */
export const normalizationAsBatchNorm: LayerRule = (layer, ctx) => {
  if (layer.class_name !== 'Normalization') return;
  const axis = layer.config['axis'] === undefined ? -1 : layer.config['axis'];
  const axes = [axis].flat();
  if (axis === null || axes.length !== 1 || typeof axes[0] !== 'number') {
    ctx.unsupported.push(`Normalization '${layerName(layer)}' (axis ${JSON.stringify(axis)}: one axis only)`);
    return;
  }
  layer.class_name = 'BatchNormalization';
  layer.config = {
    ...inputShapeOf(layer),
    name: layerName(layer),
    trainable: false,
    axis: axes[0],
    epsilon: 1e-3,
    center: true,
    scale: true,
    normalization: {
      mean: layer.config['mean'] ?? null,
      variance: layer.config['variance'] ?? null,
      invert: layer.config['invert'] === true,
    },
  };
};

/**
 * Keras' image augmentation layers, which Keras documents as the identity at inference ("the
 * output will be identical to input"): a model trained with augmentation inside it serves
 * without it. RandomCrop is not one of them (at inference it resizes and crops).
 */
const AUGMENTATION = new Set([
  'RandomFlip',
  'RandomRotation',
  'RandomZoom',
  'RandomTranslation',
  'RandomContrast',
  'RandomBrightness',
  'RandomHeight',
  'RandomWidth',
]);

/** Keras' recurrent cell classes and the layer each one is the step of. */
export const CELL_LAYERS: Readonly<Record<string, string>> = {
  LSTMCell: 'LSTM',
  GRUCell: 'GRU',
  SimpleRNNCell: 'SimpleRNN',
};

/**
 * `RNN(cell=LSTMCell(…))` (and GRUCell, SimpleRNNCell) is the LSTM layer with that cell's
 * options: written as one, so that both engines run it as they run the layer (same weights,
 * same order). A stack of cells is left as it is (tfjs runs it).
 */
export const rnnOfOneCell: LayerRule = layer => {
  if (layer.class_name !== 'RNN') return;
  const cell = layer.config['cell'] as {class_name?: unknown; config?: Record<string, unknown>} | undefined;
  const kind = typeof cell?.class_name === 'string' ? CELL_LAYERS[cell.class_name] : undefined;
  if (!kind || !cell?.config) return;
  const flags = {...layer.config};
  delete flags['cell'];
  layer.class_name = kind;
  layer.config = {...cell.config, ...flags, name: layerName(layer)};
};

/**
 * The two layers keras.applications' ConvNeXt defines for itself (its `.h5` and `.keras` files
 * name them as custom layers), each as layers both engines run:
 * - `StochasticDepth(drop_path_rate)` drops a residual branch in training and is the identity
 *   at inference. (keras_cv's layer of that name takes `rate` and two inputs, and adds them:
 *   it is not this one, and stays refused.)
 * - `LayerScale(init_values, projection_dim)` multiplies its input by one learned `gamma` per
 *   channel (the last axis): a BatchNormalization with ε = 0, mean 0 and variance 1 computes
 *   exactly that; keras/layer_scale.ts gives it those weights, and the fold then takes it
 *   into the Dense before it.
 */
export const convNextLayers: LayerRule = layer => {
  if (layer.class_name === 'StochasticDepth' && 'drop_path_rate' in layer.config) {
    rewrite(layer, 'Dropout', {rate: 0});
  }
  if (layer.class_name === 'LayerScale' && 'projection_dim' in layer.config) {
    rewrite(layer, 'BatchNormalization', {
      axis: -1,
      epsilon: 0,
      center: true,
      scale: true,
      layer_scale: Number(layer.config['projection_dim']),
    });
  }
};

/**
 * Spatial dropout, augmentation and ActivityRegularization (a loss added in training) are the
 * identity at inference; tfjs-layers has only SpatialDropout1D, and no ActivityRegularization.
 */
export const spatialDropoutToDropout: LayerRule = layer => {
  if (layer.class_name === 'SpatialDropout2D' || layer.class_name === 'SpatialDropout3D') {
    layer.class_name = 'Dropout';
    delete layer.config['data_format'];
  }
  if (AUGMENTATION.has(layer.class_name) || layer.class_name === 'ActivityRegularization') {
    rewrite(layer, 'Dropout', {rate: 0});
  }
};
