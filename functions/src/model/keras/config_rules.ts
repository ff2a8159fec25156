/**
 * The rules of the Keras → tfjs-layers config translation (config.ts runs them on each
 * layer, in {@link LAYER_RULES} order): one named rule per difference between what Keras
 * writes and what tfjs-layers reads, each with its own unit test (config.test.ts). A rule
 * changes only what leaves inference results unchanged, or names the layer in
 * `ctx.unsupported` so that the translation refuses it.
 */
import {
  convNextLayers,
  hardActivations,
  keepDimsPooling,
  kerasResize,
  layerName,
  normalizationAsBatchNorm,
  rnnOfOneCell,
  spatialDropoutToDropout,
  type LayerRule,
} from './layer_substitutions.js';
import {channelSlices} from './channel_order.js';
import {kerasOps} from './keras_ops.js';
import {tfOpLambdas} from './tf_ops.js';

/** Keras activation names that tfjs-layers spells differently. */
const ACTIVATION_NAMES: Record<string, string> = {
  hard_sigmoid: 'hardSigmoid',
  log_softmax: 'logSoftmax',
  silu: 'swish',
};

/** Keras 3 writes `batch_shape` where Keras 2 and tfjs-layers say `batch_input_shape`. */
const renameBatchShape: LayerRule = layer => {
  if ('batch_shape' in layer.config && !('batch_input_shape' in layer.config)) {
    layer.config['batch_input_shape'] = layer.config['batch_shape'];
  }
  delete layer.config['batch_shape'];
};

/**
 * Regularisers and constraints act only during training; tfjs-layers knows only L1L2
 * (Keras writes `L2`, `L1`, `OrthogonalRegularizer`, …), so they are dropped.
 */
const dropTrainingOnlyOptions: LayerRule = layer => {
  for (const key of Object.keys(layer.config)) {
    if (key.endsWith('_regularizer') || key.endsWith('_constraint')) layer.config[key] = null;
  }
};

/**
 * Activation names tfjs spells differently (`hard_sigmoid` → `hardSigmoid`, …), in
 * `activation` and in recurrent layers' `recurrent_activation`, and in the layers a wrapper
 * (Bidirectional, TimeDistributed) or an RNN (its cell, or each of its stacked cells) holds.
 */
const renameActivations: LayerRule = (layer, ctx) => {
  const rename = (config: Record<string, unknown>) => {
    for (const key of ['activation', 'recurrent_activation']) {
      const act = config[key];
      if (typeof act !== 'string') continue;
      // Inside a recurrence (or a wrapper), the hard activations tfjs lacks are this project's
      // registered `hardSigmoid3` and `hardSwish` (extra_layers.ts); elsewhere hardActivations
      // has already replaced them with a HardActivation layer.
      if (act === 'hard_sigmoid' && ctx.keras3) config[key] = 'hardSigmoid3';
      else if (act === 'hard_swish' || act === 'hard_silu') config[key] = 'hardSwish';
      else if (act in ACTIVATION_NAMES) config[key] = ACTIVATION_NAMES[act];
    }
  };
  rename(layer.config);
  type Nested = {config?: {cells?: Nested[]} & Record<string, unknown>} | undefined;
  for (const key of ['layer', 'backward_layer', 'cell']) {
    const inner = (layer.config[key] as Nested)?.config;
    if (inner && typeof inner === 'object') rename(inner);
    // An RNN over StackedRNNCells: each cell's activations.
    for (const cell of Array.isArray(inner?.cells) ? inner.cells : []) if (cell?.config) rename(cell.config);
  }
};

/** Keras ≥ 2.4 writes `axis` of BatchNormalization as a list; tfjs wants one integer. */
const batchNormAxis: LayerRule = (layer, ctx) => {
  if (layer.class_name !== 'BatchNormalization') return;
  const axis = layer.config['axis'];
  if (Array.isArray(axis)) {
    if (axis.length === 1) layer.config['axis'] = axis[0];
    else ctx.unsupported.push(`BatchNormalization '${layerName(layer)}' (normalises over several axes)`);
  }
};

/**
 * Keras 2.3+ writes `groups` on convolutions (1 unless grouped). A grouped Conv1D/2D/3D is
 * kept: ONNX Runtime runs it and the tfjs engine, which has none, refuses it by name
 * (engines/tfjs/model.ts). Any other layer with groups is not one Keras writes.
 */
const convGroups: LayerRule = (layer, ctx) => {
  if (!('groups' in layer.config)) return;
  if (Number(layer.config['groups']) === 1) {
    delete layer.config['groups'];
  } else if (!['Conv1D', 'Conv2D', 'Conv3D'].includes(layer.class_name)) {
    ctx.unsupported.push(
      `${layer.class_name} '${layerName(layer)}' (grouped convolution, groups=${String(layer.config['groups'])})`
    );
  }
};

