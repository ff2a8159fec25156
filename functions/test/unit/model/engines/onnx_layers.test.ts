/**
 * Every layer the ONNX translation claims, one small model each: built in TensorFlow.js
 * with random weights (BatchNormalization statistics too), written as a Keras .h5 by the
 * project's writer, loaded on the ONNX engine, and compared with what tfjs-layers itself
 * predicts for the same pixels, alone and in a batch of two. The expected figures come from
 * tfjs' own `predict` on the original model, not from the code under test.
 */
import assert from 'node:assert/strict';
import {before, describe, it} from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {InvalidConfigError, UnsupportedLayerError} from '../../../../src/core/errors.js';
import {memoryLogger} from '../../../../src/core/log.js';
import {loadClassifier} from '../../../../src/model/loader.js';
import {windowPads} from '../../../../src/model/engines/onnx/spatial.js';
import {NoOnnxTranslation} from '../../../../src/model/engines/onnx/builder.js';
import {exportOnnx} from '../../../../src/model/onnx_export.js';
import {writeKerasH5, type WrittenLayer} from '../../../../../scripts/lib/keras_writer.js';
import {backend} from '../../../helpers/models.js';

type Sym = tf.SymbolicTensor;
const L = tf.layers;
const apply = (layer: tf.layers.Layer, x: Sym | Sym[]): Sym => layer.apply(x) as Sym;

/** A deterministic pseudo-random sequence (the test must not flake). */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1664525 + 1013904223) % 4294967296;
    return s / 4294967296;
  };
}

/** Random weights everywhere; variances positive, so BatchNormalization does real work. */
function randomise(model: tf.LayersModel, seed: number): void {
  const next = random(seed);
  for (const layer of model.layers) {
    const weights = layer.getWeights();
    if (weights.length === 0) continue;
    layer.setWeights(
      weights.map((w, i) => {
        const variance = layer.getClassName() === 'BatchNormalization' && i === weights.length - 1;
        const values = Float32Array.from({length: w.size}, () => (variance ? 0.5 + next() : (next() - 0.5) * 0.8));
        return tf.tensor(values, w.shape);
      })
    );
  }
}

interface Case {
  readonly name: string;
  readonly shape: number[];
  build(x: Sym): Sym;
  /** The tfjs backend that computes the reference (default: the test's; tfjs-wasm gets some layers wrong). */
  readonly reference?: 'cpu';
  /** Keras' answer where tfjs-layers' own predict differs from Keras (default: the model's predict). */
  readonly expected?: (model: tf.LayersModel, data: Float32Array) => Float32Array;
}

const conv = (filters: number, kernelSize: number, extra: Record<string, unknown> = {}) =>
  L.conv2d({filters, kernelSize, ...extra});

