/**
 * Writes a TensorFlow.js LayersModel as a Keras 2 `model.save('x.h5')` file, with h5wasm:
 * the same layout Keras' legacy HDF5 saver produces (root attributes `model_config`,
 * `keras_version`, `backend`; group `model_weights` with `layer_names`, and per layer a
 * group with `weight_names` and datasets at `<layer>/<weight>:0`). Used to make models the
 * fixtures do not have (the MobileNetV2 of the benchmark) and to round-trip the reader.
 */
import * as tf from '@tensorflow/tfjs';

/** Keras version written into the file (the reader's Keras 2 path). */
export const WRITTEN_KERAS_VERSION = '2.13.1';

let counter = 0;

/**
 * Options tfjs-layers leaves out of its config that Keras writes: SeparableConv2D's
 * `depth_multiplier` (its weights still have it) and Conv1D's `data_format`. Put back, so that
 * the file says what Keras' would.
 */
function restoreOmittedOptions(model: tf.LayersModel, config: unknown): void {
  const layers = (config as {layers?: Array<{class_name: string; config: Record<string, unknown>}>}).layers ?? [];
  for (const l of layers) {
    const layer = model.getLayer(String(l.config['name'])) as unknown as {
      depthMultiplier?: number;
      dataFormat?: string;
    };
    if (l.class_name === 'SeparableConv2D' && !('depth_multiplier' in l.config) && layer.depthMultiplier !== undefined)
      l.config['depth_multiplier'] = layer.depthMultiplier;
    if (l.class_name === 'Conv1D' && !('data_format' in l.config) && layer.dataFormat !== undefined)
      l.config['data_format'] = layer.dataFormat === 'channelsFirst' ? 'channels_first' : 'channels_last';
  }
}

/** A layer of the written config, as Keras writes it. */
export interface WrittenLayer {
  class_name: string;
  config: Record<string, unknown>;
}

/**
 * Serialises `model` to the bytes of a Keras `.h5` file. `editLayer` may change each layer's
 * config before it is written: to write what another Keras version writes (Keras 3's
 * `negative_slope` where tfjs says `alpha`, say).
 */
export async function writeKerasH5(
  model: tf.LayersModel,
  editLayer?: (layer: WrittenLayer) => void
): Promise<Uint8Array> {
  const h5 = await import('h5wasm');
  await h5.ready;
  const fs = h5.FS!;
  const file = `/keras-writer-${process.pid}-${++counter}.h5`;
  const out = new h5.File(file, 'w');
  try {
    const topology = model.toJSON(null, false) as unknown as {class_name: string; config: unknown};
    // tfjs calls a functional model 'Model'; Keras 2.4+ writes 'Functional'.
    const config = {...topology, class_name: topology.class_name === 'Model' ? 'Functional' : topology.class_name};
    restoreOmittedOptions(model, config.config);
    if (editLayer) for (const l of (config.config as {layers?: WrittenLayer[]}).layers ?? []) editLayer(l);
    out.create_attribute('model_config', JSON.stringify(config));
    out.create_attribute('keras_version', WRITTEN_KERAS_VERSION);
    out.create_attribute('backend', 'tensorflow');
    const weights = out.create_group('model_weights');
    weights.create_attribute(
      'layer_names',
      model.layers.map(l => l.name)
    );
    weights.create_attribute('keras_version', WRITTEN_KERAS_VERSION);
    weights.create_attribute('backend', 'tensorflow');
    for (const layer of model.layers) {
      const group = weights.create_group(layer.name);
      // `<layer>/<weight>:0`; a wrapper's weights keep their inner path, as Keras writes them
      // (`bidi/forward_lstm/kernel:0`), so that the forward and backward kernels differ.
      const names = layer.weights.map(w => {
        const parts = w.originalName.replace(/:\d+$/, '').split('/');
        const rel = parts[0] === layer.name && parts.length > 2 ? parts.slice(1) : [parts.at(-1)!];
        return `${layer.name}/${rel.join('/')}:0`;
      });
      // h5wasm cannot write an empty string list; Keras writes an empty array for weightless layers.
      if (names.length) group.create_attribute('weight_names', names);
      else group.create_attribute('weight_names', new Float32Array(0), [0]);
      if (!names.length) continue;
      const inner = group.create_group(layer.name);
      const values = layer.getWeights();
      layer.weights.forEach((w, i) => {
        const path = names[i]!.split('/').slice(1);
        let parent = inner;
        for (const part of path.slice(0, -1)) parent = (parent.get(part) as typeof inner) ?? parent.create_group(part);
        parent.create_dataset({
          name: path.at(-1)!,
          data: values[i]!.dataSync() as Float32Array,
          shape: w.shape as number[],
          dtype: '<f',
        });
      });
    }
  } finally {
    out.close();
  }
  const bytes = fs.readFile(file) as Uint8Array;
  fs.unlink(file);
  return bytes;
}

/** One weight array of a {@link ModelSpec}. */
export interface WeightSpec {
  /** `kernel`, `bias`, …; inside a nested model `<inner layer>/<weight>`. */
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: ArrayLike<number>;
}