/** Keras `ReLU(negative_slope, threshold)`: tfjs ReLU only has max_value. */
const reluOptions: LayerRule = (layer, ctx) => {
  if (layer.class_name !== 'ReLU') return;
  const slope = Number(layer.config['negative_slope'] ?? 0);
  const threshold = Number(layer.config['threshold'] ?? 0);
  delete layer.config['negative_slope'];
  delete layer.config['threshold'];
  if (slope !== 0 || threshold !== 0) {
    ctx.unsupported.push(`ReLU '${layerName(layer)}' (negative_slope=${slope}, threshold=${threshold})`);
  }
};

/** Keras 3 writes LeakyReLU's slope as `negative_slope`; tfjs-layers reads `alpha` (else 0.3). */
const leakyReluSlope: LayerRule = layer => {
  if (layer.class_name !== 'LeakyReLU' || !('negative_slope' in layer.config)) return;
  layer.config['alpha'] ??= layer.config['negative_slope'];
  delete layer.config['negative_slope'];
};

/**
 * tf.keras 2 writes `time_major` on recurrent layers (and on the one a Bidirectional wraps):
 * true reads the input as [steps, batch, features]. Neither tfjs-layers nor the ONNX
 * translation reads it, so true is refused rather than run over the wrong axis.
 */
const recurrentTimeMajor: LayerRule = (layer, ctx) => {
  const inner = (key: string) => (layer.config[key] as {config?: Record<string, unknown>} | undefined)?.config;
  for (const config of [layer.config, inner('layer'), inner('backward_layer')]) {
    if (!config || !('time_major' in config)) continue;
    if (config['time_major'] === true) ctx.unsupported.push(`${layer.class_name} '${layerName(layer)}' (time_major)`);
    delete config['time_major'];
  }
};

/**
 * Keras 3's `LayerNormalization(rms_scaling=True)` scales without subtracting the mean (its
 * formula changed between Keras releases, which since deprecate it for RMSNormalization).
 * tfjs-layers has no such option, and the ONNX translation reads none: either would normalise
 * as usual and answer wrongly, so the layer is refused, naming the option.
 */
const layerNormRmsScaling: LayerRule = (layer, ctx) => {
  if (layer.class_name !== 'LayerNormalization' || !('rms_scaling' in layer.config)) return;
  if (layer.config['rms_scaling'] === true)
    ctx.unsupported.push(`LayerNormalization '${layerName(layer)}' (rms_scaling)`);
  delete layer.config['rms_scaling'];
};

/**
 * Keras 3 writes inbound nodes as `{args: [KerasTensor…], kwargs}`; Keras 2 and tfjs use
 * `[[layer, node_index, tensor_index, kwargs], …]` per node.
 */
export const keras3InboundNodes: LayerRule = layer => {
  if (!Array.isArray(layer.inbound_nodes)) return;
  layer.inbound_nodes = layer.inbound_nodes.map(node => {
    if (Array.isArray(node)) return node;
    const n = node as {args?: unknown[]; kwargs?: Record<string, unknown>};
    const refs: unknown[] = [];
    const collect = (arg: unknown): void => {
      if (Array.isArray(arg)) return arg.forEach(collect);
      const t = arg as {class_name?: string; config?: {keras_history?: [string, number, number]}};
      if (t?.class_name === '__keras_tensor__' && t.config?.keras_history) {
        const [name, nodeIndex, tensorIndex] = t.config.keras_history;
        refs.push([name, nodeIndex, tensorIndex, {}]);
      }
    };
    collect(n.args ?? []);
    return refs;
  });
};

/** Every rule, in the order it runs on each layer. */
export const LAYER_RULES: ReadonlyArray<readonly [string, LayerRule]> = [
  // Ops first: they become layers, which the rules after them then treat as any other.
  ['tfOpLambdas', tfOpLambdas],
  ['channelSlices', channelSlices],
  ['kerasOps', kerasOps],
  ['renameBatchShape', renameBatchShape],
  ['dropTrainingOnlyOptions', dropTrainingOnlyOptions],
  ['keepDimsPooling', keepDimsPooling],
  ['spatialDropoutToDropout', spatialDropoutToDropout],
  ['rnnOfOneCell', rnnOfOneCell],
  ['hardActivations', hardActivations],
  ['kerasResize', kerasResize],
  ['renameActivations', renameActivations],
  ['normalizationAsBatchNorm', normalizationAsBatchNorm],
  ['convNextLayers', convNextLayers],
  ['batchNormAxis', batchNormAxis],
  ['convGroups', convGroups],
  ['reluOptions', reluOptions],
  ['leakyReluSlope', leakyReluSlope],
  ['recurrentTimeMajor', recurrentTimeMajor],
  ['layerNormRmsScaling', layerNormRmsScaling],
  ['keras3InboundNodes', keras3InboundNodes],
];
