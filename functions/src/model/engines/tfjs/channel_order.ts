/**
 * This project's ChannelGather and StackChannels layers for tfjs (keras/channel_order.ts):
 * the channel flip and stack of preprocess_input's caffe mode, which tfjs-layers has no
 * layer for. Registered with tfjs' serialization map when this module is imported.
 */
import * as tf from '@tensorflow/tfjs';
import {firstInput, firstShape} from './layer_io.js';

/** The last axis reversed (`x[..., ::-1]`), or one channel of it without the axis (`x[..., i]`). */
export class ChannelGather extends tf.layers.Layer {
  /** Registered class name, as used in translated configs. */
  static readonly className = 'ChannelGather';
  private readonly reverse: boolean;
  private readonly index: number | null;

  constructor(args: {reverse?: boolean; index?: number; name?: string; trainable?: boolean}) {
    super(args);
    this.reverse = args.reverse === true;
    this.index = this.reverse ? null : Number(args.index);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = firstShape(inputShape);
    return this.reverse ? shape : shape.slice(0, -1);
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = firstInput(inputs);
      if (this.reverse) return tf.reverse(x, -1);
      const last = x.rank - 1;
      return tf.squeeze(tf.gather(x, [this.index!], last), [last]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {...super.getConfig(), ...(this.reverse ? {reverse: true} : {index: this.index})};
  }
}

/** Tensors of one shape stacked on a new last axis (`ops.stack(xs, axis=-1)`). */
export class StackChannels extends tf.layers.Layer {
  /** Registered class name, as used in translated configs. */
  static readonly className = 'StackChannels';

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shapes = inputShape as tf.Shape[];
    return [...shapes[0]!, shapes.length];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const xs = [inputs].flat();
    return tf.stack(xs, xs[0]!.rank);
  }
}

tf.serialization.registerClass(ChannelGather);
tf.serialization.registerClass(StackChannels);
