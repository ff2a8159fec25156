/** Loads shared fixture models for tests, on the backend the machine offers. */
import * as tf from '@tensorflow/tfjs';
import {initBackend, parseBackendName} from '../../src/model/backend.js';
import {loadKerasModel, type LoadedModel, type LoadOptions} from '../../src/model/keras_model.js';
import {parseLabels} from '../../src/model/labels.js';
import {MOBILENET, fixtureBytes} from './fixtures.js';

/** Initialises the backend ($TFJS_BACKEND or the best available). */
export async function backend(): Promise<string> {
  const forced = parseBackendName(process.env['TFJS_BACKEND']);
  return (await initBackend(forced ? {forced} : {})).name;
}

/** The Keras ImageNet labels (1000, Keras order). */
export function kerasLabels(): string[] {
  return parseLabels(fixtureBytes('labels/imagenet_class_index.json').toString('utf8'));
}

/** The shared MobileNet with its real contract: [-1, 1] inputs and the Keras labels. */
export async function loadMobileNet(options: LoadOptions = {}): Promise<LoadedModel> {
  await backend();
  return loadKerasModel(fixtureBytes(MOBILENET), {
    name: 'mobilenet_v1',
    scale: '-1,1',
    labels: kerasLabels(),
    ...options,
  });
}

/** Live tensor count (for leak assertions). */
export function numTensors(): number {
  return tf.memory().numTensors;
}
