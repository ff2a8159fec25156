/**
 * Loads shared fixture models for tests through the real loader. The engine is
 * $INFERENCE_ENGINE (default `auto`: ONNX Runtime), so the whole suite can be run on
 * either engine; tests that compare engines name them.
 */
import * as tf from '@tensorflow/tfjs';
import type {Classifier} from '../../src/core/ports.js';
import {initBackend, parseBackendName} from '../../src/model/engines/tfjs/backend.js';
import {loadClassifier, type EngineChoice, type LoadOptions} from '../../src/model/loader.js';
import {parseLabels} from '../../src/model/labels.js';
import {MOBILENET, fixtureBytes} from './fixtures.js';

/** The engine under test ($INFERENCE_ENGINE, default auto). */
export function engineUnderTest(): EngineChoice {
  const e = process.env['INFERENCE_ENGINE'];
  return e === 'onnx' || e === 'tfjs' ? e : 'auto';
}

/** Initialises the tfjs backend ($TFJS_BACKEND or the best available). */
export async function backend(): Promise<string> {
  const forced = parseBackendName(process.env['TFJS_BACKEND']);
  return (await initBackend(forced ? {forced} : {})).name;
}

/** The Keras ImageNet labels (1000, Keras order). */
export function kerasLabels(): string[] {
  return parseLabels(fixtureBytes('labels/imagenet_class_index.json').toString('utf8'));
}

/** Loads a model from bytes on the engine under test (options may name another). */
export function load(bytes: Uint8Array, options: LoadOptions = {}): Promise<Classifier> {
  return loadClassifier(bytes, {
    engine: engineUnderTest(),
    tfjsBackend: process.env['TFJS_BACKEND'] ?? null,
    ...options,
  });
}

/** The shared MobileNet with its real contract: [-1, 1] inputs and the Keras labels. */
export function loadMobileNet(options: LoadOptions = {}): Promise<Classifier> {
  return load(fixtureBytes(MOBILENET), {name: 'mobilenet_v1', scale: '-1,1', labels: kerasLabels(), ...options});
}

/** Live tfjs tensor count (for leak assertions). */
export function numTensors(): number {
  return tf.memory().numTensors;
}

/**
 * A model tfjs-layers builds but cannot run: a CategoryEncoding in `tf_idf` mode, whose idf
 * weights no file holds (tfjs asks for them on the first prediction; ONNX has no translation).
 * Built as `multi_hot` (tfjs cannot build `tf_idf`), written as `tf_idf`.
 */
export async function tfIdfModel(): Promise<Buffer> {
  const {writeKerasH5} = await import('../../../scripts/lib/keras_writer.js');
  const x = tf.input({shape: [4, 4, 3]});
  const tokens = tf.layers.flatten({}).apply(tf.layers.rescaling({scale: 3.99}).apply(x)) as tf.SymbolicTensor;
  const encoded = tf.layers.categoryEncoding({numTokens: 4, outputMode: 'multiHot'}).apply(tokens);
  const out = tf.layers.dense({units: 3, activation: 'softmax'}).apply(encoded) as tf.SymbolicTensor;
  const model = tf.model({inputs: x, outputs: out});
  const file = await writeKerasH5(model, layer => {
    if (layer.class_name === 'CategoryEncoding') layer.config['output_mode'] = 'tf_idf';
  });
  model.dispose();
  return Buffer.from(file);
}
