/**
 * Keras' Subtract merge layer, which tfjs-layers does not have (it has Add, Multiply, Average,
 * Maximum, Minimum and Concatenate): registered under Keras' class name, so that a saved
 * model that has one builds on the tfjs engine as it translates for ONNX Runtime.
 */
import * as tf from '@tensorflow/tfjs';

/**
 * Keras' merge rule for inputs of different ranks: unit axes are inserted after the batch
 * axis until the ranks agree (keras' Merge layers expand each input at axis 1), then the
 * shapes broadcast.
 */
function lifted(shape: readonly (number | null)[], rank: number): (number | null)[] {
  return [shape[0] ?? null, ...Array<number>(rank - shape.length).fill(1), ...shape.slice(1)];
}

/** `inputs[0] - inputs[1]`, exactly two inputs, as Keras' Subtract. */
export class Subtract extends tf.layers.Layer {
  /** Keras' class name, as saved configs name it. */
  static readonly className = 'Subtract';

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shapes = inputShape as tf.Shape[];
    if (!Array.isArray(shapes[0]) || shapes.length !== 2) {
      throw new Error(`Subtract '${this.name}' takes exactly two inputs`);
    }
    const rank = Math.max(shapes[0].length, shapes[1]!.length);
    const [a, b] = shapes.map(s => lifted(s, rank));
    return a!.map((n, i) => (n === 1 ? b![i]! : n));
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const [a, b] = inputs as tf.Tensor[];
      const rank = Math.max(a!.rank, b!.rank);
      const lift = (x: tf.Tensor) => tf.reshape(x, lifted(x.shape, rank) as number[]);
      return tf.sub(lift(a!), lift(b!));
    });
  }
}

tf.serialization.registerClass(Subtract);
