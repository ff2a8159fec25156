/**
 * keras.applications' ConvNeXt block, as Keras 3 writes it: a depthwise step that is a
 * Conv2D with groups equal to its channels, LayerNormalization, two Dense layers around a
 * GELU, and ConvNeXt's own LayerScale and StochasticDepth (custom layers to Keras' loader,
 * defined in keras.src.applications.convnext), the residual added by Keras 3's `add` op.
 * Written by the project's Keras writer in both formats; the expected output is the block
 * written out here.
 */
import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {loadClassifier} from '../../../../src/model/loader.js';
import {writeKerasModel, type ModelSpec} from '../../../../../scripts/lib/keras_writer.js';
import {
  answersAs,
  close,
  conv2dConfig,
  dense,
  depthwiseConfig,
  deterministic,
  functional,
  gelu,
  groupedConv,
  input,
  kerasTensor,
  layer,
  matVec,
  opEntry,
  scores,
  softmax,
  type Entry,
  w,
} from '../../../helpers/keras_specs.js';

const [H, W, C] = [4, 4, 3];
const IMAGE = deterministic(H * W * C, 71).map(v => (v + 0.8) / 1.6);

/** A layer ConvNeXt defines for itself, as Keras 3 serialises it. */
const convnextLayer = (className: string, name: string, config: Entry, inputs: string[]) => ({
  ...layer(className, name, config, inputs),
  module: 'keras.src.applications.convnext',
  registered_name: className,
});

const dwKernel = deterministic(3 * 3 * 1 * C, 72);
const dwBias = deterministic(C, 73);
const [lnGamma, lnBeta] = [[1.2, 0.8, 1], deterministic(C, 74)];
const pw1 = deterministic(C * 4 * C, 75);
const pw1Bias = deterministic(4 * C, 76);
const pw2 = deterministic(4 * C * C, 77);
const pw2Bias = deterministic(C, 78);
const scale = [0.5, -1.5, 2];
const head = deterministic(H * W * C * 3, 79);
const headBias = [0.1, -0.1, 0];

/** The block by hand, pixel by pixel. */
function expected(gamma: number[]): number[] {
  const dw = groupedConv(IMAGE, [H, W, C], dwKernel, [3, 3], C, C, dwBias);
  const out: number[] = [];
  for (let p = 0; p < H * W; p++) {
    const x = dw.slice(p * C, p * C + C);
    const mean = x.reduce((a, b) => a + b, 0) / C;
    const variance = x.reduce((a, b) => a + (b - mean) ** 2, 0) / C;
    const normed = x.map((v, c) => ((v - mean) / Math.sqrt(variance + 1e-6)) * lnGamma[c]! + lnBeta[c]!);
    const hidden = matVec(normed, pw1, pw1Bias).map(gelu);
    const branch = matVec(hidden, pw2, pw2Bias).map((v, c) => v * gamma[c]!);
    out.push(...branch.map((v, c) => IMAGE[p * C + c]! + v));
  }
  return softmax(matVec(out, head, headBias));
}

/**
 * The block; `depthwise` writes its first step as the DepthwiseConv2D it equals (same
 * weights in the same order), which tfjs-layers can run.
 */
function block(layerScale: Entry, weights: ModelSpec['weights'] = {}, depthwise = false): ModelSpec {
  const step = depthwise
    ? layer('DepthwiseConv2D', 'dw', depthwiseConfig(3), ['image'])
    : layer('Conv2D', 'dw', conv2dConfig(C, 3, {groups: C}), ['image']);
  return {
    config: functional(
      'convnext_block',
      [
        input('image', [H, W, C]),
        step,
        layer('LayerNormalization', 'ln', {axis: -1, epsilon: 1e-6, center: true, scale: true}, ['dw']),
        dense('pw1', 4 * C, 'linear', ['ln']),
        layer('Activation', 'gelu', {activation: 'gelu'}, ['pw1']),
        dense('pw2', C, 'linear', ['gelu']),
        convnextLayer('LayerScale', 'layer_scale', {init_values: 1e-6, projection_dim: C, ...layerScale}, ['pw2']),
        convnextLayer('StochasticDepth', 'stochastic_depth', {drop_path_rate: 0.1}, ['layer_scale']),
        opEntry('Add', 'add', ['image', 'stochastic_depth']),
        layer('Flatten', 'flat', {data_format: 'channels_last'}, ['add']),
        dense('probs', 3, 'softmax', ['flat']),
      ],
      'image',
      'probs'
    ),
    weights: {
      dw: depthwise
        ? [w('depthwise_kernel', [3, 3, C, 1], dwKernel), w('bias', [C], dwBias)]
        : [w('kernel', [3, 3, 1, C], dwKernel), w('bias', [C], dwBias)],
      ln: [w('gamma', [C], lnGamma), w('beta', [C], lnBeta)],
      pw1: [w('kernel', [C, 4 * C], pw1), w('bias', [4 * C], pw1Bias)],
      pw2: [w('kernel', [4 * C, C], pw2), w('bias', [C], pw2Bias)],
      layer_scale: [w('variable', [C], scale)],
      probs: [w('kernel', [H * W * C, 3], head), w('bias', [3], headBias)],
      ...weights,
    },
  };
}

