/**
 * Layers this project adds to tfjs-layers, for Keras features tfjs-layers lacks. Each is
 * the target of a rule in keras_config.ts. Registered with tfjs' serialization map when
 * this module is imported (once per thread).
 */
import * as tf from '@tensorflow/tfjs';
import {firstInput, firstShape} from './layer_io.js';

/**
 * Inserts unit axes so that a global pooling output `[batch, C]` becomes `[batch, 1, 1, C]`
 * (or `[batch, C, 1, 1]` channels-first): Keras' `keepdims=True`. A plain Reshape with -1
 * would do, but tfjs-layers' Reshape cannot infer -1 when the batch size is unknown.
 */
export class KeepDims extends tf.layers.Layer {
  /** Registered class name, as used in translated configs. */
  static readonly className = 'KeepDims';
  private readonly spatialRank: number;
  private readonly channelsFirst: boolean;

  constructor(args: {spatialRank?: number; channelsFirst?: boolean; name?: string; trainable?: boolean}) {
    super(args);
    this.spatialRank = args.spatialRank ?? 2;
    this.channelsFirst = args.channelsFirst ?? false;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = firstShape(inputShape);
    const ones = Array<number>(this.spatialRank).fill(1);
    return this.channelsFirst ? [shape[0]!, shape[1]!, ...ones] : [shape[0]!, ...ones, shape[1]!];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = firstInput(inputs);
      const shape = this.computeOutputShape(x.shape) as number[];
      return tf.reshape(x, [x.shape[0]!, ...shape.slice(1)]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {...super.getConfig(), spatialRank: this.spatialRank, channelsFirst: this.channelsFirst};
  }
}

tf.serialization.registerClass(KeepDims);

/**
 * Keras' `hard_swish` (x · relu6(x + 3) / 6) and Keras 3's `hard_sigmoid` (relu6(x + 3) / 6),
 * which tfjs lacks (its `hardSigmoid` is Keras 2's 0.2 x + 0.5). keras/config.ts puts one
 * where a model has either.
 */
export class HardActivation extends tf.layers.Layer {
  /** Registered class name, as used in translated configs. */
  static readonly className = 'HardActivation';
  private readonly kind: 'hardswish' | 'hardsigmoid';
  /** The same function the recurrent layers apply inside (below). */
  private readonly fn: HardActivationFn;

  constructor(args: {kind?: string; name?: string; trainable?: boolean}) {
    super(args);
    this.kind = args.kind === 'hardswish' ? 'hardswish' : 'hardsigmoid';
    this.fn = this.kind === 'hardswish' ? new HardSwish() : new HardSigmoid3();
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return this.fn.apply(firstInput(inputs));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {...super.getConfig(), kind: this.kind};
  }
}

tf.serialization.registerClass(HardActivation);

/**
 * Keras' image resizing, as `tf.image.resize` computes it: half-pixel centres, no corner
 * alignment, no antialiasing. tfjs-layers' own Resizing aligns corners (it passes
 * `!cropToAspectRatio` as alignCorners) and its bilinear UpSampling2D samples without
 * half-pixel centres, so both would answer differently from Keras. keras/config.ts puts this
 * layer in their place: a fixed `height` × `width` (Resizing) or a `factor` (UpSampling2D).
 */
export class KerasResize extends tf.layers.Layer {
  /** Registered class name, as used in translated configs. */
  static readonly className = 'KerasResize';
  private readonly height: number | null;
  private readonly width: number | null;
  private readonly factor: [number, number] | null;
  private readonly interpolation: 'bilinear' | 'nearest';

  constructor(args: {
    height?: number;
    width?: number;
    factor?: [number, number];
    interpolation?: string;
    name?: string;
    trainable?: boolean;
  }) {
    super(args);
    this.height = args.height ?? null;
    this.width = args.width ?? null;
    this.factor = args.factor ?? null;
    this.interpolation = args.interpolation === 'nearest' ? 'nearest' : 'bilinear';
  }

