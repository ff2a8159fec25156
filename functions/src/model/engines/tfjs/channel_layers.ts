/**
 * Per-channel parameters broadcast as Keras broadcasts them. tfjs cycles a layer's
 * per-channel parameters along the last axis of its input in two places (tfjs' batchNorm on
 * every backend, tfjs-backend-wasm's Prelu), which is right only when the channels are last.
 * So a BatchNormalization or PReLU whose channels may not be last runs as this project's
 * KerasAffine or KerasPReLU instead, which multiply and add with tfjs' general broadcasting.
 * Registered with tfjs' serialization map when this module is imported (once per thread).
 */
import * as tf from '@tensorflow/tfjs';
import {firstInput, firstShape} from './layer_io.js';
import {batchNormAffine} from '../../keras/fold.js';
import type {GraphLayer, KerasGraph} from '../../keras/graph.js';
import type {StoredWeight} from '../../keras/h5_reader.js';

/**
 * The layers tfjs computes wrongly, as this project's own (below), which broadcast
 * as the shapes say:
 * - a BatchNormalization left in the graph (not folded) whose axis may not be the last, as
 *   KerasAffine: tfjs-layers' batchNorm cycles its statistics along the last axis (axis -1
 *   keeps tfjs' layer);
 * - a PReLU whose alpha is shared over an axis before one it is not (`[C, 1, 1]`), as
 *   KerasPReLU: tfjs-backend-wasm's Prelu cycles alpha the same way.
 */
export function withKerasBroadcasting(graph: KerasGraph): KerasGraph {
  const weight = (l: GraphLayer, role: string, values: Float32Array, shape: readonly number[]): StoredWeight => ({
    name: `${l.name}/${role}:0`,
    shape,
    values,
  });
  return {
    ...graph,
    layers: graph.layers.map(l => {
      if (l.className === 'BatchNormalization' && Number(l.config['axis'] ?? -1) !== -1) {
        const {scale, shift} = batchNormAffine(l);
        return {
          ...l,
          className: 'KerasAffine',
          config: {name: l.name, axis: Number(l.config['axis']), trainable: false},
          weights: [weight(l, 'scale', scale, [scale.length]), weight(l, 'shift', shift, [shift.length])],
        };
      }
      const alpha = l.className === 'PReLU' ? l.weights[0] : undefined;
      if (alpha && alpha.shape.some((d, i) => d === 1 && alpha.shape.slice(0, i).some(e => e !== 1))) {
        const sharedAxes = [l.config['shared_axes'] ?? []].flat().map(Number);
        return {
          ...l,
          className: 'KerasPReLU',
          config: {name: l.name, shared_axes: sharedAxes, trainable: false},
          weights: [weight(l, 'alpha', alpha.values, alpha.shape)],
        };
      }
      return l;
    }),
  };
}

/**
 * A BatchNormalization at inference: `x · scale + shift` per channel along `axis`, its
 * statistics folded into scale and shift (keras/fold.ts' batchNormAffine). tfjs-layers' own
 * batchNorm cycles its statistics along the last axis whatever `axis` says, so a
 * BatchNormalization over another axis (a channels-first model's, axis 1) answered wrongly.
 */
export class KerasAffine extends tf.layers.Layer {
  /** Registered class name, as used in translated configs. */
  static readonly className = 'KerasAffine';
  private readonly axis: number;
  private scale: tf.LayerVariable | null = null;
  private shift: tf.LayerVariable | null = null;

  constructor(args: {axis: number; name?: string; trainable?: boolean}) {
    super(args);
    this.axis = args.axis;
    this.supportsMasking = true;
  }

  private broadcastShape(rank: number): number[] {
    const shape = Array<number>(rank).fill(1);
    shape[this.axis < 0 ? this.axis + rank : this.axis] = -1;
    return shape;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = firstShape(inputShape);
    const channels = shape[this.axis < 0 ? this.axis + shape.length : this.axis]!;
    this.scale = this.addWeight('scale', [channels], 'float32', tf.initializers.ones());
    this.shift = this.addWeight('shift', [channels], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = firstInput(inputs);
      const shape = this.broadcastShape(x.rank);
      return tf.add(tf.mul(x, tf.reshape(this.scale!.read(), shape)), tf.reshape(this.shift!.read(), shape));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {...super.getConfig(), axis: this.axis};
  }
}

tf.serialization.registerClass(KerasAffine);

/**
 * Keras' PReLU, `max(x, 0) + alpha · min(x, 0)` with `alpha` broadcast as the tensors' shapes
 * say. tfjs-backend-wasm's Prelu kernel cycles `alpha`'s values along the flattened input, so
 * an alpha shared over an axis before a non-shared one (a channels-first model's `[C, 1, 1]`,
 * shared_axes [2, 3]) answered wrongly.
 */
export class KerasPReLU extends tf.layers.Layer {
  /** Registered class name, as used in translated configs. */
  static readonly className = 'KerasPReLU';
  private readonly sharedAxes: readonly number[];
  private alpha: tf.LayerVariable | null = null;

  constructor(args: {sharedAxes?: number[]; name?: string; trainable?: boolean}) {
    super(args);
    this.sharedAxes = args.sharedAxes ?? [];
    this.supportsMasking = true;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = firstShape(inputShape);
    const alphaShape = shape.slice(1).map((d, i) => (this.sharedAxes.includes(i + 1) ? 1 : d!));
    this.alpha = this.addWeight('alpha', alphaShape, 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = firstInput(inputs);
      return tf.add(tf.relu(x), tf.mul(this.alpha!.read(), tf.minimum(x, 0)));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {...super.getConfig(), sharedAxes: [...this.sharedAxes]};
  }
}

tf.serialization.registerClass(KerasPReLU);
