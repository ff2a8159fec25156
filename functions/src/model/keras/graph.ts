/**
 * The engine-neutral form of a Keras model: every layer with its config, its calls (the
 * tensors each call reads) and its weights, in an order where a layer comes after every
 * layer it reads. Both engines build from it: the tfjs engine turns it back into a
 * Functional topology ({@link toTopology}), the ONNX engine translates it op by op.
 *
 * Built from the config after keras/config.ts has translated it (so Keras 2, tf.keras and
 * Keras 3 spellings are already one dialect). A Sequential model becomes a Functional one
 * here, with an explicit InputLayer, so that both engines see one shape of graph. A model
 * used as a layer (transfer learning: `Sequential([base, GlobalAveragePooling2D(), Dense(n)])`)
 * is inlined: its layers join the graph, wired to what the outer model feeds it, so that
 * neither engine has to know about nesting.
 */
import {InvalidConfigError, UnsupportedLayerError, WeightMismatchError} from '../../core/errors.js';
import type {StoredWeight} from './h5_reader.js';
import type {LayerEntry, ModelEntry} from './config.js';
import {topological} from './topological.js';

/** An output of a layer call: `[layer, node, index]` in Keras' own terms. */
export interface TensorRef {
  readonly layer: string;
  readonly node: number;
  readonly index: number;
}

/** One layer of the graph. */
export interface GraphLayer {
  readonly name: string;
  readonly className: string;
  readonly config: Record<string, unknown>;
  /** Per call of the layer (shared layers have several): the tensors it reads. */
  readonly inbound: readonly (readonly TensorRef[])[];
  /** The layer's weights in Keras' `layer.weights` order. */
  readonly weights: readonly StoredWeight[];
}

/** A Keras model as a graph. Immutable: transformations return a new graph. */
export interface KerasGraph {
  readonly name: string;
  readonly layers: readonly GraphLayer[];
  readonly inputs: readonly TensorRef[];
  readonly outputs: readonly TensorRef[];
}

/** Keras class names that are a model used as a layer. */
export const CONTAINERS = new Set(['Sequential', 'Functional', 'Model']);

/**
 * Keras layers that pass their input on unchanged at inference: the dropouts, noise and
 * Identity. (The config rules make spatial dropout, augmentation and ActivityRegularization
 * a Dropout first; the last two are here for a graph built without them.)
 */
export const INFERENCE_IDENTITY: ReadonlySet<string> = new Set([
  'Dropout',
  'SpatialDropout1D',
  'SpatialDropout2D',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
  'ActivityRegularization',
  'Identity',
]);

const ref = (layer: string, node = 0, index = 0): TensorRef => ({layer, node, index});

function refsOf(value: unknown): TensorRef[] {
  if (!Array.isArray(value)) return [];
  if (typeof value[0] === 'string') return [ref(value[0], Number(value[1] ?? 0), Number(value[2] ?? 0))];
  return value.flatMap(refsOf);
}

/**
 * The layers of a Sequential model as Functional ones, with an InputLayer first. A nested
 * one (`nested`) need not declare its input shape: what the outer model feeds it replaces
 * its InputLayer (keras.io's `data_augmentation = keras.Sequential([RandomFlip(…), …])`,
 * called on the input, may be saved so).
 */
function sequentialLayers(name: string, entries: LayerEntry[], nested: boolean): LayerEntry[] {
  const out: LayerEntry[] = [];
  const first = entries[0];
  if (!first) throw new InvalidConfigError(`Sequential model '${name}' has no layers`);
  if (first.class_name !== 'InputLayer') {
    // A nested model first in a Sequential declares its shape on its own InputLayer.
    const nestedInput = CONTAINERS.has(first.class_name)
      ? (first.config['layers'] as LayerEntry[] | undefined)?.[0]
      : null;
    const shape = first.config['batch_input_shape'] ?? nestedInput?.config['batch_input_shape'];
    if (!Array.isArray(shape) && !nested) {
      throw new InvalidConfigError(
        `Sequential model '${name}' does not declare its input shape; build it with an Input or input_shape before saving`
      );
    }
    const inputName = `${name}_input`;
    out.push({class_name: 'InputLayer', name: inputName, config: {name: inputName, batch_input_shape: shape ?? null}});
  }
  for (const entry of entries) {
    const previous = out.at(-1);
    const layer = {...entry, config: {...entry.config}};
    if (layer.class_name !== 'InputLayer') delete layer.config['batch_input_shape'];
    layer.inbound_nodes = previous ? [[[String(previous.name ?? previous.config['name']), 0, 0, {}]]] : [];
    out.push(layer);
  }
  return out;
}

