/**
 * Grouped convolutions (`Conv1D/2D/3D(groups=g)`, Keras 2.3+): keras.applications' RegNets
 * use them, and ConvNeXt's depthwise step is a Conv2D with groups equal to its channels.
 * ONNX Runtime runs them (ONNX Conv's `group`); tfjs-layers has none, so the tfjs engine
 * refuses them by name. Each model is written by the project's Keras writer in both formats;
 * the expected outputs are a grouped convolution written out here.
 */
import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {loadClassifier} from '../../../../src/model/loader.js';
import {writeKerasModel, type ModelSpec} from '../../../../../scripts/lib/keras_writer.js';
import {
  close,
  conv2dConfig,
  deterministic,
  dense,
  functional,
  groupedConv,
  input,
  layer,
  matVec,
  scores,
  softmax,
  w,
} from '../../../helpers/keras_specs.js';

const [H, W] = [4, 4];
/** A 4×4×3 image (HWC) in [0, 1]. */
const IMAGE = deterministic(H * W * 3, 31).map(v => (v + 0.8) / 1.6);

const conv = (name: string, filters: number, size: number, groups: number, inputs: string[]) =>
  layer('Conv2D', name, conv2dConfig(filters, size, {groups}), inputs);

interface Case {
  readonly name: string;
  readonly spec: ModelSpec;
  readonly expected: number[];
}
const cases: Case[] = [];

{
  // RegNet's shape: a 1×1 convolution to 4 channels, a 3×3 convolution in 2 groups of 2 → 3,
  // a BatchNormalization (folded into the grouped convolution), ReLU, and a dense head.
  const expand = deterministic(3 * 4, 32);
  const expandBias = [0.1, -0.2, 0.05, 0];
  const grouped = deterministic(3 * 3 * 2 * 6, 33); // [3, 3, 4 / 2, 6]
  const groupedBias = deterministic(6, 34);
  const [gamma, beta, mm, mv] = [
    [1.5, 0.5, 1, 2, 0.7, 1.1],
    deterministic(6, 35),
    deterministic(6, 36),
    [0.5, 2, 1, 0.3, 1.2, 0.9],
  ];
  const head = deterministic(H * W * 6 * 3, 37);
  const headBias = [0, 0.1, -0.1];
  const pixels = Array.from({length: H * W}, (_, p) => IMAGE.slice(p * 3, p * 3 + 3));
  const expanded = pixels.flatMap(px => matVec(px, expand, expandBias));
  const convolved = groupedConv(expanded, [H, W, 4], grouped, [3, 3], 6, 2, groupedBias);
  const normalised = convolved.map((v, i) => {
    const c = i % 6;
    return Math.max((gamma[c]! * (v - mm[c]!)) / Math.sqrt(mv[c]! + 1e-3) + beta[c]!, 0);
  });
  cases.push({
    name: 'Conv2D(groups=2) after a 1×1 convolution, with a BatchNormalization folded into it (RegNet)',
    spec: {
      config: functional(
        'regnet_like',
        [
          input('image', [H, W, 3]),
          conv('expand', 4, 1, 1, ['image']),
          conv('grouped', 6, 3, 2, ['expand']),
          layer('BatchNormalization', 'bn', {axis: -1, epsilon: 1e-3, center: true, scale: true}, ['grouped']),
          layer('ReLU', 'relu', {}, ['bn']),
          layer('Flatten', 'flat', {data_format: 'channels_last'}, ['relu']),
          dense('probs', 3, 'softmax', ['flat']),
        ],
        'image',
        'probs'
      ),
      weights: {
        expand: [w('kernel', [1, 1, 3, 4], expand), w('bias', [4], expandBias)],
        grouped: [w('kernel', [3, 3, 2, 6], grouped), w('bias', [6], groupedBias)],
        bn: [w('gamma', [6], gamma), w('beta', [6], beta), w('moving_mean', [6], mm), w('moving_variance', [6], mv)],
        probs: [w('kernel', [H * W * 6, 3], head), w('bias', [3], headBias)],
      },
    },
    expected: softmax(matVec(normalised, head, headBias)),
  });
}

{
  // ConvNeXt's depthwise step: a 3×3 Conv2D with groups equal to its 3 channels.
  const kernel = deterministic(3 * 3 * 1 * 3, 41); // [3, 3, 1, 3]
  const bias = [0.2, -0.1, 0];
  const head = deterministic(H * W * 3 * 3, 42);
  const headBias = [0.1, 0, -0.1];
  const convolved = groupedConv(IMAGE, [H, W, 3], kernel, [3, 3], 3, 3, bias);
  cases.push({
    name: 'Conv2D(groups=channels), a depthwise convolution (ConvNeXt)',
    spec: {
      config: functional(
        'convnext_like',
        [
          input('image', [H, W, 3]),
          conv('dw', 3, 3, 3, ['image']),
          layer('Flatten', 'flat', {data_format: 'channels_last'}, ['dw']),
          dense('probs', 3, 'softmax', ['flat']),
        ],
        'image',
        'probs'
      ),
      weights: {
        dw: [w('kernel', [3, 3, 1, 3], kernel), w('bias', [3], bias)],
        probs: [w('kernel', [H * W * 3, 3], head), w('bias', [3], headBias)],
      },
    },
    expected: softmax(matVec(convolved, head, headBias)),
  });
}

