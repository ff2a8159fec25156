/**
 * The preprocessing modes (core/scale.ts) on hand-computed pixels: a solid image of one
 * known colour goes through the real preprocessing (sharp) and every value is compared with
 * the keras.applications formula computed here by hand, not by the code under test.
 */
import assert from 'node:assert/strict';
import {before, describe, it} from 'node:test';
import sharp from 'sharp';
import {parseScale} from '../../../src/core/scale.js';
import type {InputContract} from '../../../src/core/ports.js';
import {preprocessImage} from '../../../src/model/preprocess.js';

describe('parseScale', () => {
  const good: Array<[string, string]> = [
    ['0,1', '0,1'],
    ['[-1, 1]', '-1,1'],
    ['tf', '-1,1'],
    ['RAW', '0,255'],
    ['0,255', '0,255'],
    ['caffe', 'caffe'],
    ['Torch', 'torch'],
    ['mean=123.675,116.28,103.53;std=58.395,57.12,57.375', 'mean=123.675,116.28,103.53;std=58.395,57.12,57.375'],
    ['mean = 1, 2, 3 ; std = 4, 5, 6', 'mean=1,2,3;std=4,5,6'],
  ];
  for (const [input, want] of good) it(`'${input}' → '${want}'`, () => assert.equal(parseScale(input), want));
  for (const bad of ['cafe', '0,2', 'mean=1,2;std=1,2,3', 'mean=1,2,3;std=1,0,1', 'mean=a,b,c;std=1,1,1']) {
    it(`refuses '${bad}'`, () => assert.throws(() => parseScale(bad), /input scale/));
  }
});

describe('each preprocessing mode on a solid (10, 20, 30) image', () => {
  const [R, G, B] = [10, 20, 30];
  let png: Buffer;
  before(async () => {
    png = await sharp({create: {width: 8, height: 8, channels: 3, background: {r: R, g: G, b: B}}})
      .png()
      .toBuffer();
  });
  const cases: Array<[string, [number, number, number]]> = [
    ['0,1', [R / 255, G / 255, B / 255]],
    ['-1,1', [R / 127.5 - 1, G / 127.5 - 1, B / 127.5 - 1]],
    ['0,255', [R, G, B]],
    // caffe: BGR order, minus the BGR means, no scaling
    ['caffe', [B - 103.939, G - 116.779, R - 123.68]],
    ['torch', [(R / 255 - 0.485) / 0.229, (G / 255 - 0.456) / 0.224, (B / 255 - 0.406) / 0.225]],
    ['mean=1,2,3;std=2,4,6', [(R - 1) / 2, (G - 2) / 4, (B - 3) / 6]],
  ];
  for (const [scale, want] of cases) {
    it(`${scale} → [${want.map(v => v.toFixed(4)).join(', ')}] at every pixel`, async () => {
      const contract: InputContract = {height: 4, width: 4, channels: 3, layout: 'nhwc', scale};
      const data = await preprocessImage(png, contract);
      assert.equal(data.length, 4 * 4 * 3);
      for (let i = 0; i < data.length; i++) {
        assert.ok(Math.abs(data[i]! - want[i % 3]!) < 1e-5, `value ${i}: ${data[i]} vs ${want[i % 3]}`);
      }
    });
  }

  it('a greyscale model gets the channel-averaged mean and std (torch)', async () => {
    const grey = await sharp({create: {width: 8, height: 8, channels: 3, background: {r: 50, g: 50, b: 50}}})
      .png()
      .toBuffer();
    const data = await preprocessImage(grey, {height: 2, width: 2, channels: 1, layout: 'hw', scale: 'torch'});
    const mean = (0.485 + 0.456 + 0.406) / 3;
    const std = (0.229 + 0.224 + 0.225) / 3;
    for (const v of data) assert.ok(Math.abs(v - (50 / 255 - mean) / std) < 1e-5, String(v));
  });
});