/** A model as Keras would save it: its serialised config and each layer's weights in `layer.weights` order. */
export interface ModelSpec {
  readonly config: {class_name: string; config: Record<string, unknown>};
  /** Layer name → weights (a nested model: all its layers' weights, named `<inner>/<weight>`). */
  readonly weights: Readonly<Record<string, readonly WeightSpec[]>>;
  /** Written as `keras_version` (default 3.9.1). */
  readonly kerasVersion?: string;
}

interface SpecLayer {
  class_name: string;
  name?: string;
  config: {name?: string; layers?: SpecLayer[]};
}

const layerNameOf = (l: SpecLayer) => String(l.name ?? l.config.name);

/** Creates every group on `path` below `root` (h5wasm creates one level at a time). */
function groupAt(root: H5Group, path: string[]): H5Group {
  let g = root;
  for (const part of path) g = (g.keys().includes(part) ? g.get(part) : g.create_group(part)) as H5Group;
  return g;
}

type H5Group = import('h5wasm').Group;

function dataset(group: H5Group, name: string, w: WeightSpec): void {
  group.create_dataset({name, data: Float32Array.from(w.values), shape: [...w.shape], dtype: '<f'});
}

async function h5File(write: (root: H5Group) => void): Promise<Uint8Array> {
  const h5 = await import('h5wasm');
  await h5.ready;
  const file = `/keras-writer-${process.pid}-${++counter}.h5`;
  const out = new h5.File(file, 'w');
  try {
    write(out);
  } finally {
    out.close();
  }
  const bytes = h5.FS!.readFile(file) as Uint8Array;
  h5.FS!.unlink(file);
  return bytes;
}

/**
 * Writes `spec` as Keras does: `h5` is the legacy `model.save('x.h5')` layout (weights under
 * `model_weights/<layer>/<layer>/<weight>:0`, listed by `weight_names`); `keras` is the Keras 3
 * archive (`config.json`, `metadata.json`, `model.weights.h5` addressed by class:
 * `layers/<snake_case class>[_n]/vars/<i>`, as keras/src/saving/saving_lib.py writes it).
 */
export async function writeKerasModel(spec: ModelSpec, format: 'h5' | 'keras'): Promise<Uint8Array> {
  const version = spec.kerasVersion ?? '3.9.1';
  const model = spec.config as unknown as SpecLayer;
  if (format === 'h5') {
    return h5File(root => {
      root.create_attribute('model_config', JSON.stringify(spec.config));
      root.create_attribute('keras_version', version);
      root.create_attribute('backend', 'tensorflow');
      const weights = root.create_group('model_weights');
      const names = (model.config.layers ?? []).map(layerNameOf);
      weights.create_attribute('layer_names', names);
      for (const name of names) {
        const group = weights.create_group(name);
        const list = spec.weights[name] ?? [];
        const paths = list.map(w => `${w.name.includes('/') ? w.name : `${name}/${w.name}`}:0`);
        if (paths.length) group.create_attribute('weight_names', paths);
        else group.create_attribute('weight_names', new Float32Array(0), [0]);
        list.forEach((w, i) => {
          const parts = paths[i]!.split('/');
          dataset(groupAt(group, parts.slice(0, -1)), parts.at(-1)!, w);
        });
      }
    });
  }
  const weightsH5 = await h5File(root => writeContainer(root, [], model, spec.weights));
  const {zipSync, strToU8} = await import('fflate');
  return zipSync({
    'metadata.json': strToU8(JSON.stringify({keras_version: version, date_saved: '2026-11-25@00:00:00'})),
    'config.json': strToU8(JSON.stringify(spec.config)),
    'model.weights.h5': weightsH5,
  });
}

/** Layers whose weights Keras 3 keeps in their `cell`. */
const RECURRENT = new Set(['SimpleRNN', 'GRU', 'LSTM']);

/** Keras' `naming.to_snake_case`. */
function snakeCase(className: string): string {
  return className
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

function writeContainer(
  root: H5Group,
  path: string[],
  model: SpecLayer,
  weights: Readonly<Record<string, readonly WeightSpec[]>>
): void {
  let layers = model.config.layers ?? [];
  if (model.class_name === 'Sequential' && layers[0]?.class_name === 'InputLayer') layers = layers.slice(1);
  const used = new Map<string, number>();
  for (const layer of layers) {
    const base = snakeCase(layer.class_name);
    const n = used.get(base);
    used.set(base, n === undefined ? 0 : n + 1);
    const group = [...path, 'layers', n === undefined ? base : `${base}_${n + 1}`];
    const list = weights[layerNameOf(layer)] ?? [];
    if (Array.isArray(layer.config.layers)) {
      // A nested model: split `<inner>/<weight>` names back to its layers.
      const inner: Record<string, WeightSpec[]> = {};
      for (const w of list) {
        const [head, ...tail] = w.name.split('/');
        (inner[head!] ??= []).push({...w, name: tail.join('/')});
      }
      writeContainer(root, group, layer, inner);
      continue;
    }
    // A recurrent layer's variables belong to its cell, a tracked sub-object of its own.
    const owner = RECURRENT.has(layer.class_name) ? [...group, 'cell'] : group;
    const vars = groupAt(root, [...owner, 'vars']);
    list.forEach((w, i) => dataset(vars, String(i), w));
  }
}