/**
 * Builds the graph of a translated model config and its stored weights (layer name →
 * weights in Keras order); `nested` for a model used as a layer, which the outer model feeds.
 */
export function buildGraph(
  model: ModelEntry,
  weights: ReadonlyMap<string, readonly StoredWeight[]>,
  nested = false
): KerasGraph {
  const config = model.config as {
    name?: string;
    layers?: LayerEntry[];
    input_layers?: unknown;
    output_layers?: unknown;
  };
  const name = String(config.name ?? 'model');
  let entries = config.layers ?? [];
  let inputs: TensorRef[];
  let outputs: TensorRef[];
  if (model.class_name === 'Sequential') {
    entries = sequentialLayers(name, entries, nested);
    inputs = [ref(String(entries[0]!.name ?? entries[0]!.config['name']))];
    outputs = [ref(String(entries.at(-1)!.name ?? entries.at(-1)!.config['name']))];
  } else {
    inputs = refsOf(config.input_layers);
    outputs = refsOf(config.output_layers);
  }
  const layers: GraphLayer[] = [];
  /**
   * `model|index` of a nested model's output → the inlined layer that produces it (any node:
   * a nested model is called once here, though Keras 2 may number that call node 1).
   */
  const aliases = new Map<string, TensorRef>();
  const taken = new Set(entries.map(e => String(e.name ?? e.config['name'])));
  for (const entry of entries) {
    const layerName = String(entry.name ?? entry.config['name']);
    const inbound = ((entry.inbound_nodes ?? []) as unknown[]).map(refsOf);
    const stored = weights.get(layerName) ?? [];
    if (CONTAINERS.has(entry.class_name) && Array.isArray(entry.config['layers'])) {
      layers.push(...inline(layerName, entry as unknown as ModelEntry, inbound, stored, taken, aliases));
      continue;
    }
    layers.push({name: layerName, className: entry.class_name, config: entry.config, inbound, weights: stored});
  }
  const resolve = (r: TensorRef): TensorRef => aliases.get(`${r.layer}|${r.index}`) ?? r;
  const wired = layers.map(l => ({...l, inbound: l.inbound.map(node => node.map(resolve))}));
  return {name, layers: topological(wired), inputs, outputs: outputs.map(resolve)};
}

/**
 * The layers of a nested model, ready to join the outer graph: its InputLayers replaced by
 * what the outer model feeds it, its layers renamed `<model>/<layer>` where a name is
 * already taken, and `aliases` told which inner tensor each of its outputs is.
 */
function inline(
  name: string,
  entry: ModelEntry,
  calls: TensorRef[][],
  stored: readonly StoredWeight[],
  taken: Set<string>,
  aliases: Map<string, TensorRef>
): GraphLayer[] {
  if (calls.length > 1)
    throw new UnsupportedLayerError(
      `nested model '${name}' is called ${calls.length} times (a shared sub-model); only single use is supported`
    );
  const innerEntries = ((entry.config as {layers: LayerEntry[]}).layers ?? []).map(e =>
    String(e.name ?? e.config['name'])
  );
  const inner = buildGraph(entry, splitWeights(name, stored, innerEntries), true);
  const fed = calls[0] ?? [];
  if (fed.length !== inner.inputs.length)
    throw new InvalidConfigError(`nested model '${name}' has ${inner.inputs.length} inputs but is fed ${fed.length}`);
  const inputs = new Map(inner.inputs.map((r, i) => [r.layer, fed[i]!]));
  const renamed = new Map<string, string>();
  for (const l of inner.layers) {
    if (inputs.has(l.name)) continue;
    const unique = taken.has(l.name) ? `${name}/${l.name}` : l.name;
    if (taken.has(unique)) throw new InvalidConfigError(`nested model '${name}' repeats layer name '${l.name}'`);
    taken.add(unique);
    renamed.set(l.name, unique);
  }
  const map = (r: TensorRef): TensorRef => inputs.get(r.layer) ?? {...r, layer: renamed.get(r.layer) ?? r.layer};
  inner.outputs.forEach((r, i) => aliases.set(`${name}|${i}`, map(r)));
  return inner.layers
    .filter(l => !inputs.has(l.name))
    .map(l => ({...l, name: renamed.get(l.name)!, inbound: l.inbound.map(node => node.map(map))}));
}

