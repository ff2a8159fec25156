/**
 * What a tfjs-layers layer of one input is handed: tfjs passes a lone tensor or shape, or a
 * list of one, depending on how the layer was called. The project's layers read both here.
 */
import type * as tf from '@tensorflow/tfjs';

/** The layer's one input tensor. */
export const firstInput = (inputs: tf.Tensor | tf.Tensor[]): tf.Tensor => (Array.isArray(inputs) ? inputs[0]! : inputs);

/** The layer's one input shape. */
export const firstShape = (inputShape: tf.Shape | tf.Shape[]): tf.Shape =>
  (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