{
  // Conv1D(groups=2) over the image's 16 pixels as steps: a 1×1 to 4 channels, then a
  // 'same' window of 3 in 2 groups (the 2D convolution above on a 1 × 16 image).
  const expand = deterministic(3 * 4, 51);
  const grouped = deterministic(3 * 2 * 4, 52); // [3, 4 / 2, 4]
  const groupedBias = deterministic(4, 53);
  const head = deterministic(16 * 4 * 3, 54);
  const steps = Array.from({length: 16}, (_, p) => IMAGE.slice(p * 3, p * 3 + 3));
  const expanded = steps.flatMap(px => matVec(px, expand, [0, 0, 0, 0]));
  const convolved = groupedConv(expanded, [1, 16, 4], grouped, [1, 3], 4, 2, groupedBias);
  const conv1d = (name: string, filters: number, size: number, groups: number, inputs: string[], useBias: boolean) =>
    layer(
      'Conv1D',
      name,
      {
        filters,
        kernel_size: [size],
        strides: [1],
        padding: 'same',
        data_format: 'channels_last',
        dilation_rate: [1],
        groups,
        activation: 'linear',
        use_bias: useBias,
      },
      inputs
    );
  cases.push({
    name: 'Conv1D(groups=2) over the pixels as steps',
    spec: {
      config: functional(
        'conv1d_groups',
        [
          input('image', [H, W, 3]),
          layer('Reshape', 'steps', {target_shape: [16, 3]}, ['image']),
          conv1d('expand', 4, 1, 1, ['steps'], false),
          conv1d('grouped', 4, 3, 2, ['expand'], true),
          layer('Flatten', 'flat', {data_format: 'channels_last'}, ['grouped']),
          dense('probs', 3, 'softmax', ['flat']),
        ],
        'image',
        'probs'
      ),
      weights: {
        expand: [w('kernel', [1, 3, 4], expand)],
        grouped: [w('kernel', [3, 2, 4], grouped), w('bias', [4], groupedBias)],
        probs: [w('kernel', [64, 3], head), w('bias', [3], [0, 0, 0])],
      },
    },
    expected: softmax(matVec(convolved, head, [0, 0, 0])),
  });
}

describe('grouped convolutions: ONNX Runtime runs them, tfjs refuses them by name', () => {
  for (const c of cases) {
    for (const format of ['h5', 'keras'] as const) {
      for (const engine of ['auto', 'onnx'] as const) {
        it(`${c.name} (.${format}, ${engine})`, async () => {
          const model = await loadClassifier(await writeKerasModel(c.spec, format), {engine, scale: '0,1'});
          try {
            assert.equal(model.engine, 'onnx');
            close(await scores(model, IMAGE), c.expected);
            // A batch of two answers each image as it is answered alone.
            const flipped = [...IMAGE].reverse();
            const alone = await scores(model, flipped);
            const [a, b] = await model.classifyPixels([Float32Array.from(IMAGE), Float32Array.from(flipped)], 3);
            close(
              a!.top_k.sort((x, y) => x.index - y.index).map(t => t.score),
              c.expected
            );
            close(
              b!.top_k.sort((x, y) => x.index - y.index).map(t => t.score),
              alone
            );
          } finally {
            model.dispose();
          }
        });
      }
    }
    it(`${c.name}: INFERENCE_ENGINE=tfjs refuses it, naming groups`, async () => {
      await assert.rejects(
        loadClassifier(await writeKerasModel(c.spec, 'h5'), {engine: 'tfjs', scale: '0,1'}),
        (e: Error) => /groups=\d: tfjs-layers has no grouped convolution/.test(e.message)
      );
    });
  }

  it('refuses as invalid_config a groups count that does not divide the input channels, on every engine', async () => {
    const spec: ModelSpec = {
      config: functional(
        'bad_groups',
        [input('image', [H, W, 3]), conv('grouped', 4, 3, 2, ['image']), layer('Flatten', 'flat', {}, ['grouped'])],
        'image',
        'flat'
      ),
      weights: {grouped: [w('kernel', [3, 3, 1, 4], deterministic(36, 61)), w('bias', [4], [0, 0, 0, 0])]},
    };
    for (const engine of ['auto', 'onnx'] as const) {
      await assert.rejects(loadClassifier(await writeKerasModel(spec, 'h5'), {engine, scale: '0,1'}), (e: Error) => {
        assert.equal((e as {kind?: string}).kind, 'invalid_config', `${engine}: ${e.message}`);
        assert.match(e.message, /layer 'grouped' \(Conv2D\) has groups=2, which must divide both its 3 input channels/);
        return true;
      });
    }
  });
});
