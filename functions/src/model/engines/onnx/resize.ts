/**
 * Keras' resizing layers as ONNX ops on channels-first storage: nearest UpSampling2D,
 * KerasResize (Resizing and bilinear UpSampling2D, sampled as `tf.image.resize`) and
 * KerasCenterCrop.
 */
import type {GraphLayer} from '../../keras/graph.js';
import {attr, NoOnnxTranslation, OnnxBuilder, type Value} from './builder.js';
import {perAxis, spatialInput} from './spatial.js';

/** UpSampling2D, nearest: pixel replication (the only mode tfjs and Keras agree on). */
export function upSampling(b: OnnxBuilder, layer: GraphLayer, v: Value): Value {
  if ((layer.config['interpolation'] ?? 'nearest') !== 'nearest') {
    throw new NoOnnxTranslation(
      `UpSampling2D '${layer.name}' (interpolation '${String(layer.config['interpolation'])}')`
    );
  }
  const s = spatialInput(b, layer, v);
  const size = perAxis(layer.config['size'], s.spatial.length, 2);
  const scales = b.floats(`${layer.name}/scales`, Float32Array.from([1, 1, ...size]), [size.length + 2]);
  const y = b.op('Resize', [s.x, '', scales], layer.name, [
    attr.str('mode', 'nearest'),
    attr.str('coordinate_transformation_mode', 'asymmetric'),
    attr.str('nearest_mode', 'floor'),
  ]);
  return s.wrap(
    y,
    s.spatial.map((d, i) => d * size[i]!),
    s.channels
  );
}

/**
 * KerasResize (Resizing, bilinear UpSampling2D): ONNX Resize with Keras' sampling, half-pixel
 * centres (`x_in = (x_out + 0.5) · in / out − 0.5`); nearest rounds halves up, which is
 * `floor((x_out + 0.5) · in / out)`, TensorFlow's half-pixel nearest neighbour. The output
 * size is given whole (batch from the input's shape), never as a float scale that could
 * round one pixel short.
 */
export function kerasResize(b: OnnxBuilder, layer: GraphLayer, v: Value): Value {
  const s = spatialInput(b, layer, v);
  const factor = layer.config['factor'] as number[] | undefined;
  const [h, w] = s.spatial as [number, number];
  const out = factor
    ? [h * factor[0]!, w * factor[1]!]
    : [Number(layer.config['height']), Number(layer.config['width'])];
  const head = b.op('Shape', [s.x], `${layer.name}/batch_channels`, [attr.int('start', 0), attr.int('end', 2)]);
  const sizes = b.op('Concat', [head, b.ints(`${layer.name}/hw`, out)], `${layer.name}/sizes`, [attr.int('axis', 0)]);
  const nearest = layer.config['interpolation'] === 'nearest';
  const y = b.op('Resize', [s.x, '', '', sizes], layer.name, [
    attr.str('mode', nearest ? 'nearest' : 'linear'),
    attr.str('coordinate_transformation_mode', 'half_pixel'),
    ...(nearest ? [attr.str('nearest_mode', 'round_prefer_ceil')] : []),
  ]);
  return s.wrap(y, out, s.channels);
}

/**
 * KerasCenterCrop (Keras' CenterCrop): a Slice of the middle pixels, offsets rounded down. An
 * input smaller than the target is resized by Keras (`smart_resize`): left to tfjs.
 */
export function centerCrop(b: OnnxBuilder, layer: GraphLayer, v: Value): Value {
  const s = spatialInput(b, layer, v);
  const [h, w] = s.spatial as [number, number];
  const out = [Number(layer.config['height']), Number(layer.config['width'])] as [number, number];
  if (h < out[0] || w < out[1])
    throw new NoOnnxTranslation(`CenterCrop '${layer.name}' to more than its ${h}x${w} input (Keras resizes it)`);
  const start = [Math.floor((h - out[0]) / 2), Math.floor((w - out[1]) / 2)];
  const ints = (hint: string, values: number[]) => b.ints(`${layer.name}/${hint}`, values);
  const y = b.op(
    'Slice',
    [s.x, ints('starts', start), ints('ends', [start[0]! + out[0], start[1]! + out[1]]), ints('axes', [2, 3])],
    layer.name
  );
  return s.wrap(y, out, s.channels);
}