const CASES: Case[] = [
  {
    name: 'Conv2D same, stride 2, folded BatchNormalization, ReLU6',
    shape: [9, 9, 3],
    build: x =>
      apply(
        L.reLU({maxValue: 6}),
        apply(L.batchNormalization({}), apply(conv(4, 3, {strides: 2, padding: 'same', useBias: false}), x))
      ),
  },
  {
    name: 'Conv2D valid, dilation 2, bias, relu',
    shape: [10, 10, 3],
    build: x => apply(conv(3, 3, {dilationRate: 2, activation: 'relu'}), x),
  },
  {
    name: 'DepthwiseConv2D multiplier 2, same, stride 2 (odd input)',
    shape: [7, 7, 3],
    build: x => apply(L.depthwiseConv2d({kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same'}), x),
  },
  {
    name: 'SeparableConv2D with a folded BatchNormalization',
    shape: [8, 8, 3],
    build: x =>
      apply(
        L.batchNormalization({}),
        apply(L.separableConv2d({filters: 5, kernelSize: 3, depthMultiplier: 2, padding: 'same'}), x)
      ),
  },
  {
    name: 'Conv2D channels_first',
    shape: [3, 8, 8],
    build: x => apply(conv(4, 3, {dataFormat: 'channelsFirst', padding: 'same'}), x),
  },
  {
    name: 'Flatten channels_first (channels moved last before flattening, as Keras does)',
    shape: [3, 5, 4],
    build: x =>
      apply(
        L.flatten({dataFormat: 'channelsFirst'}),
        apply(conv(2, 3, {dataFormat: 'channelsFirst', padding: 'same'}), x)
      ),
  },
  // (causal padding is covered by windowPads' unit test: tfjs' own shape inference gets it wrong)
  {
    name: 'Conv1D (greyscale rows as steps), same, stride 2',
    shape: [12, 12],
    build: x => apply(L.conv1d({filters: 4, kernelSize: 3, strides: 2, padding: 'same'}), x),
  },
  {
    // (no BatchNormalization here: tfjs-layers cannot run it on rank-5 tensors, so there is no reference)
    name: 'Conv3D, MaxPooling3D and AveragePooling3D (volumes from a Reshape)',
    shape: [8, 8, 3],
    build: x => {
      const v = apply(L.reshape({targetShape: [8, 8, 3, 1]}), x);
      const c = apply(L.conv3d({filters: 2, kernelSize: 2, padding: 'same', activation: 'relu'}), v);
      return apply(
        L.averagePooling3d({poolSize: [2, 2, 1]}),
        apply(L.maxPooling3d({poolSize: [2, 2, 1], strides: 1}), c)
      );
    },
  },
  {
    name: 'Conv2DTranspose same (k 3, s 2), valid (k 2, s 2), and same and valid with a kernel shorter than the stride',
    shape: [4, 4, 3],
    build: x => {
      const up = apply(
        L.conv2dTranspose({filters: 2, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu'}),
        x
      );
      const v = apply(L.conv2dTranspose({filters: 2, kernelSize: 2, strides: 2, padding: 'valid', useBias: false}), up);
      const w = apply(L.conv2dTranspose({filters: 2, kernelSize: 1, strides: 2, padding: 'same'}), v);
      return apply(L.conv2dTranspose({filters: 2, kernelSize: 1, strides: 2, padding: 'valid'}), w);
    },
  },
  {
    // tfjs-wasm's Conv3DTranspose with stride 2 answers wrongly (a flat output): tfjs-cpu is the reference.
    name: 'Conv3DTranspose same (k 2, s 2), valid (k 3, s 1) and valid with a kernel shorter than the stride',
    shape: [8, 8, 3],
    reference: 'cpu',
    build: x => {
      const v = apply(L.reshape({targetShape: [4, 4, 4, 3]}), x);
      const up = apply(
        L.conv3dTranspose({filters: 2, kernelSize: 2, strides: 2, padding: 'same', activation: 'relu'}),
        v
      );
      const v2 = apply(L.conv3dTranspose({filters: 2, kernelSize: 3, strides: 1, padding: 'valid'}), up);
      return apply(L.conv3dTranspose({filters: 1, kernelSize: 1, strides: 2, padding: 'valid'}), v2);
    },
  },
  {
    name: 'LSTM (sequences) → GRU (sequences, hard-sigmoid gates) → SimpleRNN (relu), rows of a greyscale image as steps',
    shape: [12, 6],
    build: x => {
      const a = apply(L.lstm({units: 5, returnSequences: true}), x);
      const h = apply(L.gru({units: 4, returnSequences: true, recurrentActivation: 'hardSigmoid'}), a);
      return apply(L.simpleRNN({units: 3, activation: 'relu'}), h);
    },
  },
  {
    name: 'go_backwards: GRU (sequences, in the order computed) → LSTM (last state)',
    shape: [7, 5],
    build: x => {
      const g = apply(L.gru({units: 4, returnSequences: true, goBackwards: true}), x);
      return apply(L.lstm({units: 3, goBackwards: true}), g);
    },
  },
  {
    name: 'ConvLSTM2D (sequences, same, hard-sigmoid gates) → (go_backwards, sequences) → (valid, stride 2, last state)',
    shape: [8, 8, 3],
    build: x => {
      const frames = apply(L.reshape({targetShape: [3, 4, 4, 4]}), x);
      const a = apply(
        L.convLstm2d({
          filters: 2,
          kernelSize: 3,
          padding: 'same',
          returnSequences: true,
          recurrentActivation: 'hardSigmoid',
        }),
        frames
      );
      const back = apply(L.convLstm2d({filters: 2, kernelSize: 1, goBackwards: true, returnSequences: true}), a);
      return apply(L.convLstm2d({filters: 3, kernelSize: 2, strides: 2, recurrentActivation: 'sigmoid'}), back);
    },
  },
  {
    name: 'RNN over stacked LSTM, GRU (hard-sigmoid gates) and SimpleRNN cells, sequences and last state',
    shape: [7, 5],
    build: x => {
      const cells = [
        L.lstmCell({units: 4}),
        L.gruCell({units: 3, recurrentActivation: 'hardSigmoid'}),
        L.simpleRNNCell({units: 2}),
      ];
      const seq = apply(L.rnn({cell: cells, returnSequences: true}), x);
      return apply(L.rnn({cell: [L.lstmCell({units: 3, useBias: false}), L.gruCell({units: 2})]}), seq);
    },
  },
  {
    name: 'RNN over stacked cells going backwards: its sequence (last step first), then its last state',
    shape: [6, 4],
    build: x => {
      const cells = [L.gruCell({units: 3}), L.lstmCell({units: 4})];
      const seq = apply(L.rnn({cell: cells, returnSequences: true, goBackwards: true}), x);
      const last = apply(L.rnn({cell: [L.simpleRNNCell({units: 3}), L.gruCell({units: 2})], goBackwards: true}), seq);
      return apply(L.concatenate({}), [apply(L.flatten({}), seq), last]);
    },
  },
  {
    name: 'Bidirectional LSTM (sequences, concat) → Bidirectional GRU (hard-sigmoid gates, sum), rows as steps',
    shape: [9, 6],
    build: x => {
      const a = apply(L.bidirectional({layer: L.lstm({units: 4, returnSequences: true}) as never}), x);
      const gru = L.gru({units: 3, recurrentActivation: 'hardSigmoid'});
      return apply(L.bidirectional({layer: gru as never, mergeMode: 'sum'}), a);
    },
  },
  {
    name: 'Bidirectional SimpleRNN (sequences, mul) → Bidirectional LSTM without bias (ave)',
    shape: [8, 5],
    build: x => {
      const a = apply(
        L.bidirectional({layer: L.simpleRNN({units: 3, returnSequences: true}) as never, mergeMode: 'mul'}),
        x
      );
      return apply(L.bidirectional({layer: L.lstm({units: 2, useBias: false}) as never, mergeMode: 'ave'}), a);
    },
  },
  {
    name: 'Bidirectional GRU with merge_mode None: its two outputs, used the other way round',
    shape: [7, 5],
    build: x => {
      const both = L.bidirectional({
        layer: L.gru({units: 3, returnSequences: true}) as never,
        mergeMode: null as never,
      });
      const [forward, backward] = both.apply(x) as Sym[];
      const flat = (v: Sym) => apply(L.flatten({}), v);
      return apply(L.concatenate({}), [flat(backward!), flat(apply(L.dense({units: 2}), forward!))]);
    },
  },
  {
    name: 'TimeDistributed Dense (relu) and TimeDistributed Conv2D over a Reshape into steps',
    shape: [8, 8, 3],
    build: x => {
      const steps = apply(L.reshape({targetShape: [2, 4, 8, 3]}), x);
      const c = apply(L.timeDistributed({layer: conv(2, 3, {padding: 'same', activation: 'relu'})}), steps);
      const rows = apply(L.reshape({targetShape: [2, 4 * 8 * 2]}), c);
      return apply(L.timeDistributed({layer: L.dense({units: 5, activation: 'relu'})}), rows);
    },
  },
  {
    name: 'Dot of two vectors (normalize) and of row matrices over axes (2, 2) and (1, 1)',
    shape: [4, 4, 3],
    build: x => {
      const flat = apply(L.flatten({}), x);
      const cosine = apply(L.dot({axes: -1, normalize: true}), [
        apply(L.dense({units: 4}), flat),
        apply(L.dense({units: 4}), flat),
      ]);
      const rows = apply(L.reshape({targetShape: [4, 12]}), x);
      const p = apply(L.dense({units: 5}), rows);
      const q = apply(L.dense({units: 5}), rows);
      const rowsByRows = apply(L.flatten({}), apply(L.dot({axes: 2}), [p, q]));
      const colsByCols = apply(L.flatten({}), apply(L.dot({axes: 1}), [p, q]));
      return apply(L.concatenate({}), [cosine, rowsByRows, colsByCols]);
    },
  },
  {
    name: 'Dot of a vector and a matrix and back (mixed ranks, normalize on one)',
    shape: [4, 4, 3],
    build: x => {
      const flat = apply(L.flatten({}), x);
      const v = apply(L.dense({units: 5}), flat);
      const w = apply(L.dense({units: 4}), flat);
      const m = apply(L.dense({units: 5}), apply(L.reshape({targetShape: [4, 12]}), x));
      const vByRows = apply(L.dot({axes: [1, 2]}), [v, m]); // [5]·[4, 5] → [4]
      const colsByW = apply(L.dot({axes: [1, 1], normalize: true}), [m, w]); // [4, 5]·[4] → [5]
      return apply(L.concatenate({}), [vByRows, colsByW]);
    },
  },
  {
    name: 'Rescaling per channel (Keras 3 lists of scales and offsets) → Conv2D',
    shape: [5, 5, 3],
    build: x => {
      const scaled = apply(L.rescaling({scale: [1, 2, -3] as never, offset: [0.5, 0, -1] as never}), x);
      return apply(L.conv2d({filters: 4, kernelSize: 3}), scaled);
    },
  },
  {
    name: 'CategoryEncoding of pixels rescaled to tokens 0-5: multi_hot, count and one_hot',
    shape: [4, 6],
    build: x => {
      const tokens = apply(L.flatten({}), apply(L.rescaling({scale: 5.99}), x));
      const top = apply(L.globalMaxPooling1d({}), apply(L.reshape({targetShape: [24, 1]}), tokens)); // [1]
      const encode = (outputMode: string, t: Sym) =>
        apply(L.categoryEncoding({numTokens: 6, outputMode: outputMode as never}), t);
      return apply(L.concatenate({}), [encode('multiHot', tokens), encode('count', tokens), encode('oneHot', top)]);
    },
  },
  {
    name: 'Masking (steps under 0.5 become 0 and are masked) → LSTM sequences → Dense → GRU: skipped steps keep the state',
    shape: [8, 1],
    build: x => {
      const masked = apply(L.masking({maskValue: 0}), apply(L.thresholdedReLU({theta: 0.5}), x));
      const seq = apply(L.lstm({units: 4, returnSequences: true}), masked);
      const dense = apply(L.dense({units: 3, activation: 'tanh'}), seq);
      return apply(L.concatenate({}), [apply(L.flatten({}), seq), apply(L.gru({units: 3}), dense)]);
    },
  },
  {
    name: 'Masking → SimpleRNN going backwards (sequences) → LSTM without bias, masked',
    shape: [7, 1],
    build: x => {
      const masked = apply(L.masking({maskValue: 0}), apply(L.thresholdedReLU({theta: 0.4}), x));
      const back = apply(L.simpleRNN({units: 3, returnSequences: true, goBackwards: true}), masked);
      return apply(L.concatenate({}), [apply(L.flatten({}), back), apply(L.lstm({units: 2, useBias: false}), back)]);
    },
  },
  {
    name: 'Embedding with mask_zero (tokens 0-3, 0 masked) → GRU',
    shape: [8, 1],
    build: x => {
      const tokens = apply(
        L.rescaling({scale: 3.99}),
        apply(L.thresholdedReLU({theta: 0.5}), apply(L.reshape({targetShape: [8]}), x))
      );
      return apply(L.gru({units: 3}), apply(L.embedding({inputDim: 4, outputDim: 3, maskZero: true}), tokens));
    },
  },
  {
    name: 'Embedding with mask_zero → Bidirectional LSTM (concat) and Masking → Bidirectional GRU (sum)',
    shape: [8, 1],
    build: x => {
      const zeroed = apply(L.thresholdedReLU({theta: 0.5}), x);
      const tokens = apply(L.rescaling({scale: 3.99}), apply(L.reshape({targetShape: [8]}), zeroed));
      const embedded = apply(L.embedding({inputDim: 4, outputDim: 3, maskZero: true}), tokens);
      const a = apply(L.bidirectional({layer: L.lstm({units: 3}) as never}), embedded);
      const gru = L.gru({units: 2, resetAfter: false} as never);
      const c = apply(L.bidirectional({layer: gru as never, mergeMode: 'sum'}), apply(L.masking({}), zeroed));
      return apply(L.concatenate({}), [a, c]);
    },
  },
  {
    name: 'Bidirectional GRU over a mask, returning sequences (Keras zeroes masked steps, tfjs-layers does not) → LSTM reading the mask passed on',
    shape: [6, 1],
    build: x => {
      const masked = apply(L.masking({maskValue: 0}), apply(L.thresholdedReLU({theta: 0.5}), x));
      const seq = apply(L.bidirectional({layer: L.gru({units: 3, returnSequences: true}) as never}), masked);
      return apply(L.lstm({units: 2}), seq);
    },
    // Keras: each direction with zero_output_for_mask, the backward sequence reversed back; the
    // LSTM after it skips the same steps (all-zero rows there, so a Masking layer finds them).
    expected: (m, data) => {
      const bi = m.layers.find(l => l.getClassName() === 'Bidirectional')!;
      const after = m.layers.find(l => l.getClassName() === 'LSTM')!;
      const head = m.layers.find(l => l.getClassName() === 'Dense')!;
      const weights = bi.getWeights();
      const x = tf.tensor(data, [1, 6, 1]);
      const kept = tf.cast(tf.greater(x, 0.5), 'float32'); // [1, 6, 1]: the steps the mask keeps
      const direction = (back: boolean) => {
        const input = tf.input({shape: [6, 1]});
        const gru = L.gru({units: 3, returnSequences: true, goBackwards: back});
        const one = tf.model({inputs: input, outputs: apply(gru, apply(L.masking({maskValue: 0}), input))});
        gru.setWeights(back ? weights.slice(weights.length / 2) : weights.slice(0, weights.length / 2));
        const y = one.predict(tf.mul(x, kept)) as tf.Tensor; // steps in the order computed
        return back ? tf.mul(tf.reverse(y, 1), kept) : tf.mul(y, kept);
      };
      const seq = tf.concat([direction(false), direction(true)], 2);
      const input = tf.input({shape: [6, 6]});
      const lstm = L.lstm({units: 2});
      const last = tf.model({inputs: input, outputs: apply(lstm, apply(L.masking({maskValue: 0}), input))});
      lstm.setWeights(after.getWeights());
      return (head.apply(last.predict(seq) as tf.Tensor) as tf.Tensor).dataSync() as Float32Array;
    },
  },
  {
    name: 'Embedding with mask_zero → GlobalAveragePooling1D: the mean of the unmasked steps (Keras; tfjs-layers averages all)',
    shape: [8, 1],
    build: x => {
      const zeroed = apply(L.thresholdedReLU({theta: 0.5}), apply(L.reshape({targetShape: [8]}), x));
      const tokens = apply(L.rescaling({scale: 3.99}), zeroed);
      const embedded = apply(L.embedding({inputDim: 4, outputDim: 5, maskZero: true, name: 'embedded'}), tokens);
      return apply(L.globalAveragePooling1d({}), embedded);
    },
    expected: (m, data) => {
      const head = m.layers.find(l => l.getClassName() === 'Dense')!;
      const embedded = tf.model({inputs: m.inputs, outputs: m.getLayer('embedded').output as Sym});
      const e = embedded.predict(tf.tensor(data, [1, 8, 1])) as tf.Tensor; // [1, 8, 5]
      const kept = tf.cast(tf.greater(tf.tensor(data, [1, 8, 1]), 0.5), 'float32');
      const mean = tf.div(tf.sum(tf.mul(e, kept), 1), tf.sum(kept, 1)); // [1, 5]
      return (head.apply(mean) as tf.Tensor).dataSync() as Float32Array;
    },
  },
  {
    name: 'Concatenate of masked values carries the AND of their masks into an LSTM',
    shape: [8, 1],
    build: x => {
      const zeroed = apply(L.thresholdedReLU({theta: 0.5}), apply(L.reshape({targetShape: [8]}), x));
      const e = apply(
        L.embedding({inputDim: 4, outputDim: 3, maskZero: true}),
        apply(L.rescaling({scale: 3.99}), zeroed)
      );
      return apply(L.lstm({units: 2}), apply(L.concatenate({}), [e, apply(L.dense({units: 2}), e)]));
    },
  },
  {
    name: 'Concatenate along the steps of masked values and an unmasked one concatenates their masks (all kept for the unmasked), into an LSTM returning its sequence',
    shape: [6, 1],
    build: x => {
      const masked = apply(L.masking({maskValue: 0}), apply(L.thresholdedReLU({theta: 0.5}), x));
      const plain = apply(L.thresholdedReLU({theta: 0.3}), x); // zeros too, but no mask
      const steps = apply(L.concatenate({axis: 1}), [masked, apply(L.dense({units: 1}), masked), plain]);
      return apply(L.flatten({}), apply(L.lstm({units: 3, returnSequences: true}), steps));
    },
  },
  {
    name: 'Add of a masked value and an unmasked one keeps the mask, into a GRU (tfjs-layers cannot run this)',
    shape: [8, 1],
    build: x => {
      const zeroed = apply(L.thresholdedReLU({theta: 0.5}), x);
      const masked = apply(L.masking({maskValue: 0}), zeroed);
      const plain = apply(L.dense({units: 1, name: 'plain'}), zeroed); // no mask
      return apply(L.gru({units: 3}), apply(L.add({name: 'added'}), [masked, plain]));
    },
    // Keras: the merge's mask is the AND of its inputs' masks, here the Masking layer's; tfjs-layers
    // fails on it, so the GRU is run on the merged value with that mask given explicitly.
    expected: (m, data) => {
      const head = m.layers.find(l => l.getClassName() === 'Dense' && l.name !== 'plain')!;
      const gru = m.layers.find(l => l.getClassName() === 'GRU')!;
      const x = tf.tensor(data, [1, 8, 1]);
      const added = tf.model({inputs: m.inputs, outputs: m.getLayer('added').output as Sym}).predict(x) as tf.Tensor;
      const mask = tf.greater(x, 0.5).reshape([1, 8]);
      const again = L.gru({units: 3});
      again.apply(added); // builds it
      again.setWeights(gru.getWeights());
      return (head.apply(again.apply(added, {mask}) as tf.Tensor) as tf.Tensor).dataSync() as Float32Array;
    },
  },
  {
    name: 'Masking → TimeDistributed(Dense) → LSTM: TimeDistributed passes the mask on, and the LSTM skips the masked steps',
    shape: [8, 1],
    build: x => {
      const masked = apply(L.masking({maskValue: 0}), apply(L.thresholdedReLU({theta: 0.5}), x));
      const each = apply(L.timeDistributed({layer: L.dense({units: 3})}), masked);
      return apply(L.lstm({units: 2}), each);
    },
  },
  {
    name: 'Masking → Dense → GlobalMaxPooling1D and Dot: their values take every step (the masked ones too), as Keras computes them, and the mask stops there',
    shape: [6, 2],
    build: x => {
      const masked = apply(L.masking({maskValue: 0}), apply(L.thresholdedReLU({theta: 0.5}), x));
      // Dense passes the mask on; at a masked step its value is its bias, not 0.
      const d = apply(L.dense({units: 3, biasInitializer: 'glorotNormal'}), masked);
      const e = apply(L.dense({units: 3, biasInitializer: 'glorotNormal'}), masked);
      // Not Dot([d, d]): tfjs-layers' executor frees a tensor that one layer reads twice before its
      // other readers run (GlobalMaxPooling1D then fails on tfjs-wasm).
      const products = apply(L.flatten({}), apply(L.dot({axes: 2}), [d, e]));
      return apply(L.concatenate({}), [apply(L.globalMaxPooling1d({}), d), products]);
    },
  },
  {
    name: "RNN over stacked GRU and LSTM cells over a mask: a masked step keeps every cell's state and the last output",
    shape: [7, 1],
    build: x => {
      const masked = apply(L.masking({maskValue: 0}), apply(L.thresholdedReLU({theta: 0.5}), x));
      const cells = [L.gruCell({units: 3}), L.lstmCell({units: 2})];
      return apply(L.rnn({cell: cells, returnSequences: true}), masked);
    },
  },
  {
    name: 'RNN over stacked SimpleRNN and GRU cells going backwards over a mask (the second cell reads the steps, and the mask, last first) → LSTM reading the mask passed on',
    shape: [7, 1],
    build: x => {
      const masked = apply(L.masking({maskValue: 0}), apply(L.thresholdedReLU({theta: 0.5}), x));
      const cells = [L.simpleRNNCell({units: 3}), L.gruCell({units: 2})];
      const seq = apply(L.rnn({cell: cells, returnSequences: true, goBackwards: true}), masked);
      const last = apply(
        L.rnn({cell: [L.lstmCell({units: 2}), L.simpleRNNCell({units: 2})], goBackwards: true}),
        masked
      );
      return apply(L.concatenate({}), [apply(L.flatten({}), seq), apply(L.lstm({units: 2}), seq), last]);
    },
  },
  {
    name: 'Embedding of pixels rescaled to indices 0-7 (cast toward zero)',
    shape: [4, 6],
    build: x => {
      const indices = apply(L.rescaling({scale: 7.99}), x);
      return apply(L.embedding({inputDim: 8, outputDim: 3}), indices);
    },
  },
  {
    name: 'MaxPooling2D same and AveragePooling2D same (padding excluded)',
    shape: [7, 7, 3],
    build: x =>
      apply(
        L.averagePooling2d({poolSize: 3, strides: 2, padding: 'same'}),
        apply(L.maxPooling2d({poolSize: 2, strides: 1, padding: 'same'}), x)
      ),
  },
  {
    name: 'MaxPooling1D and AveragePooling1D',
    shape: [12, 12],
    build: x => apply(L.averagePooling1d({poolSize: 2}), apply(L.maxPooling1d({poolSize: 2, strides: 1}), x)),
  },
  {name: 'GlobalMaxPooling2D', shape: [6, 6, 3], build: x => apply(L.globalMaxPooling2d({}), apply(conv(4, 1), x))},
  {name: 'GlobalAveragePooling1D', shape: [12, 12], build: x => apply(L.globalAveragePooling1d({}), x)},
  {
    name: 'ZeroPadding2D asymmetric, Cropping2D, UpSampling2D',
    shape: [6, 6, 3],
    build: x =>
      apply(
        L.upSampling2d({size: [2, 3]}),
        apply(
          L.cropping2D({
            cropping: [
              [1, 0],
              [0, 2],
            ],
          }),
          apply(
            L.zeroPadding2d({
              padding: [
                [1, 2],
                [0, 1],
              ],
            }),
            x
          )
        )
      ),
  },
  {
    name: 'BatchNormalization that cannot fold (after an Add)',
    shape: [6, 6, 3],
    build: x => {
      const a = apply(conv(3, 1, {activation: 'relu'}), x);
      return apply(L.batchNormalization({}), apply(L.add(), [a, x]));
    },
  },
  {
    name: 'Dense on a 4-D tensor (MatMul on the last axis) with a folded BatchNormalization',
    shape: [4, 4, 3],
    build: x => apply(L.dense({units: 6}), x),
  },
  {
    name: 'activations: elu selu softplus softsign swish mish gelu hardSigmoid tanh sigmoid linear',
    shape: [4, 4, 3],
    build: x => {
      let y = x;
      for (const activation of [
        'elu',
        'selu',
        'softplus',
        'softsign',
        'swish',
        'mish',
        'gelu',
        'hardSigmoid',
        'tanh',
        'sigmoid',
        'linear',
      ]) {
        y = apply(conv(3, 1, {activation}), y);
      }
      return y;
    },
  },
  {
    name: 'LeakyReLU, PReLU, ELU, ThresholdedReLU, Softmax layers',
    shape: [4, 4, 3],
    build: x =>
      apply(
        L.softmax({axis: -1}),
        apply(
          L.thresholdedReLU({theta: 0.1}),
          apply(L.elu({}), apply(L.prelu({}), apply(L.leakyReLU({alpha: 0.2}), apply(conv(3, 1), x))))
        )
      ),
  },
  {
    name: 'PReLU shared over rows and columns (one slope a channel)',
    shape: [4, 4, 3],
    build: x => apply(L.prelu({sharedAxes: [1, 2]}), apply(conv(3, 1), x)),
  },
  {
    name: 'Rescaling and LayerNormalization',
    shape: [4, 4, 3],
    build: x => apply(L.layerNormalization({axis: -1}), apply(L.rescaling({scale: 1 / 127.5, offset: -1}), x)),
  },
  {
    name: 'LayerNormalization over several axes: trailing (H, W, C), not trailing (the steps), not contiguous (H and C)',
    shape: [4, 5, 3],
    build: x => {
      const whole = apply(L.layerNormalization({axis: [1, 2, 3], name: 'whole'}), x);
      const gapped = apply(L.layerNormalization({axis: [1, 3], name: 'gapped'}), x);
      const rows = apply(L.reshape({targetShape: [4, 15]}), x);
      const steps = apply(L.layerNormalization({axis: 1, name: 'steps'}), rows);
      return apply(
        L.concatenate({}),
        [whole, gapped].map(v => apply(L.flatten({}), v)).concat(apply(L.flatten({}), steps))
      );
    },
  },
  ...(['Max', 'Average'] as const).flatMap(pool =>
    (['valid', 'same'] as const).map((padding): Case => ({
      name: `ZeroPadding2D → ${pool}Pooling2D ${padding} over negative values, as in Keras (ORT would fold the zero Pad into the pooling${pool === 'Max' ? ', as -inf' : ''})`,
      shape: [5, 6, 1],
      build: x => {
        const negative = apply(L.rescaling({scale: -1, offset: -0.5}), x);
        // Fused, these pads stay under a 2-wide window (MaxPool answered differently) or reach it (refused).
        const edges: [[number, number], [number, number]] = [
          [1, 0],
          [0, padding === 'valid' && pool === 'Max' ? 1 : 2],
        ];
        const padded = apply(L.zeroPadding2d({padding: edges}), negative);
        const args = {poolSize: 2, strides: 2, padding};
        return apply(pool === 'Max' ? L.maxPooling2d(args) : L.averagePooling2d(args), padded);
      },
    }))
  ),
  {
    name: 'DepthwiseConv2D with dilation 2, kernel 3 and kernel 2 × 2 channels (tfjs-layers ignores the dilation: the reference is tfjs-core’s dilated op)',
    shape: [8, 9, 3],
    build: x => {
      // 'same' only: tfjs-layers sizes a valid one's output without the dilation, so a head built
      // here on it would not fit the real output.
      const k3 = apply(L.depthwiseConv2d({kernelSize: 3, dilationRate: 2, padding: 'same', name: 'k3'}), x);
      const k2 = apply(
        L.depthwiseConv2d({kernelSize: 2, dilationRate: 2, depthMultiplier: 2, padding: 'same', name: 'k2'}),
        x
      );
      return apply(L.concatenate({}), [apply(L.flatten({}), k3), apply(L.flatten({}), k2)]);
    },
    expected: (m, data) =>
      tf.tidy(() => {
        const x = tf.tensor4d(data, [1, 8, 9, 3]);
        const dilated = (name: string) => {
          const [kernel, bias] = m.getLayer(name).getWeights() as [tf.Tensor4D, tf.Tensor1D];
          return tf.add(tf.depthwiseConv2d(x, kernel, 1, 'same', 'NHWC', 2), bias).flatten();
        };
        const features = tf.concat([dilated('k3'), dilated('k2')]).reshape([1, -1]);
        const head = m.layers.at(-1)!;
        return (head.apply(features) as tf.Tensor).dataSync() as Float32Array;
      }),
  },
  {
    name: 'Reshape, Permute, RepeatVector',
    shape: [4, 4, 3],
    build: x => {
      const r = apply(L.reshape({targetShape: [16, 3]}), x);
      const p = apply(L.permute({dims: [2, 1]}), r);
      return apply(L.repeatVector({n: 2}), apply(L.flatten({}), p));
    },
  },
  {
    name: 'merges: Multiply Average Maximum Minimum Concatenate (squeeze-and-excite shapes)',
    shape: [5, 5, 3],
    build: x => {
      const a = apply(conv(4, 1), x);
      const b = apply(conv(4, 3, {padding: 'same'}), x);
      const se = apply(
        L.reshape({targetShape: [1, 1, 4]}),
        apply(L.dense({units: 4, activation: 'sigmoid'}), apply(L.globalAveragePooling2d({}), a))
      );
      const m = apply(L.multiply(), [b, se]);
      const merged = [m, apply(L.average(), [a, b]), apply(L.maximum(), [a, b]), apply(L.minimum(), [a, b])];
      return apply(L.concatenate({axis: -1}), merged);
    },
  },
  {
    // Keras lines a lower-rank input up after the batch axis: [N, C] meets [N, H, W, C] as
    // [N, 1, 1, C]. Not how ONNX broadcasts (it aligns the batch axis with W).
    name: 'Add, Multiply, Maximum, Average of an image and a vector of its channels (inputs of different ranks)',
    shape: [2, 5, 3],
    build: x => {
      const v = apply(L.dense({units: 3}), apply(L.globalAveragePooling2d({}), x));
      const merged = [L.add(), L.multiply(), L.maximum(), L.average()].map(m => apply(m, [x, v]));
      return apply(L.concatenate({axis: -1}), merged);
    },
  },
];

/** The model: the case's layers, then Flatten → Dense softmax so that it is a classifier. */
function model(c: Case, seed: number): tf.LayersModel {
  const input = tf.input({shape: c.shape});
  const body = c.build(input);
  const flat = body.shape.length > 2 ? apply(L.flatten({}), body) : body;
  const out = apply(L.dense({units: 7, activation: 'softmax'}), flat);
  const m = tf.model({inputs: input, outputs: out});
  randomise(m, seed);
  return m;
}

/** An image batch in HWC order, and the same pixels in the model's own input shape. */
function pixels(shape: number[], seed: number): Float32Array {
  const next = random(seed);
  return Float32Array.from({length: shape.reduce((a, d) => a * d, 1)}, () => next());
}

/** The image the classifier sees (HWC): a channels-first input is transposed back. */
function asHwc(data: Float32Array, shape: number[]): Float32Array {
  if (shape.length !== 3 || shape[0] !== 3) return data;
  const [c, h, w] = shape as [number, number, number];
  const out = new Float32Array(data.length);
  for (let ci = 0; ci < c; ci++)
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[(y * w + x) * c + ci] = data[(ci * h + y) * w + x]!;
  return out;
}

describe('ONNX translation, layer by layer, against tfjs-layers', () => {
  before(backend);
  CASES.forEach((c, i) => {
    it(c.name, async () => {
      const original = model(c, 1000 + i);
      const bytes = await writeKerasH5(original);
      const loaded = await loadClassifier(bytes, {engine: 'onnx'});
      try {
        assert.equal(loaded.engine, 'onnx');
        for (const seed of [1, 2]) {
          const data = pixels(c.shape, seed * 7 + i);
          const own = tf.getBackend();
          if (c.reference) await tf.setBackend(c.reference);
          const want = c.expected
            ? c.expected(original, data)
            : tf.tidy(() => (original.predict(tf.tensor(data, [1, ...c.shape])) as tf.Tensor).dataSync());
          if (c.reference) await tf.setBackend(own);
          // In a batch with another image (the bench runs batches of 8; the Classifier port takes any):
          // each image is answered as it is alone (a translation can mix up the batch axis).
          const other = asHwc(pixels(c.shape, seed * 13 + i + 5), c.shape);
          const [got, withOther] = await loaded.classifyPixels([asHwc(data, c.shape), other], 7);
          const [otherAlone] = await loaded.classifyPixels([other], 7);
          const alone = new Map(otherAlone!.top_k.map(t => [t.index, t.score]));
          for (const t of withOther!.top_k) {
            assert.ok(
              Math.abs(t.score - alone.get(t.index)!) < 1e-5,
              `batch of 2, class ${t.index}: ${t.score} vs alone`
            );
          }
          for (const t of got!.top_k) {
            assert.ok(
              Math.abs(t.score - want[t.index]!) < 1e-5,
              `class ${t.index}: onnx ${t.score} vs tfjs ${want[t.index]}`
            );
          }
        }
      } finally {
        loaded.dispose();
        original.dispose();
      }
    });
  });
});

describe('inputs of different ranks merged, in a batch', () => {
  before(backend);
  it('each image of a batch is answered as it is alone, on both engines', async () => {
    const input = tf.input({shape: [2, 3, 3]});
    const v = apply(L.dense({units: 3}), apply(L.globalAveragePooling2d({}), input));
    const out = apply(L.dense({units: 5, activation: 'softmax'}), apply(L.flatten({}), apply(L.add(), [input, v])));
    const original = tf.model({inputs: input, outputs: out});
    randomise(original, 77);
    const bytes = await writeKerasH5(original);
    const images = [pixels([2, 3, 3], 1), pixels([2, 3, 3], 2), pixels([2, 3, 3], 3)];
    for (const engine of ['onnx', 'tfjs'] as const) {
      const loaded = await loadClassifier(bytes, {engine});
      try {
        const together = await loaded.classifyPixels(images, 5);
        for (const [i, image] of images.entries()) {
          const [alone] = await loaded.classifyPixels([image], 5);
          const want = tf.tidy(() => (original.predict(tf.tensor(image, [1, 2, 3, 3])) as tf.Tensor).dataSync());
          for (const t of together[i]!.top_k) {
            assert.ok(Math.abs(t.score - want[t.index]!) < 1e-5, `${engine}, image ${i}, class ${t.index}`);
          }
          const scoreOf = new Map(alone!.top_k.map(t => [t.index, t.score]));
          for (const t of together[i]!.top_k) assert.ok(Math.abs(t.score - scoreOf.get(t.index)!) < 1e-6);
        }
      } finally {
        loaded.dispose();
      }
    }
    original.dispose();
  });
});

describe('a layer without an ONNX translation', () => {
  before(backend);
  // A softmax over the rows and columns together (an attention map): ONNX's Softmax takes one axis.
  const spatialSoftmax = async (): Promise<Uint8Array> => {
    const input = tf.input({shape: [4, 4, 3]});
    const map = apply(L.softmax({axis: [1, 2] as never, name: 'spatial'}), input);
    const out = apply(L.dense({units: 3, activation: 'softmax'}), apply(L.flatten({}), map));
    return writeKerasH5(tf.model({inputs: input, outputs: out}));
  };

  it('auto: the model is served by tfjs, with one log line naming the layer', async () => {
    const logger = memoryLogger();
    const m = await loadClassifier(await spatialSoftmax(), {engine: 'auto', logger});
    assert.equal(m.engine, 'tfjs');
    const lines = logger.entries.filter(e => e.message.includes('served by tfjs'));
    assert.equal(lines.length, 1);
    assert.match(lines[0]!.message, /Softmax 'spatial' over axes 1, 2/);
    const [r] = await m.classifyPixels([new Float32Array(48).fill(0.3)], 3);
    assert.ok(Number.isFinite(r!.score));
    m.dispose();
  });

  it('INFERENCE_ENGINE=onnx: refused, naming the layer', async () => {
    await assert.rejects(loadClassifier(await spatialSoftmax(), {engine: 'onnx'}), (e: unknown) => {
      assert.ok(e instanceof UnsupportedLayerError);
      assert.match((e as Error).message, /Softmax 'spatial' over axes 1, 2/);
      return true;
    });
  });

  it('exportOnnx (npm run classify -- --save-onnx): none to write, naming the layer', async () => {
    await assert.rejects(exportOnnx(await spatialSoftmax()), (e: unknown) => {
      assert.ok(e instanceof NoOnnxTranslation);
      assert.match((e as Error).message, /Softmax 'spatial' over axes 1, 2/);
      return true;
    });
  });
});

describe('a dilated DepthwiseConv2D, whose dilation tfjs-layers ignores', () => {
  before(backend);

  it('auto: ONNX Runtime serves it; INFERENCE_ENGINE=tfjs: refused, naming the layer, not answered wrongly', async () => {
    const input = tf.input({shape: [8, 8, 3]});
    const dw = apply(L.depthwiseConv2d({kernelSize: 3, dilationRate: 2, padding: 'same', name: 'atrous'}), input);
    const out = apply(L.dense({units: 3, activation: 'softmax'}), apply(L.globalAveragePooling2d({}), dw));
    const bytes = await writeKerasH5(tf.model({inputs: input, outputs: out}));
    const auto = await loadClassifier(bytes, {engine: 'auto'});
    assert.equal(auto.engine, 'onnx');
    auto.dispose();
    await assert.rejects(loadClassifier(bytes, {engine: 'tfjs'}), (e: unknown) => {
      assert.ok(e instanceof UnsupportedLayerError, String(e));
      assert.match((e as Error).message, /DepthwiseConv2D 'atrous' with dilation_rate 2x2: tfjs-layers ignores it/);
      return true;
    });
  });
});

/**
 * A channels-first model and its channels-last twin with the same weights: the twin is the
 * reference (tfjs-layers runs it right), the channels-first one what tfjs-layers gets wrong.
 */
interface Twin {
  readonly name: string;
  /** Channels-last input shape; the channels-first one is its transpose. */
  readonly shape: number[];
  /** The model, channels-first or channels-last: the same layers and weight shapes. */
  build(channelsFirst: boolean): tf.LayersModel;
  /** What the channels-first file says that tfjs-layers leaves out of its config. */
  readonly edit?: (layer: WrittenLayer) => void;
  readonly refusal: RegExp;
}

/** A 1D pooling over a square input's columns (channels-first) or rows; tfjs-layers takes no data_format for it. */
const pooling1d = (layer: (name: string) => tf.layers.Layer, name: string) => (channelsFirst: boolean) => {
  const input = tf.input({shape: [6, 6]});
  const x = channelsFirst ? input : apply(L.permute({dims: [2, 1]}), input);
  let y = apply(layer(name), x);
  if (!channelsFirst && y.shape.length === 3) y = apply(L.permute({dims: [2, 1]}), y);
  if (y.shape.length === 3) y = apply(L.flatten({}), y);
  return tf.model({inputs: input, outputs: apply(L.dense({units: 4, activation: 'softmax'}), y)});
};
const channelsFirstPooling = (layer: WrittenLayer) => {
  if (layer.class_name.endsWith('Pooling1D')) layer.config['data_format'] = 'channels_first';
};

const TWINS: Twin[] = [
  {
    name: 'SeparableConv2D with a bias (tfjs-layers adds it along the wrong axis)',
    shape: [6, 6, 3],
    build: channelsFirst => {
      // [3, 3, 3] after the pooling: tfjs' wrong bias shape broadcasts there, so it would answer, wrongly.
      const format = channelsFirst ? {dataFormat: 'channelsFirst' as const} : {};
      const input = tf.input({shape: channelsFirst ? [3, 6, 6] : [6, 6, 3]});
      const pooled = apply(L.maxPooling2d({...format, poolSize: 2}), input);
      const sep = apply(
        L.separableConv2d({...format, filters: 3, kernelSize: 3, depthMultiplier: 2, padding: 'same', name: 'sep'}),
        pooled
      );
      const out = apply(L.dense({units: 4, activation: 'softmax'}), apply(L.globalAveragePooling2d(format), sep));
      return tf.model({inputs: input, outputs: out});
    },
    refusal: /SeparableConv2D 'sep' channels_first with a bias: tfjs-layers adds the bias along the wrong axis/,
  },
  {
    name: 'Conv1D (tfjs-layers returns its result channels-last)',
    shape: [6, 8, 1],
    build: channelsFirst => {
      // Rows as channels and columns as steps; the twin transposes around a channels-last Conv1D.
      const input = tf.input({shape: [6, 8]});
      const x = channelsFirst ? input : apply(L.permute({dims: [2, 1]}), input);
      const format = channelsFirst ? {dataFormat: 'channelsFirst' as const} : {};
      let y = apply(L.conv1d({...format, filters: 3, kernelSize: 3, name: 'steps'}), x);
      if (!channelsFirst) y = apply(L.permute({dims: [2, 1]}), y);
      return tf.model({
        inputs: input,
        outputs: apply(L.dense({units: 4, activation: 'softmax'}), apply(L.flatten({}), y)),
      });
    },
    refusal: /Conv1D 'steps' channels_first: tfjs-layers returns its result channels-last/,
  },
  {
    name: 'MaxPooling1D (tfjs-layers takes no data_format and pools the channels)',
    shape: [6, 6, 1],
    build: pooling1d(name => L.maxPooling1d({poolSize: 2, name}), 'pool'),
    edit: channelsFirstPooling,
    refusal: /MaxPooling1D 'pool' channels_first: tfjs-layers pools the channels instead/,
  },
  {
    name: 'GlobalAveragePooling1D (the same)',
    shape: [6, 6, 1],
    build: pooling1d(name => L.globalAveragePooling1d({name}), 'mean'),
    edit: channelsFirstPooling,
    refusal: /GlobalAveragePooling1D 'mean' channels_first: tfjs-layers pools the channels instead/,
  },
];

describe('channels-first layers tfjs-layers computes wrongly', () => {
  before(backend);

  for (const t of TWINS) {
    it(`${t.name}: ONNX Runtime answers as the channels-last twin; INFERENCE_ENGINE=tfjs refuses it, naming the layer`, async () => {
      const [first, last] = [t.build(true), t.build(false)];
      randomise(last, 5);
      first.setWeights(last.getWeights());
      const [cfBytes, clBytes] = [await writeKerasH5(first, t.edit), await writeKerasH5(last)];
      const data = pixels(t.shape, 9);
      const want = tf.tidy(() =>
        (last.predict(tf.tensor(data, [1, ...last.inputs[0]!.shape.slice(1)] as number[])) as tf.Tensor).dataSync()
      );
      first.dispose();
      last.dispose();
      const onnx = await loadClassifier(cfBytes, {engine: 'onnx'});
      const [got] = await onnx.classifyPixels([data], 4);
      onnx.dispose();
      for (const r of got!.top_k) assert.ok(Math.abs(r.score - want[r.index]!) < 1e-5, `class ${r.index}`);
      (await loadClassifier(clBytes, {engine: 'tfjs'})).dispose(); // the twin: tfjs serves it
      await assert.rejects(loadClassifier(cfBytes, {engine: 'tfjs'}), (e: unknown) => {
        assert.ok(e instanceof UnsupportedLayerError, String(e));
        assert.match((e as Error).message, t.refusal);
        return true;
      });
    });
  }
});

describe('3D layers tfjs-backend-wasm computes wrongly', () => {
  before(backend);
  const volume = (layer: tf.layers.Layer) => () => {
    const input = tf.input({shape: [8, 6, 1]});
    const x = apply(layer, apply(L.reshape({targetShape: [2, 4, 3, 2]}), input));
    return tf.model({
      inputs: input,
      outputs: apply(L.dense({units: 4, activation: 'softmax'}), apply(L.flatten({}), x)),
    });
  };
  const cases: Array<[string, () => tf.LayersModel]> = [
    [
      'MaxPooling3D (window 2, stride 1, same)',
      volume(L.maxPooling3d({poolSize: 2, strides: 1, padding: 'same', name: 'pool3d'})),
    ],
    ['Conv3DTranspose (stride 2)', volume(L.conv3dTranspose({filters: 2, kernelSize: 2, strides: 2, name: 'up3d'}))],
  ];
  for (const [name, build] of cases) {
    it(`${name}: ONNX Runtime answers as tfjs' cpu backend; the tfjs engine refuses it on wasm, naming the layer`, async () => {
      const model = build();
      randomise(model, 3);
      const bytes = await writeKerasH5(model);
      const data = pixels([8, 6, 1], 4);
      const own = tf.getBackend();
      await tf.setBackend('cpu');
      const want = tf.tidy(() => (model.predict(tf.tensor(data, [1, 8, 6, 1])) as tf.Tensor).dataSync());
      await tf.setBackend(own);
      model.dispose();
      const onnx = await loadClassifier(bytes, {engine: 'onnx'});
      const [got] = await onnx.classifyPixels([data], 4);
      onnx.dispose();
      for (const r of got!.top_k) assert.ok(Math.abs(r.score - want[r.index]!) < 1e-5, `class ${r.index}`);
      if (own !== 'wasm') return;
      await assert.rejects(loadClassifier(bytes, {engine: 'tfjs'}), (e: unknown) => {
        assert.ok(e instanceof UnsupportedLayerError, String(e));
        assert.match((e as Error).message, /'(pool3d|up3d)': tfjs-backend-wasm computes it wrongly/);
        return true;
      });
    });
  }
});

describe('a model neither engine runs', () => {
  before(backend);

  it('a Masking over frames into ConvLSTM2D: refused for good, with why each engine could not take it', async () => {
    const input = tf.input({shape: [4, 4, 3]});
    const frames = apply(L.reshape({targetShape: [3, 4, 4, 1]}), apply(L.permute({dims: [3, 1, 2]}), input));
    const seq = apply(
      L.convLstm2d({filters: 2, kernelSize: 3, name: 'seq'}),
      apply(L.masking({maskValue: 0, name: 'blank'}), frames)
    );
    const out = apply(L.dense({units: 3, activation: 'softmax'}), apply(L.flatten({}), seq));
    const bytes = await writeKerasH5(tf.model({inputs: input, outputs: out}));
    await assert.rejects(loadClassifier(bytes, {engine: 'auto'}), (e: unknown) => {
      assert.ok(e instanceof UnsupportedLayerError, String(e));
      assert.match(
        (e as Error).message,
        /^tfjs \(\w+\) cannot run this model: .+ \(and no ONNX translation: Masking 'blank' on a rank-5 input\)$/
      );
      return true;
    });
  });
});

describe('a layer whose output is empty, which Keras cannot build (tfjs-layers builds it)', () => {
  before(backend);
  const cases: Array<[string, (x: Sym) => Sym, RegExp]> = [
    [
      'a valid Conv1D window of 3 over 2 steps',
      x => apply(L.conv1d({filters: 2, kernelSize: 3, name: 'narrow'}), apply(L.reshape({targetShape: [2, 9]}), x)),
      /layer 'narrow' (\(Conv1D\) )?would output an empty tensor/,
    ],
    [
      'a Cropping2D of every row',
      x =>
        apply(
          L.conv2d({filters: 2, kernelSize: 1}),
          apply(
            L.cropping2D({
              cropping: [
                [1, 1],
                [0, 0],
              ],
              name: 'all_rows',
            }),
            x
          )
        ),
      /layer 'all_rows' \(Cropping2D\) would output an empty tensor \(shape \[0, 3, 3\] per image\)/,
    ],
  ];
  for (const [name, build, why] of cases) {
    for (const engine of ['auto', 'onnx', 'tfjs'] as const) {
      it(`${name}: refused as invalid_config, naming the layer (${engine})`, async () => {
        const input = tf.input({shape: [2, 3, 3]});
        const out = apply(L.dense({units: 3, activation: 'softmax'}), apply(L.flatten({}), build(input)));
        const bytes = await writeKerasH5(tf.model({inputs: input, outputs: out}));
        await assert.rejects(loadClassifier(bytes, {engine}), (e: unknown) => {
          assert.ok(e instanceof InvalidConfigError, String(e));
          assert.equal(e.kind, 'invalid_config');
          assert.match(e.message, why);
          return true;
        });
      });
    }
  }
});

describe('layers called twice (a shared Dense and a shared Reshape)', () => {
  before(backend);
  it('both engines serve the model, each call with its own input', async () => {
    const input = tf.input({shape: [4, 4, 3]});
    const x = apply(L.flatten({}), input);
    const dense = L.dense({units: 4, name: 'shared_dense'});
    const reshape = L.reshape({targetShape: [2, 24], name: 'shared_reshape'});
    const other = apply(L.dense({units: 48}), x);
    const calls = [apply(dense, x), apply(dense, other)];
    calls.push(...[x, other].map(t => apply(L.flatten({}), apply(reshape, t))));
    const out = apply(L.dense({units: 5, activation: 'softmax'}), apply(L.concatenate({}), calls));
    const original = tf.model({inputs: input, outputs: out});
    randomise(original, 5);
    const bytes = await writeKerasH5(original);
    const data = pixels([4, 4, 3], 9);
    const want = tf.tidy(() => (original.predict(tf.tensor(data, [1, 4, 4, 3])) as tf.Tensor).dataSync());
    for (const engine of ['onnx', 'tfjs'] as const) {
      const loaded = await loadClassifier(bytes, {engine});
      try {
        const [got] = await loaded.classifyPixels([data], 5);
        for (const t of got!.top_k) assert.ok(Math.abs(t.score - want[t.index]!) < 1e-5, `${engine}, class ${t.index}`);
      } finally {
        loaded.dispose();
      }
    }
    original.dispose();
  });
});

describe('a Keras 3 LeakyReLU, whose slope is written negative_slope', () => {
  before(backend);

  for (const engine of ['onnx', 'tfjs'] as const) {
    it(`${engine}: the slope is the file's, not tfjs' default 0.3`, async () => {
      const input = tf.input({shape: [4, 4, 1]});
      const leaky = apply(L.leakyReLU({alpha: 0.1, name: 'leaky'}), input);
      const original = tf.model({
        inputs: input,
        outputs: apply(L.dense({units: 4, activation: 'softmax'}), apply(L.flatten({}), leaky)),
      });
      randomise(original, 7);
      const bytes = await writeKerasH5(original, layer => {
        if (layer.class_name !== 'LeakyReLU') return;
        layer.config['negative_slope'] = layer.config['alpha'];
        delete layer.config['alpha'];
      });
      const loaded = await loadClassifier(bytes, {engine});
      try {
        assert.equal(loaded.engine, engine);
        // Negative pixels, so that the slope decides every value.
        const data = Float32Array.from({length: 16}, (_, i) => -0.2 - i / 10);
        const want = tf.tidy(() => (original.predict(tf.tensor(data, [1, 4, 4, 1])) as tf.Tensor).dataSync());
        const [got] = await loaded.classifyPixels([data], 4);
        for (const t of got!.top_k) assert.ok(Math.abs(t.score - want[t.index]!) < 1e-5, `class ${t.index}`);
      } finally {
        loaded.dispose();
        original.dispose();
      }
    });
  }
});

describe('windowPads: TensorFlow padding rules', () => {
  const cases: Array<[string, number[], number[], number[], number[], string, number[], number[]]> = [
    // name, input, kernel, strides, dilations, padding → out, pads [begin…, end…]
    ['same, stride 2, even input: the extra pad goes after', [224], [3], [2], [1], 'same', [112], [0, 1]],
    ['same, stride 2, odd input', [7], [3], [2], [1], 'same', [4], [1, 1]],
    ['same, stride 1', [10], [5], [1], [1], 'same', [10], [2, 2]],
    ['valid', [10], [3], [2], [1], 'valid', [4], [0, 0]],
    ['valid, dilation 2 (span 5)', [10], [3], [1], [2], 'valid', [6], [0, 0]],
    ['causal: all before', [12], [3], [1], [1], 'causal', [12], [2, 0]],
    ['causal, dilation 2', [12], [3], [1], [2], 'causal', [12], [4, 0]],
    ['2-D same', [9, 8], [3, 3], [2, 2], [1, 1], 'same', [5, 4], [1, 0, 1, 1]],
  ];
  for (const [name, input, kernel, strides, dilations, padding, out, pads] of cases) {
    it(name, () => assert.deepEqual(windowPads(input, kernel, strides, dilations, padding), {out, pads}));
  }
});
