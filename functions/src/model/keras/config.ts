/**
 * Translates a Keras `model_config` (Keras 2, tf.keras 2, Keras 3 legacy h5) into the
 * dialect tfjs-layers deserialises. This is the ONE place where Keras and tfjs-layers
 * differ; each difference is a named rule in {@link LAYER_RULES} (config_rules.ts) or a step in
 * {@link translateModelConfig}, and each has its own unit test.
 *
 * Rules only change what tfjs-layers would read differently from Keras, and only in
 * ways that leave inference results unchanged (a regulariser or a dropout variant does
 * nothing at inference). Anything that would change the arithmetic is rejected with an
 * {@link UnsupportedLayerError} naming the layer instead.
 */
import {UnsupportedLayerError} from '../../core/errors.js';
import {keras3InboundNodes, LAYER_RULES} from './config_rules.js';
import {layerName, type Context} from './layer_substitutions.js';

export {LAYER_RULES} from './config_rules.js';

/** A Keras layer entry: `{class_name, config, inbound_nodes?, name?}`. */
export interface LayerEntry {
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes?: unknown[];
  name?: string;
  [key: string]: unknown;
}

/** A Keras model config as stored in `model_config`. */
export interface ModelEntry {
  class_name: string;
  config: unknown;
}

/** Keras class names that are a model (container) rather than a single layer. */
const CONTAINERS = new Set(['Sequential', 'Functional', 'Model']);

const reasonFor = (classes: string, why: string) => classes.split(' ').map(cls => [cls, why] as const);

/**
 * Why neither engine runs some layers that Keras files contain. A class missing here and
 * from the engine's own list is a custom layer, or one newer than this table. A class that
 * gains a translation leaves the table (a test holds it to both engines' lists).
 */
export const UNSUPPORTED_REASONS: Readonly<Record<string, string>> = Object.fromEntries([
  ['Lambda', 'it holds marshalled Python code'],
  ...reasonFor('TFOpLambda SlicingOpLambda TensorFlowOpLayer', 'it calls a raw TensorFlow op'),
  // Keras' own layers that no translation here covers; "no such built-in layer" would be wrong.
  ...reasonFor(
    'Attention AdditiveAttention MultiHeadAttention GroupQueryAttention EinsumDense LocallyConnected1D ' +
      'LocallyConnected2D GroupNormalization UnitNormalization SpectralNormalization Conv1DTranspose ' +
      'DepthwiseConv1D SeparableConv1D ConvLSTM1D ConvLSTM3D ZeroPadding1D ZeroPadding3D Cropping1D Cropping3D ' +
      'UpSampling1D UpSampling3D GlobalAveragePooling3D GlobalMaxPooling3D RandomCrop AutoContrast Equalization ' +
      'Discretization Hashing StringLookup IntegerLookup TextVectorization',
    'a built-in Keras layer that neither engine here implements'
  ),
  // Keras 3's newer augmentation layers. Unlike RandomFlip and the others that Keras documents
  // as the identity at inference (layer_substitutions.ts), these were not always: RandomGrayscale
  // applied itself at inference until a later Keras 3 release added its `training` guard.
  ...reasonFor(
    'AugMix CutMix MixUp RandAugment RandomApply RandomChoice RandomColorDegeneration RandomColorJitter ' +
      'RandomElasticTransform RandomErasing RandomGaussianBlur RandomGrayscale RandomHue RandomInvert ' +
      'RandomPerspective RandomPosterization RandomResizedCrop RandomSaturation RandomSharpness RandomShear Solarization',
    'a Keras 3 augmentation layer, for training; not every Keras 3 version skips it at inference, so save the model without it'
  ),
]);

/**
 * Keras 3 wraps objects as `{module, class_name, config, registered_name}` and dtypes as
 * `DTypePolicy` objects; tfjs-layers expects `{class_name, config}` and dtype strings.
 * Mixed-precision policies compute in float32 here: tfjs has no float16 arithmetic.
 */
export function normaliseKeras3Objects(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normaliseKeras3Objects);
  if (value === null || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  if ((obj['class_name'] === 'DTypePolicy' || obj['class_name'] === 'Policy') && obj['config']) {
    const name = String((obj['config'] as Record<string, unknown>)['name'] ?? 'float32');
    return name.startsWith('mixed_') ? 'float32' : name;
  }
  const out: Record<string, unknown> = {};
  // A layer from outside Keras (QKeras, a project's own) keeps where it came from, so that
  // a refusal can say so.
  const module = obj['module'];
  if (typeof module === 'string' && 'class_name' in obj && !/^(keras|tf_keras|tensorflow)\b/.test(module))
    out['source_module'] = module;
  // A keras.ops call in a functional model (`x + 2`, ops.concatenate) is saved like a layer,
  // some under a merge layer's class name: keras/op_layers.ts must tell them apart.
  if (typeof module === 'string' && 'class_name' in obj && /^keras(\.src)?\.ops\b/.test(module))
    out['keras_op'] = module;
  for (const [k, v] of Object.entries(obj)) {
    if ((k === 'module' || k === 'registered_name') && 'class_name' in obj) continue;
    out[k] = normaliseKeras3Objects(v);
  }
  return out;
}

