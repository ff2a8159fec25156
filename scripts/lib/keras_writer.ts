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

/** Serialises `model` to the bytes of a Keras `.h5` file. */
export async function writeKerasH5(model: tf.LayersModel): Promise<Uint8Array> {
  const h5 = await import('h5wasm');
  await h5.ready;
  const fs = h5.FS!;
  const file = `/keras-writer-${process.pid}-${++counter}.h5`;
  const out = new h5.File(file, 'w');
  try {
    const topology = model.toJSON(null, false) as unknown as {class_name: string; config: unknown};
    // tfjs calls a functional model 'Model'; Keras 2.4+ writes 'Functional'.
    const config = {...topology, class_name: topology.class_name === 'Model' ? 'Functional' : topology.class_name};
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
      const names = layer.weights.map(w => `${layer.name}/${w.originalName.split('/').pop()}:0`);
      // h5wasm cannot write an empty string list; Keras writes an empty array for weightless layers.
      if (names.length) group.create_attribute('weight_names', names);
      else group.create_attribute('weight_names', new Float32Array(0), [0]);
      if (!names.length) continue;
      const inner = group.create_group(layer.name);
      const values = layer.getWeights();
      layer.weights.forEach((w, i) => {
        inner.create_dataset({
          name: names[i]!.split('/').pop()!,
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
