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
  close,
  conv2dConfig,
  deterministic,
  dense,
  functional,
  gelu,
  groupedConv,
  input,
  layer,
  matVec,
  opEntry,
  scores,
  softmax,
  w,
  type Entry,
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
    ? layer(
        'DepthwiseConv2D',
        'dw',
        {
          kernel_size: [3, 3],
          strides: [1, 1],
          padding: 'same',
          data_format: 'channels_last',
          dilation_rate: [1, 1],
          depth_multiplier: 1,
          activation: 'linear',
          use_bias: true,
        },
        ['image']
      )
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
        const model = await loadClassifier(await writeKerasModel(block({}), format), {engine, scale: '0,1'});
        try {
          assert.equal(model.engine, 'onnx');
          close(await scores(model, IMAGE), expected(scale));
        } finally {
          model.dispose();
        }
      });
    }
  }

  for (const engine of ['tfjs', 'onnx'] as const) {
    it(`LayerScale and StochasticDepth on ${engine}, the depthwise step a DepthwiseConv2D`, async () => {
      const model = await loadClassifier(await writeKerasModel(block({}, {}, true), 'h5'), {engine, scale: '0,1'});
      try {
        assert.equal(model.engine, engine);
        close(await scores(model, IMAGE), expected(scale));
      } finally {
        model.dispose();
      }
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