/** Rewrites layer references (inbound nodes, model outputs) through the renames map. */
function applyRenames(value: unknown, renames: Map<string, string>): unknown {
  if (!Array.isArray(value)) return value;
  if (typeof value[0] === 'string' && typeof value[1] === 'number') {
    const target = renames.get(value[0]);
    return target === undefined ? value : [target, ...value.slice(1)];
  }
  return value.map(v => applyRenames(v, renames));
}

/**
 * tfjs-layers' Functional.fromConfig loops forever when a node refers to a layer that is
 * never created, so every reference is checked here first. tfjs reads a layer's name
 * from the entry's own `name` (Keras also writes it into `config`): fill it in.
 */
function checkReferences(layers: LayerEntry[]): void {
  for (const layer of layers) layer.name ??= layerName(layer);
  const names = new Set(layers.map(l => l.name));
  const missing = new Set<string>();
  const visit = (value: unknown): void => {
    if (!Array.isArray(value)) return;
    if (typeof value[0] === 'string' && typeof value[1] === 'number') {
      if (!names.has(value[0])) missing.add(value[0]);
      return;
    }
    value.forEach(visit);
  };
  for (const layer of layers) visit(layer.inbound_nodes);
  if (missing.size > 0) {
    throw new UnsupportedLayerError(
      `model_config is inconsistent: layers refer to ${[...missing].map(m => `'${m}'`).join(', ')}, which the config does not define`
    );
  }
}

/** Keras 3 writes a single `input_layers`/`output_layers` entry flat: `[name, 0, 0]`. */
function listOfRefs(value: unknown): unknown {
  if (Array.isArray(value) && typeof value[0] === 'string') return [value];
  return value;
}

function translateLayers(layers: LayerEntry[], ctx: Context, isKnown: (cls: string) => boolean): LayerEntry[] {
  const out: LayerEntry[] = [];
  for (const original of layers) {
    const layer = original;
    if (CONTAINERS.has(layer.class_name)) {
      const nested = translateModelConfig(layer as ModelEntry, isKnown, ctx.keras3 ? '3' : null);
      Object.assign(layer, nested);
      // Its own call, in a Functional model, is a node like any layer's (Keras 3 writes it as
      // {args, kwargs}): without this a nested model read no input.
      keras3InboundNodes(layer, ctx);
      out.push(layer);
      continue;
    }
    const inserted: LayerEntry[] = [];
    const refusals = ctx.unsupported.length;
    for (const [, rule] of LAYER_RULES) {
      const extra = rule(layer, ctx);
      if (extra) inserted.push(...extra);
    }
    // A rule that refused the layer said why; the generic reason would only contradict it.
    if (ctx.unsupported.length === refusals && !isKnown(layer.class_name)) {
      const source = (layer as {source_module?: unknown}).source_module;
      const why =
        UNSUPPORTED_REASONS[layer.class_name] ??
        (typeof source === 'string'
          ? `a custom layer from ${source}`
          : 'no such built-in layer (a custom or newer Keras layer)');
      ctx.unsupported.push(`${layer.class_name} '${layerName(layer)}' (${why})`);
    }
    out.push(layer, ...inserted);
  }
  return out;
}

/**
 * Returns a tfjs-layers-ready copy of a Keras model config.
 *
 * @param isKnown tells whether tfjs-layers has a class of that name (injected so this
 *   module stays free of TensorFlow.js and can be tested alone).
 * @throws UnsupportedLayerError naming every layer tfjs cannot run.
 */
export function translateModelConfig(
  modelConfig: ModelEntry,
  isKnown: (cls: string) => boolean,
  kerasVersion: string | null = null
): ModelEntry {
  const keras3 = /^3\./.test(kerasVersion ?? '');
  const model = normaliseKeras3Objects(structuredClone(modelConfig)) as ModelEntry;
  const ctx: Context = {renames: new Map(), unsupported: [], inserted: new Set(), keras3};
  // Keras ≤ 2.1 wrote a Sequential's config as the bare list of its layers.
  const config = (Array.isArray(model.config) ? {name: 'sequential', layers: model.config} : model.config) as Record<
    string,
    unknown
  >;
  const layers = translateLayers((config['layers'] ?? []) as LayerEntry[], ctx, isKnown);
  if (ctx.renames.size > 0) {
    for (const layer of layers) {
      if (layer.inbound_nodes && !ctx.inserted.has(layer)) {
        layer.inbound_nodes = applyRenames(layer.inbound_nodes, ctx.renames) as unknown[];
      }
    }
  }
  config['layers'] = layers;
  if (layers.some(l => l.inbound_nodes !== undefined)) checkReferences(layers);
  for (const key of ['input_layers', 'output_layers']) {
    if (key in config) config[key] = applyRenames(listOfRefs(config[key]), ctx.renames);
  }
  if (ctx.unsupported.length > 0) {
    throw new UnsupportedLayerError(
      `unsupported layer${ctx.unsupported.length > 1 ? 's' : ''}: ${ctx.unsupported.join(', ')}; neither ONNX Runtime nor TensorFlow.js can run ${
        ctx.unsupported.length > 1 ? 'them' : 'it'
      }. Replace ${ctx.unsupported.length > 1 ? 'them' : 'it'} with layers both engines run (the README lists them) and save again`
    );
  }
  return {class_name: model.class_name === 'Model' ? 'Functional' : model.class_name, config};
}