/**
 * A nested model's weights by its inner layers. A `.h5` file lists them under the nested
 * model, named `<inner layer>/<weight>` (in the nested model's trainable-then-non-trainable
 * order, which keeps each layer's own order); `.keras` archives name them so too.
 */
function splitWeights(
  name: string,
  stored: readonly StoredWeight[],
  innerNames: readonly string[]
): Map<string, StoredWeight[]> {
  const known = new Set(innerNames);
  const out = new Map<string, StoredWeight[]>();
  for (const w of stored) {
    const parts = w.name.split('/');
    const at = parts.findIndex(p => known.has(p));
    if (at === -1)
      throw new WeightMismatchError(`nested model '${name}' stores weight '${w.name}', which names none of its layers`);
    const list = out.get(parts[at]!) ?? out.set(parts[at]!, []).get(parts[at]!)!;
    list.push({...w, name: parts.slice(at).join('/')});
  }
  return out;
}

/** The graph as a Functional model topology (the tfjs-layers dialect), without weights. */
export function toTopology(graph: KerasGraph): ModelEntry {
  const refs = (rs: readonly TensorRef[]) => rs.map(r => [r.layer, r.node, r.index]);
  return {
    class_name: 'Functional',
    config: {
      name: graph.name,
      layers: graph.layers.map(l => {
        if (CONTAINERS.has(l.className)) {
          const nested = l.config as unknown as LayerEntry;
          return {...nested, name: l.name, inbound_nodes: l.inbound.map(n => refs(n).map(r => [...r, {}]))};
        }
        return {
          class_name: l.className,
          name: l.name,
          config: {...l.config, name: l.name},
          inbound_nodes: l.inbound.map(n => refs(n).map(r => [...r, {}])),
        };
      }),
      input_layers: refs(graph.inputs),
      output_layers: refs(graph.outputs),
    },
  };
}

/**
 * A layer's weights by role (`kernel`, `bias`, `gamma`, …): by the last part of the
 * stored name where the names say it, else by position in `roles` (Keras' order).
 * Roles the layer does not have (no bias, BatchNormalization without scale) are left out
 * of `roles` by the caller.
 *
 * `shapes`: the shape the layer's config and input give each role's weight (a size the
 * config does not state, NaN, matches any). A stored weight of another shape is a
 * WeightMismatchError, as tfjs' `setWeights` finds it, instead of a graph that ONNX Runtime
 * refuses or that reads past its weights.
 */
export function weightsByRole(
  layer: GraphLayer,
  roles: readonly string[],
  shapes: Readonly<Record<string, readonly number[]>> = {}
): Map<string, StoredWeight> {
  if (layer.weights.length !== roles.length) {
    throw new WeightMismatchError(
      `layer '${layer.name}' (${layer.className}) needs ${roles.length} weights (${roles.join(', ')}) but the file has ${layer.weights.length}`
    );
  }
  const out = new Map<string, StoredWeight>();
  const lastPart = (w: StoredWeight) => w.name.replace(/:\d+$/, '').split('/').at(-1);
  const named = roles.every(role => layer.weights.filter(w => lastPart(w) === role).length === 1);
  roles.forEach((role, i) => out.set(role, named ? layer.weights.find(w => lastPart(w) === role)! : layer.weights[i]!));
  for (const [role, want] of Object.entries(shapes)) {
    const got = out.get(role);
    if (!got || (got.shape.length === want.length && want.every((d, i) => Number.isNaN(d) || d === got.shape[i])))
      continue;
    throw new WeightMismatchError(
      `layer '${layer.name}' (${layer.className}): weight ${got.name} has shape [${got.shape.join(',')}] but the layer needs [${want.map(d => (Number.isNaN(d) ? '?' : d)).join(',')}]`
    );
  }
  return out;
}

/** For each layer, how many times other layers (or the model outputs) read its outputs. */
export function consumerCounts(graph: KerasGraph): Map<string, number> {
  const counts = new Map<string, number>();
  const add = (r: TensorRef) => counts.set(r.layer, (counts.get(r.layer) ?? 0) + 1);
  graph.outputs.forEach(add);
  for (const l of graph.layers) for (const node of l.inbound) node.forEach(add);
  return counts;
}