describe("ConvNeXt's block: LayerScale, StochasticDepth and a Conv2D with groups = channels", () => {
  for (const format of ['h5', 'keras'] as const) {
    for (const engine of ['auto', 'onnx'] as const) {
      it(`runs as Keras computes it (.${format}, ${engine})`, async () => {
        await answersAs(block({}), format, {engine, scale: '0,1'}, IMAGE, expected(scale), 'onnx');
      });
    }
  }

  for (const engine of ['tfjs', 'onnx'] as const) {
    it(`LayerScale and StochasticDepth on ${engine}, the depthwise step a DepthwiseConv2D`, async () => {
      await answersAs(block({}, {}, true), 'h5', {engine, scale: '0,1'}, IMAGE, expected(scale), engine);
    });
  }

  it('LayerScale multiplies: another gamma, another answer', async () => {
    const other = [1, 1, 1];
    const model = await loadClassifier(
      await writeKerasModel(block({}, {layer_scale: [w('variable', [C], other)]}), 'h5'),
      {scale: '0,1'}
    );
    try {
      close(await scores(model, IMAGE), expected(other));
      assert.ok(Math.abs(expected(other)[0]! - expected(scale)[0]!) > 1e-3, 'the two gammas must answer apart');
    } finally {
      model.dispose();
    }
  });

  it('refuses a LayerScale whose gamma does not fit its projection_dim, naming it', async () => {
    await assert.rejects(
      loadClassifier(await writeKerasModel(block({}, {layer_scale: [w('variable', [2], [1, 2])]}), 'h5'), {
        scale: '0,1',
      }),
      (e: Error) => {
        assert.equal((e as {kind?: string}).kind, 'weight_mismatch', e.message);
        assert.match(e.message, /LayerScale 'layer_scale' stores \[2\]; it needs one gamma of its 3 channels/);
        return true;
      }
    );
  });

  it("keeps refusing keras_cv's StochasticDepth (rate, two inputs, adds them): not ConvNeXt's", async () => {
    const spec: ModelSpec = {
      config: functional(
        'kcv',
        [
          input('image', [H, W, C]),
          {...layer('StochasticDepth', 'sd', {rate: 0.1}, ['image', 'image']), module: 'keras_cv.layers'},
          layer('Flatten', 'flat', {}, ['sd']),
        ],
        'image',
        'flat'
      ),
      weights: {},
    };
    await assert.rejects(
      loadClassifier(await writeKerasModel(spec, 'h5'), {scale: '0,1'}),
      /StochasticDepth 'sd' \(a custom layer from keras_cv\.layers\)/
    );
  });
});

