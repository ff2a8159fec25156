/**
 * The predictions a load makes before it serves: the warm-up every load runs, and
 * recordModel's gate, probe images that tell a classifier from a constant or broken network.
 * Engine-neutral: they run the engine's raw predict.
 */
import {
  EngineUnavailableError,
  isOutOfMemory,
  isPermanent,
  NotAClassifierError,
  UnsupportedLayerError,
} from '../core/errors.js';
import type {Classifier} from '../core/ports.js';
import type {EngineModel} from './engines/engine.js';

/**
 * The first prediction, on a grey image; NaN or Infinity there means broken weights. A model
 * the engine built but cannot run fails here every time (tfjs-layers' CategoryEncoding
 * `tf_idf` asks for weights no file holds, say): that is the model's fault, permanent, unless
 * the engine itself failed or ran out of memory.
 */
export async function warmUp(model: EngineModel, size: number): Promise<Float32Array> {
  let probe: Float32Array;
  try {
    probe = await model.predict(new Float32Array(size).fill(0.5), 1);
  } catch (e) {
    const why = (e as Error).message?.split('\n')[0] ?? String(e);
    if (isPermanent(e) || e instanceof EngineUnavailableError || isOutOfMemory(why)) throw e;
    throw new UnsupportedLayerError(`${model.engine} (${model.backend}) cannot run this model: ${why}`);
  }
  if (probe.some(v => !Number.isFinite(v)))
    throw new NotAClassifierError('warm-up prediction produced NaN or Infinity: the weights are broken');
  return probe;
}

/**
 * The gate's extra check: NaN or Infinity on any probe is broken weights; the same output for
 * all of them is a constant (an untrained or dead network), not a classifier.
 */
export async function refuseConstantOrBroken(model: EngineModel, contract: Classifier['input']): Promise<void> {
  // One batch of three (one engine call), raw outputs: a one-unit head is constant after a
  // softmax but not before it.
  const inputs = probes(contract);
  const batch = new Float32Array(inputs.reduce((n, x) => n + x.length, 0));
  inputs.forEach((x, i) => batch.set(x, i * x.length));
  const all = await model.predict(batch, inputs.length);
  const w = model.outputWidth;
  const rows = inputs.map((_, i) => all.subarray(i * w, (i + 1) * w));
  if (rows.some(row => row.some(v => !Number.isFinite(v))))
    throw new NotAClassifierError('a gate probe image produced NaN or Infinity: the weights are broken');
  if (rows.every(row => row.every((v, i) => v === rows[0]![i])))
    throw new NotAClassifierError(
      'the model gives the same output for a flat, a ramp and a noise image: a constant, not a classifier (untrained or dead weights?)'
    );
}

/**
 * The gate's probe images (HWC, already in the model's input scale): flat grey 0.5, a ramp whose
 * channels differ, and a deterministic colour noise from 0 to 1. A model that
 * answers all three identically is a constant; NaN or Infinity on any is broken weights.
 */
function probes(contract: Classifier['input']): Float32Array[] {
  const pixels = contract.height * contract.width;
  // Different means and colours as well as patterns: a model that pools first, or normalises
  // over channels (where a grey pixel is all zeros), still sees them apart.
  const c = contract.channels;
  const n = pixels * c;
  return [
    Float32Array.from({length: n}, () => 0.5),
    Float32Array.from({length: n}, (_, i) => 0.6 + (0.4 * Math.floor(i / c)) / Math.max(1, pixels - 1) - 0.2 * (i % c)),
    Float32Array.from({length: n}, (_, i) => ((Math.imul(i + 1, 2654435761) >>> 0) % 1000) / 999),
  ];
}
