/**
 * The engine-neutral form of a Keras model: every layer with its config, its calls (the
 * tensors each call reads) and its weights, in an order where a layer comes after every
 * layer it reads. Both engines build from it: the tfjs engine turns it back into a
 * Functional topology ({@link toTopology}), the ONNX engine translates it op by op.
 *
 * Built from the config after keras/config.ts has translated it (so Keras 2, tf.keras and
 * Keras 3 spellings are already one dialect). A Sequential model becomes a Functional one
 * here, with an explicit InputLayer, so that both engines see one shape of graph.
 */
import {InvalidConfigError, WeightMismatchError} from '../../core/errors.js';
import type {StoredWeight} from './h5_reader.js';
import type {LayerEntry, ModelEntry} from './config.js';

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

const ref = (layer: string, node = 0, index = 0): TensorRef => ({layer, node, index});

function refsOf(value: unknown): TensorRef[] {
  if (!Array.isArray(value)) return [];
  if (typeof value[0] === 'string') return [ref(value[0], Number(value[1] ?? 0), Number(value[2] ?? 0))];
  return value.flatMap(refsOf);
}

/** The layers of a Sequential model as Functional ones, with an InputLayer first. */
function sequentialLayers(name: string, entries: LayerEntry[]): LayerEntry[] {
  const out: LayerEntry[] = [];
  const first = entries[0];
  if (!first) throw new InvalidConfigError(`Sequential model '${name}' has no layers`);
  if (first.class_name !== 'InputLayer') {
    const shape = first.config['batch_input_shape'];
    if (!Array.isArray(shape)) {
      throw new InvalidConfigError(
        `Sequential model '${name}' does not declare its input shape; build it with an Input or input_shape before saving`
      );
    }
    const inputName = `${name}_input`;
    out.push({class_name: 'InputLayer', name: inputName, config: {name: inputName, batch_input_shape: shape}});
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
 * Puts layers in an order where each comes after every layer it reads (Keras writes them
 * so, but nothing in the format promises it). Throws on a cycle: a config that refers to
 * itself cannot be evaluated.
 */
function topological(layers: GraphLayer[]): GraphLayer[] {
  const byName = new Map(layers.map(l => [l.name, l]));
  const state = new Map<string, 'visiting' | 'done'>();
  const out: GraphLayer[] = [];
  for (const start of layers) {
    // Iterative depth-first search: a deep graph must not overflow the stack.
    const stack: Array<{layer: GraphLayer; deps: string[]}> = [];
    const push = (layer: GraphLayer): void => {
      state.set(layer.name, 'visiting');
      stack.push({layer, deps: [...new Set(layer.inbound.flat().map(r => r.layer))]});
    };
    if (state.has(start.name)) continue;
    push(start);
    while (stack.length > 0) {
      const top = stack.at(-1)!;
      const next = top.deps.pop();
      if (next === undefined) {
        stack.pop();
        state.set(top.layer.name, 'done');
        out.push(top.layer);
        continue;
      }
      const dep = byName.get(next);
      if (!dep) throw new InvalidConfigError(`layer '${top.layer.name}' reads '${next}', which the model lacks`);
      if (state.get(next) === 'visiting') {
        throw new InvalidConfigError(`model_config has a cycle through layer '${next}'`);
      }
      if (!state.has(next)) push(dep);
    }
  }
  return out;
}

/**
 * Builds the graph of a translated model config and its stored weights (layer name →
 * weights in Keras order).
 */
export function buildGraph(model: ModelEntry, weights: ReadonlyMap<string, readonly StoredWeight[]>): KerasGraph {
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
    entries = sequentialLayers(name, entries);
    inputs = [ref(String(entries[0]!.name ?? entries[0]!.config['name']))];
    outputs = [ref(String(entries.at(-1)!.name ?? entries.at(-1)!.config['name']))];
  } else {
    inputs = refsOf(config.input_layers);
    outputs = refsOf(config.output_layers);
  }
  const layers = entries.map(entry => {
    const layerName = String(entry.name ?? entry.config['name']);
    const nodes = (entry.inbound_nodes ?? []) as unknown[];
    return {
      name: layerName,
      className: entry.class_name,
      // A nested model keeps its whole entry: the engines decide what to do with it.
      config: CONTAINERS.has(entry.class_name) ? (entry as unknown as Record<string, unknown>) : entry.config,
      inbound: nodes.map(refsOf),
      weights: weights.get(layerName) ?? [],
    };
  });
  return {name, layers: topological(layers), inputs, outputs};
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
 */
export function weightsByRole(layer: GraphLayer, roles: readonly string[]): Map<string, StoredWeight> {
  if (layer.weights.length !== roles.length) {
    throw new WeightMismatchError(
      `layer '${layer.name}' (${layer.className}) needs ${roles.length} weights (${roles.join(', ')}) but the file has ${layer.weights.length}`
    );
  }
  const out = new Map<string, StoredWeight>();
  const lastPart = (w: StoredWeight) => w.name.replace(/:\d+$/, '').split('/').at(-1);
  const named = roles.every(role => layer.weights.filter(w => lastPart(w) === role).length === 1);
  roles.forEach((role, i) => out.set(role, named ? layer.weights.find(w => lastPart(w) === role)! : layer.weights[i]!));
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