// A whole ConvNeXt in miniature, laid out as keras.applications' convnext.py builds it:
// PreStem (Normalization), the stem as a nested Sequential (a 2×2 stride-2 Conv2D, then
// LayerNormalization), one block with `drop_path_rate` 0 (an Activation('linear') where
// StochasticDepth would be), and the head (GlobalAveragePooling2D, LayerNormalization, Dense).
describe('a miniature ConvNeXt as keras.applications lays it out (Keras 3)', () => {
  const mean = [120, 110, 100];
  const variance = [3600, 2500, 4900];
  const stemKernel = deterministic(2 * 2 * 3 * C, 101); // [2, 2, 3, C]
  const stemBias = deterministic(C, 102);
  const [stemGamma, stemBeta] = [[0.9, 1.1, 1], deterministic(C, 103)];
  const [headGamma, headBeta] = [[1.2, 0.7, 1], deterministic(C, 104)];
  const probs = deterministic(C * 3, 105);
  const probsBias = [0.05, 0, -0.05];
  const raw = IMAGE.map(v => v * 255);
  const layerNorm = (x: number[], gamma: number[], beta: number[]) => {
    const m = x.reduce((a, b) => a + b, 0) / x.length;
    const v = x.reduce((a, b) => a + (b - m) ** 2, 0) / x.length;
    return x.map((e, c) => ((e - m) / Math.sqrt(v + 1e-6)) * gamma[c]! + beta[c]!);
  };
  const expectedMini = (() => {
    const normed = raw.map((v, i) => (v - mean[i % 3]!) / Math.sqrt(variance[i % 3]!));
    const stem: number[] = [];
    for (let oy = 0; oy < 2; oy++)
      for (let ox = 0; ox < 2; ox++) {
        const out = stemBias.map((b, o) => {
          let sum = b;
          for (let dy = 0; dy < 2; dy++)
            for (let dx = 0; dx < 2; dx++)
              for (let i = 0; i < 3; i++)
                sum +=
                  normed[((2 * oy + dy) * W + 2 * ox + dx) * 3 + i]! * stemKernel[((dy * 2 + dx) * 3 + i) * C + o]!;
          return sum;
        });
        stem.push(...layerNorm(out, stemGamma, stemBeta));
      }
    const dw = groupedConv(stem, [2, 2, C], dwKernel, [3, 3], C, C, dwBias);
    const block: number[] = [];
    for (let p = 0; p < 4; p++) {
      const normedDw = layerNorm(dw.slice(p * C, p * C + C), lnGamma, lnBeta);
      const branch = matVec(matVec(normedDw, pw1, pw1Bias).map(gelu), pw2, pw2Bias).map((v, c) => v * scale[c]!);
      block.push(...branch.map((v, c) => stem[p * C + c]! + v));
    }
    const pooled = [0, 1, 2].map(c => [0, 1, 2, 3].reduce((s, p) => s + block[p * C + c]!, 0) / 4);
    return softmax(matVec(layerNorm(pooled, headGamma, headBeta), probs, probsBias));
  })();
  const ln = (name: string, from: string[]) =>
    layer('LayerNormalization', name, {axis: -1, epsilon: 1e-6, center: true, scale: true}, from);
  const stem = {
    module: 'keras',
    class_name: 'Sequential',
    config: {
      name: 'convnext_stem',
      trainable: true,
      layers: [
        {...input('stem_input', [H, W, 3]), inbound_nodes: undefined},
        {
          ...layer('Conv2D', 'stem_conv', conv2dConfig(C, 2, {strides: [2, 2], padding: 'valid'})),
          inbound_nodes: undefined,
        },
        {...ln('stem_layernorm', []), inbound_nodes: undefined},
      ],
    },
    registered_name: null,
    name: 'convnext_stem',
    inbound_nodes: [{args: [kerasTensor('prestem')], kwargs: {}}],
  };
  const spec: ModelSpec = {
    config: functional(
      'convnext_mini',
      [
        input('image', [H, W, 3]),
        layer('Normalization', 'prestem', {axis: -1, mean, variance, invert: false}, ['image']),
        stem,
        layer('Conv2D', 'dw', conv2dConfig(C, 3, {groups: C}), ['convnext_stem']),
        ln('ln', ['dw']),
        dense('pw1', 4 * C, 'linear', ['ln']),
        layer('Activation', 'gelu', {activation: 'gelu'}, ['pw1']),
        dense('pw2', C, 'linear', ['gelu']),
        convnextLayer('LayerScale', 'layer_scale', {init_values: 1e-6, projection_dim: C}, ['pw2']),
        layer('Activation', 'identity', {activation: 'linear'}, ['layer_scale']),
        opEntry('Add', 'add', ['convnext_stem', 'identity']),
        layer('GlobalAveragePooling2D', 'head_gap', {data_format: 'channels_last', keepdims: false}, ['add']),
        ln('head_layernorm', ['head_gap']),
        dense('probs', 3, 'softmax', ['head_layernorm']),
      ],
      'image',
      'probs'
    ),
    weights: {
      convnext_stem: [
        w('stem_conv/kernel', [2, 2, 3, C], stemKernel),
        w('stem_conv/bias', [C], stemBias),
        w('stem_layernorm/gamma', [C], stemGamma),
        w('stem_layernorm/beta', [C], stemBeta),
      ],
      dw: [w('kernel', [3, 3, 1, C], dwKernel), w('bias', [C], dwBias)],
      ln: [w('gamma', [C], lnGamma), w('beta', [C], lnBeta)],
      pw1: [w('kernel', [C, 4 * C], pw1), w('bias', [4 * C], pw1Bias)],
      pw2: [w('kernel', [4 * C, C], pw2), w('bias', [C], pw2Bias)],
      layer_scale: [w('variable', [C], scale)],
      head_layernorm: [w('gamma', [C], headGamma), w('beta', [C], headBeta)],
      probs: [w('kernel', [C, 3], probs), w('bias', [3], probsBias)],
    },
  };
  for (const format of ['h5', 'keras'] as const) {
    it(`loads and answers as the network written out (.${format}, auto → onnx)`, async () => {
      await answersAs(spec, format, {scale: '0,255'}, raw, expectedMini, 'onnx');
    });
  }
});
