/**
 * Reads a Keras 3 `.keras` archive (`model.save('x.keras')`, Keras 3's default format):
 * a zip holding `metadata.json` (`keras_version`), `config.json` (the model's serialised
 * config, the same JSON `.h5` files carry in `model_config`) and `model.weights.h5`.
 *
 * The weights file has no layer names. Keras 3's saving_lib addresses each layer of a
 * model's `layers` list by its *class* in snake case, numbered per class within the list
 * (`layers/conv2d/vars/0`, `layers/conv2d_1/vars/0`, …). A layer's own variables are
 * `vars/0..n-1`, trainable then non-trainable in creation order: the same order as
 * `layer.weights`, which the `.h5` path relies on. Sub-objects (an RNN's `cell`, a
 * Bidirectional's two layers) have groups of their own, and a nested model has its own
 * `layers/`. The result is the same {@link KerasModelFile} the `.h5` reader returns, so both
 * formats go through one translation.
 *
 * Decompression is bounded: an entry whose declared size is over MAX_MODEL_BYTES is
 * refused before it is inflated (a zip bomb costs nothing).
 */
import {unzipSync} from 'fflate';
import {parseConfigJson} from './json.js';
import {CorruptArchiveError, ModelTooLargeError, ModelUnusableError} from '../../core/errors.js';
import {readDataset, withH5, type H5Group} from './h5_file.js';
import {
  DEFAULT_MAX_MODEL_BYTES,
  paramBudget,
  type ParamBudget,
  type KerasModelFile,
  type ReadOptions,
  type StoredWeight,
} from './h5_reader.js';

const CONFIG = 'config.json';
const METADATA = 'metadata.json';
const WEIGHTS = 'model.weights.h5';

interface Entry {
  class_name: string;
  name?: string;
  config: {name?: string; layers?: Entry[]} & Record<string, unknown>;
}

/** Keras' `naming.to_snake_case`: the weight-group name of a layer class. */
export function snakeCase(className: string): string {
  return className
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

function parseJson(bytes: Uint8Array | undefined, name: string): unknown {
  if (!bytes) return null;
  try {
    return parseConfigJson(Buffer.from(bytes).toString('utf8'), name);
  } catch (e) {
    if (e instanceof ModelUnusableError) throw e;
    throw new CorruptArchiveError(`${name} in the .keras archive is not valid JSON: ${(e as Error).message}`);
  }
}

function unzip(bytes: Uint8Array, maxBytes: number): Record<string, Uint8Array> {
  try {
    return unzipSync(bytes, {
      filter: file => {
        if (![CONFIG, METADATA, WEIGHTS].includes(file.name)) return false;
        if (file.originalSize > maxBytes)
          throw new ModelTooLargeError(
            `${file.name} in the .keras archive declares ${file.originalSize} bytes uncompressed, over MAX_MODEL_BYTES (${maxBytes})`
          );
        return true;
      },
    });
  } catch (e) {
    if (e instanceof ModelUnusableError) throw e;
    throw new CorruptArchiveError(`the .keras archive is not a readable zip: ${(e as Error).message}`, {cause: e});
  }
}

/**
 * Reads a `.keras` archive's config and weights.
 *
 * @throws ModelTooLargeError, CorruptArchiveError, CorruptHdf5Error (subclasses of ModelUnusableError).
 */
export async function readKerasArchive(bytes: Uint8Array, options: ReadOptions = {}): Promise<KerasModelFile> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_MODEL_BYTES;
  if (bytes.length > maxBytes)
    throw new ModelTooLargeError(`model file is ${bytes.length} bytes, over MAX_MODEL_BYTES (${maxBytes})`);
  const files = unzip(bytes, maxBytes);
  const config = parseJson(files[CONFIG], CONFIG) as Entry | null;
  if (!config?.class_name || typeof config.config !== 'object')
    throw new CorruptArchiveError(`the .keras archive has no model config (${CONFIG}): not a Keras 3 model archive`);
  const metadata = parseJson(files[METADATA], METADATA) as {keras_version?: string} | null;
  const weightsBytes = files[WEIGHTS];
  const layerWeights = new Map<string, StoredWeight[]>();
  let paramCount = 0;
  if (weightsBytes) {
    await withH5(weightsBytes, file => {
      for (const [name, weights] of containerWeights(file, '', config, paramBudget(options))) {
        layerWeights.set(name, weights);
        paramCount += weights.reduce((n, w) => n + w.values.length, 0);
      }
    });
  }
  return {
    modelConfig: {class_name: config.class_name, config: config.config},
    kerasVersion: metadata?.keras_version ?? null,
    backend: null,
    layerWeights,
    paramCount,
  };
}

/** The layers of a model as Keras lists them in `model.layers` (Sequential leaves out its InputLayer). */
function modelLayers(model: Entry): Entry[] {
  const layers = model.config.layers ?? [];
  return model.class_name === 'Sequential' && layers[0]?.class_name === 'InputLayer' ? layers.slice(1) : layers;
}

/** Layer name → weights for each layer of a model whose group is `path`. */
function containerWeights(file: H5Group, path: string, model: Entry, budget: ParamBudget): Map<string, StoredWeight[]> {
  const used = new Map<string, number>();
  const out = new Map<string, StoredWeight[]>();
  for (const layer of modelLayers(model)) {
    const base = snakeCase(layer.class_name);
    const n = used.get(base);
    used.set(base, n === undefined ? 0 : n + 1);
    const group = `${path}layers/${n === undefined ? base : `${base}_${n + 1}`}`;
    const name = String(layer.name ?? layer.config.name);
    let weights: StoredWeight[];
    if (Array.isArray(layer.config.layers)) {
      // A nested model: its layers' weights, named `<inner layer>/<i>` for the graph to split.
      weights = [...containerWeights(file, `${group}/`, layer, budget)].flatMap(([inner, ws]) =>
        ws.map(w => ({...w, name: `${inner}/${w.name}`}))
      );
    } else {
      weights = objectWeights(file, group, name, budget);
    }
    out.set(name, weights);
  }
  return out;
}

/** Sub-object groups in Keras' layer.weights order (forward before backward, unlike their names). */
const SUB_OBJECT_ORDER = ['cell', 'forward_layer', 'backward_layer'];

/** A layer's own `vars/0..n-1`, then its sub-objects' (an RNN's cell), named `<layer>/<i>`. */
function objectWeights(file: H5Group, group: string, name: string, budget: ParamBudget): StoredWeight[] {
  const node = file.get(group) as H5Group | null;
  if (!node || !('keys' in node)) return [];
  const out: StoredWeight[] = [];
  const vars = node.get('vars') as H5Group | null;
  if (vars && 'keys' in vars) {
    const indices = vars
      .keys()
      .map(Number)
      .sort((a, b) => a - b);
    for (const i of indices) {
      const w = readDataset(vars, String(i), `${group}/vars/${i}`, budget);
      if (w) out.push({...w, name: `${name}/${out.length}`});
    }
  }
  const children = node
    .keys()
    .filter(k => k !== 'vars')
    .sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1));
  for (const child of children)
    for (const w of objectWeights(file, `${group}/${child}`, name, budget))
      out.push({...w, name: `${name}/${out.length}`});
  return out;
}

function rank(child: string): number {
  const i = SUB_OBJECT_ORDER.indexOf(child);
  return i === -1 ? SUB_OBJECT_ORDER.length : i;
}