  /** The output's height and width for an input of `h` × `w`. */
  private size(h: number, w: number): [number, number] {
    return this.factor ? [h * this.factor[0], w * this.factor[1]] : [this.height!, this.width!];
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = firstShape(inputShape);
    const [h, w] = this.size(shape[1]!, shape[2]!);
    return [shape[0]!, h, w, shape[3]!];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = firstInput(inputs) as tf.Tensor4D;
      const size = this.size(x.shape[1], x.shape[2]);
      return this.interpolation === 'nearest'
        ? tf.image.resizeNearestNeighbor(x, size, false, true)
        : tf.image.resizeBilinear(x, size, false, true);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      ...(this.factor ? {factor: this.factor} : {height: this.height, width: this.width}),
      interpolation: this.interpolation,
    };
  }
}

tf.serialization.registerClass(KerasResize);

/**
 * Keras' CenterCrop: the middle `height` × `width` pixels (offsets rounded down), or, for an
 * input smaller than that in either dimension, Keras' `smart_resize`: the largest centred box
 * of the target's aspect ratio, resized (bilinear, half-pixel centres) to the target.
 * tfjs-layers' own CenterCrop crops with crop-and-resize boxes that fall between pixels.
 */
export class KerasCenterCrop extends tf.layers.Layer {
  /** Registered class name, as used in translated configs. */
  static readonly className = 'KerasCenterCrop';
  private readonly height: number;
  private readonly width: number;

  constructor(args: {height: number; width: number; name?: string; trainable?: boolean}) {
    super(args);
    this.height = args.height;
    this.width = args.width;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = firstShape(inputShape);
    return [shape[0]!, this.height, this.width, shape[3]!];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = firstInput(inputs) as tf.Tensor4D;
      const [, h, w] = x.shape;
      if (h >= this.height && w >= this.width) {
        const top = Math.floor((h - this.height) / 2);
        const left = Math.floor((w - this.width) / 2);
        return tf.slice(x, [0, top, left, 0], [-1, this.height, this.width, -1]);
      }
      const boxH = Math.max(1, Math.min(h, Math.floor((w * this.height) / this.width)));
      const boxW = Math.max(1, Math.min(w, Math.floor((h * this.width) / this.height)));
      const box = tf.slice(x, [0, Math.floor((h - boxH) / 2), Math.floor((w - boxW) / 2), 0], [-1, boxH, boxW, -1]);
      return tf.image.resizeBilinear(box as tf.Tensor4D, [this.height, this.width], false, true);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {...super.getConfig(), height: this.height, width: this.width};
  }
}

tf.serialization.registerClass(KerasCenterCrop);

/**
 * Activations tfjs lacks, for the layers that apply theirs inside (recurrent layers, and the
 * layer a Bidirectional or TimeDistributed holds), where a HardActivation layer after them
 * would compute something else: Keras 3's `hard_sigmoid`, relu6(x + 3) / 6, and `hard_swish`,
 * x · relu6(x + 3) / 6. keras/config.ts names them `hardSigmoid3` and `hardSwish`.
 */
abstract class HardActivationFn extends tf.serialization.Serializable {
  abstract apply(x: tf.Tensor): tf.Tensor;
  override getConfig(): tf.serialization.ConfigDict {
    return {};
  }
}

/** relu6(x + 3) / 6. */
function hardSigmoid3(x: tf.Tensor): tf.Tensor {
  return tf.div(tf.relu6(tf.add(x, 3)), 6);
}

/** Keras 3's `hard_sigmoid`, relu6(x + 3) / 6 (tfjs' own hardSigmoid is Keras 2's 0.2x + 0.5). */
export class HardSigmoid3 extends HardActivationFn {
  static readonly className = 'hardSigmoid3';
  override getClassName(): string {
    return HardSigmoid3.className;
  }
  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => hardSigmoid3(x));
  }
}

/** Keras 3's `hard_swish`, x · relu6(x + 3) / 6. */
export class HardSwish extends HardActivationFn {
  static readonly className = 'hardSwish';
  override getClassName(): string {
    return HardSwish.className;
  }
  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.mul(x, hardSigmoid3(x)));
  }
}

tf.serialization.registerClass(HardSigmoid3);
tf.serialization.registerClass(HardSwish);
