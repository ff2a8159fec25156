/**
 * Every declared `scale` (the keras.applications `preprocess_input` modes) through the whole
 * classify path: a 2×2 PNG of known pixels, decoded and scaled by the classifier, then read
 * back through a model whose logits are 0.01 × each scaled value (a scaled identity Dense),
 * plus one logit fixed at 0. With softmax scores p, value_i = 100 · ln(p_i / p_zero): the
 * scaled pixels themselves, compared with the formulas written out here by hand.
 */
import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import sharp from 'sharp';
import {loadClassifier} from '../../../src/model/loader.js';
import {writeKerasModel} from '../../../../scripts/lib/keras_writer.js';
import {parseScale} from '../../../src/core/scale.js';

const RGB = [10, 20, 30, 40, 50, 60, 70, 80, 90, 200, 150, 100]; // 2×2 pixels, row by row

/** The scaled value of channel c of a pixel with channels [r, g, b], by keras.applications' formulas. */
const FORMULAS: Record<string, (rgb: number[], c: number) => number> = {
  '0,1': (p, c) => p[c]! / 255,
  tf: (p, c) => p[c]! / 127.5 - 1,
  raw: (p, c) => p[c]!,
  // RGB → BGR, then minus the ImageNet means in BGR order.
  caffe: (p, c) => p[2 - c]! - [103.939, 116.779, 123.68][c]!,
  torch: (p, c) => (p[c]! / 255 - [0.485, 0.456, 0.406][c]!) / [0.229, 0.224, 0.225][c]!,
  'mean=120,110,100;std=60,50,40': (p, c) => (p[c]! - [120, 110, 100][c]!) / [60, 50, 40][c]!,
};

function readBack(): Promise<Uint8Array> {
  const n = 13; // 12 values + one logit fixed at 0
  const kernel = new Array<number>(12 * n).fill(0);
  for (let i = 0; i < 12; i++) kernel[i * n + i] = 0.01;
  return writeKerasModel(
    {
      config: {
        class_name: 'Sequential',
        config: {
          name: 'read_back',
          layers: [
            {class_name: 'InputLayer', config: {name: 'image', batch_shape: [null, 2, 2, 3]}},
            {class_name: 'Flatten', config: {name: 'flat'}},
            {class_name: 'Dense', config: {name: 'values', units: n, activation: 'linear', use_bias: true}},
          ],
        },
      },
      weights: {
        values: [
          {name: 'kernel', shape: [12, n], values: kernel},
          {name: 'bias', shape: [n], values: new Array(n).fill(0)},
        ],
      },
    },
    'h5'
  );
}

describe('preprocessing modes against hand-computed pixels (both engines)', () => {
  for (const [scale, formula] of Object.entries(FORMULAS)) {
    for (const engine of ['onnx', 'tfjs'] as const) {
      it(`scale '${scale}' (${engine})`, async () => {
        const png = await sharp(Buffer.from(RGB), {raw: {width: 2, height: 2, channels: 3}})
          .png()
          .toBuffer();
        const model = await loadClassifier(await readBack(), {engine, scale: parseScale(scale)});
        try {
          const r = await model.classify(png, 13);
          const p = new Array<number>(13);
          for (const t of r.top_k) p[t.index] = t.score;
          const got = p.slice(0, 12).map(pi => 100 * Math.log(pi! / p[12]!));
          const want = RGB.map((_, i) => formula(RGB.slice(i - (i % 3), i - (i % 3) + 3), i % 3));
          got.forEach((g, i) => assert.ok(Math.abs(g - want[i]!) < 1e-3, `value ${i}: ${g} vs ${want[i]} (${scale})`));
        } finally {
          model.dispose();
        }
      });
    }
  }
});
