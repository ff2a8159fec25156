/**
 * Input preprocessing: how 8-bit RGB pixels (0–255) become model inputs. Declared per model
 * (record field `input_scale`, object metadata `scale`), never guessed from the weights.
 *
 * The modes of keras.applications' `preprocess_input` (keras/src/applications/imagenet_utils.py):
 * - `0,1`: x / 255 (Apache Beam's example; the default).
 * - `-1,1`, alias `tf`: x / 127.5 − 1 (MobileNet, MobileNetV2, Inception, Xception, NASNet, ResNetV2).
 * - `0,255`, alias `raw`: x unchanged (EfficientNet, EfficientNetV2, ConvNeXt, RegNet, MobileNetV3:
 *   their Rescaling/Normalization layers are inside the model).
 * - `caffe`: RGB → BGR, then minus the ImageNet means in BGR order [103.939, 116.779, 123.68],
 *   no scaling (ResNet50/101/152 v1, VGG16/19).
 * - `torch`: x / 255, then (x − [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225] per RGB channel
 *   (DenseNet).
 * - `mean=a,b,c;std=d,e,f`: (x − mean) / std per RGB channel, on 0–255 pixels.
 *
 * A greyscale model (one channel) gets the channel average of the mean and std.
 */

/** A declared preprocessing in canonical form: `0,1`, `-1,1`, `0,255`, `caffe`, `torch` or `mean=…;std=…`. */
export type Scale = string;

/** The default when a model declares nothing: x/255, as Apache Beam's example does. */
export const DEFAULT_SCALE: Scale = '0,1';

/** What {@link parseScale} accepts, for messages. */
export const SCALE_HELP = "0,1 | -1,1 (tf) | 0,255 (raw) | caffe | torch | 'mean=a,b,c;std=d,e,f'";

const ALIASES: Record<string, Scale> = {
  '0,1': '0,1',
  '-1,1': '-1,1',
  tf: '-1,1',
  '0,255': '0,255',
  raw: '0,255',
  caffe: 'caffe',
  torch: 'torch',
};

const CAFFE_MEAN_BGR = [103.939, 116.779, 123.68] as const;
const TORCH_MEAN = [0.485, 0.456, 0.406] as const;
const TORCH_STD = [0.229, 0.224, 0.225] as const;

function triple(text: string | undefined, what: string, value: string): [number, number, number] {
  const parts = (text ?? '').split(',').map(Number);
  if (parts.length !== 3 || parts.some(n => !Number.isFinite(n))) {
    throw new Error(`input scale '${value}': ${what} needs three numbers (R,G,B)`);
  }
  return parts as [number, number, number];
}

/** Parses a declared scale into its canonical form; throws naming what is accepted. */
export function parseScale(value: string): Scale {
  const s = value.replace(/[[\]\s]/g, '').toLowerCase();
  const alias = ALIASES[s];
  if (alias) return alias;
  const m = /^mean=([^;]+);std=([^;]+)$/.exec(s);
  if (m) {
    const mean = triple(m[1], 'mean', value);
    const std = triple(m[2], 'std', value);
    if (std.some(d => d <= 0)) throw new Error(`input scale '${value}': std must be positive`);
    return `mean=${mean.join(',')};std=${std.join(',')}`;
  }
  throw new Error(`input scale must be one of ${SCALE_HELP}, not '${value}'`);
}

/** Like {@link parseScale}, but null for a missing or invalid value. */
export function parseScaleOrNull(value: string | undefined | null): Scale | null {
  if (value === undefined || value === null || value.trim() === '') return null;
  try {
    return parseScale(value);
  } catch {
    return null;
  }
}

/**
 * Per output channel c: input[c] = pixel[source(c)] * mul[c] + add[c], where source(c) is c,
 * or the channel mirrored (2 − c) when `bgr`.
 */
export interface PixelTransform {
  readonly bgr: boolean;
  readonly mul: readonly number[];
  readonly add: readonly number[];
}

const uniform = (mul: number, add: number, channels: number): PixelTransform => ({
  bgr: false,
  mul: Array<number>(channels).fill(mul),
  add: Array<number>(channels).fill(add),
});

/** (x − mean) / std on 0–255 pixels, per channel (averaged for one channel). */
function standardise(mean: readonly number[], std: readonly number[], channels: number, bgr = false): PixelTransform {
  const avg = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const m = channels === 1 ? [avg(mean)] : mean;
  const d = channels === 1 ? [avg(std)] : std;
  return {bgr: bgr && channels === 3, mul: d.map(x => 1 / x), add: m.map((x, i) => -x / d[i]!)};
}

/** The transform of a scale for a model with `channels` (1 or 3) input channels. */
export function pixelTransform(scale: Scale, channels: number): PixelTransform {
  switch (scale) {
    case '0,1':
      return uniform(1 / 255, 0, channels);
    case '-1,1':
      // x/127.5 - 1 maps 0 → -1 and 255 → +1 exactly.
      return uniform(1 / 127.5, -1, channels);
    case '0,255':
      return uniform(1, 0, channels);
    case 'caffe':
      return standardise(CAFFE_MEAN_BGR, [1, 1, 1], channels, true);
    case 'torch':
      return standardise(
        TORCH_MEAN.map(x => x * 255),
        TORCH_STD.map(x => x * 255),
        channels
      );
  }
  const m = /^mean=([^;]+);std=([^;]+)$/.exec(scale);
  if (!m) throw new Error(`input scale must be one of ${SCALE_HELP}, not '${scale}'`);
  return standardise(triple(m[1], 'mean', scale), triple(m[2], 'std', scale), channels);
}
