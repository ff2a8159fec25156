/**
 * Issue #15's fidelity bar: on every shared fixture model that loads, with both input
 * scalings, the ONNX engine's probabilities equal the tfjs engine's within 1e-4
 * (absolute), on real photos. Both engines read the same file through the same loader;
 * each is asked by name, and the test checks neither fell back to the other.
 */
import assert from 'node:assert/strict';
import {before, describe, it} from 'node:test';
import {loadClassifier} from '../../../../src/model/loader.js';
import {fixtureBytes, fixtureDir} from '../../../helpers/fixtures.js';
import {backend} from '../../../helpers/models.js';

const MODELS = [
  ...fixtureDir('models/keras2').map(f => `models/keras2/${f}`),
  ...fixtureDir('models/keras3').map(f => `models/keras3/${f}`),
];
const PHOTOS = ['tiger.jpeg', 'daisy.jpg', 'coffee_espresso.png', 'dogs_beagles.jpg'];

describe('ONNX and tfjs agree within 1e-4 on every shared model', () => {
  before(backend);
  for (const file of MODELS) {
    for (const scale of ['0,1', '-1,1'] as const) {
      it(`${file} with scale ${scale}`, async () => {
        const bytes = fixtureBytes(file);
        const onnx = await loadClassifier(bytes, {engine: 'onnx', scale});
        const tfjs = await loadClassifier(bytes, {engine: 'tfjs', scale});
        try {
          assert.deepEqual([onnx.engine, tfjs.engine], ['onnx', 'tfjs']);
          assert.equal(onnx.outputWidth, tfjs.outputWidth);
          for (const photo of PHOTOS) {
            const image = fixtureBytes(`images/${photo}`);
            const [a, b] = await Promise.all([
              onnx.classify(image, onnx.outputWidth),
              tfjs.classify(image, tfjs.outputWidth),
            ]);
            const byIndex = new Map(b.top_k.map(t => [t.index, t.score]));
            let worst = 0;
            for (const t of a.top_k) worst = Math.max(worst, Math.abs(t.score - byIndex.get(t.index)!));
            assert.ok(worst < 1e-4, `${photo}: max |Δp| = ${worst}`);
            assert.equal(a.index, b.index, `${photo}: top-1 differs`);
          }
        } finally {
          onnx.dispose();
          tfjs.dispose();
        }
      });
    }
  }
});
