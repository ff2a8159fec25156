import {describe, it} from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import {DEFAULT_PREPROCESS, preprocessImage} from '../../../src/model/preprocess.js';
import type {InputContract} from '../../../src/core/ports.js';
import {ImageError} from '../../../src/core/errors.js';
import {fixtureBytes, fixtureDir} from '../../helpers/fixtures.js';

const RGB: InputContract = {height: 224, width: 224, channels: 3, layout: 'nhwc', scale: '0,1'};

function meanAbsDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += Math.abs(a[i]! - b[i]!);
  return d / a.length;
}

/** What each bad/odd image must give: a model input, or an ImageError of this kind. */
const EXPECTED_ERRORS: Record<string, string> = {
  '65536-uint32-limit.png': 'too_many_pixels',
  'giant-image.jpg': 'too_many_pixels',
  'check.svg': 'unsupported_format',
  'corrupt-header.jpg': 'decode',
  'skimage_truncated.jpg': 'decode',
  'truncated.jpg': 'decode',
  'truncated.png': 'decode',
  'relax.jp2': 'unsupported_format', // sharp's prebuilt libvips has no OpenJPEG
};

describe('preprocessImage', () => {
  for (const file of fixtureDir('bad-images')) {
    const want = EXPECTED_ERRORS[file];
    it(`${file} → ${want ? `ImageError ${want}` : 'a 224x224x3 input in range'} within a few seconds`, async () => {
      const started = performance.now();
      try {
        const out = await preprocessImage(fixtureBytes(`bad-images/${file}`), RGB);
        assert.equal(want, undefined, `expected ${want}`);
        assert.equal(out.length, 224 * 224 * 3);
        assert.ok(out.every(v => v >= 0 && v <= 1));
      } catch (e) {
        if (!(e instanceof ImageError)) throw e;
        assert.equal(e.kind, want, e.message);
      }
      assert.ok(performance.now() - started < 5000);
    });
  }

  it('honours EXIF orientation: Landscape_6 and _8 look like Landscape_1', async () => {
    // _6 and _8 are stored in Apple's Generic RGB (gamma 1.8), _1 untagged: their colours
    // agree once the profile is applied, which leaves orientation the only difference.
    const managed = {...DEFAULT_PREPROCESS, iccProfiles: 'apply' as const};
    const upright = await preprocessImage(fixtureBytes('bad-images/Landscape_1.jpg'), RGB, managed);
    for (const f of ['Landscape_6.jpg', 'Landscape_8.jpg']) {
      const rotated = await preprocessImage(fixtureBytes(`bad-images/${f}`), RGB, managed);
      assert.ok(meanAbsDiff(upright, rotated) < 0.03, `${f}: ${meanAbsDiff(upright, rotated)}`);
    }
  });

  it('turns greyscale into 3 equal channels', async () => {
    const out = await preprocessImage(fixtureBytes('bad-images/skimage_camera_gray.png'), RGB);
    for (let i = 0; i < out.length; i += 3 * 97) {
      assert.equal(out[i], out[i + 1]);
      assert.equal(out[i + 1], out[i + 2]);
    }
  });

  it('converts CMYK with and without a profile to similar sRGB', async () => {
    const a = await preprocessImage(fixtureBytes('bad-images/Channel_digital_image_CMYK_color.jpg'), RGB);
    const b = await preprocessImage(fixtureBytes('bad-images/Channel_digital_image_CMYK_color_no_profile.jpg'), RGB);
    assert.ok(meanAbsDiff(a, b) < 0.1, String(meanAbsDiff(a, b)));
  });

  it('gives the values stored in the file, as PIL and tf.io.decode_image do; ICC_PROFILES=apply colour-manages', async () => {
    // sRGB red written in Display P3 is stored as about (234, 51, 35); applying the profile
    // would turn it back into (255, 0, 0). A model trained on PIL's or TensorFlow's decode
    // saw the stored values.
    const p3 = await sharp({create: {width: 32, height: 32, channels: 3, background: {r: 255, g: 0, b: 0}}})
      .png()
      .withIccProfile('p3')
      .toBuffer();
    assert.ok((await sharp(p3).metadata()).icc, 'the test image carries a profile');
    const small = {...RGB, height: 8, width: 8, scale: '0,255' as const};
    const near = (out: Float32Array, want: number[]) => {
      for (let i = 0; i < out.length; i += 3) {
        const px = [...out.subarray(i, i + 3)];
        assert.ok(
          px.every((v, c) => Math.abs(v - want[c]!) <= 3),
          `pixel ${i / 3}: ${px.join(',')}, want ${want.join(',')}`
        );
      }
    };
    near(await preprocessImage(p3, small), [234, 51, 35]);
    near(await preprocessImage(p3, small, {...DEFAULT_PREPROCESS, iccProfiles: 'apply'}), [255, 0, 0]);
    // A photo tagged plain sRGB (8 of the shared 12) comes out the same either way.
    const daisy = fixtureBytes('images/daisy.jpg');
    assert.ok((await sharp(daisy).metadata()).icc);
    const applied = await sharp(daisy).resize(224, 224, {fit: 'fill', kernel: 'cubic'}).raw().toBuffer();
    const mine = await preprocessImage(daisy, {...RGB, scale: '0,255'});
    let worst = 0;
    for (let i = 0; i < mine.length; i++) worst = Math.max(worst, Math.abs(mine[i]! - applied[i]!));
    assert.ok(worst <= 1, `max difference ${worst}`);
  });

  it('flattens transparency onto white', async () => {
    const out = await preprocessImage(fixtureBytes('bad-images/full-transparent.png'), RGB);
    assert.ok(out.every(v => v === 1));
  });

  it('scales to [-1, 1] as x/127.5 - 1 and to [0, 255] unchanged', async () => {
    const bytes = fixtureBytes('images/daisy.jpg');
    const unit = await preprocessImage(bytes, RGB);
    const signed = await preprocessImage(bytes, {...RGB, scale: '-1,1'});
    const raw = await preprocessImage(bytes, {...RGB, scale: '0,255'});
    for (let i = 0; i < unit.length; i += 1013) {
      assert.ok(Math.abs(signed[i]! - (raw[i]! / 127.5 - 1)) < 1e-6);
      assert.ok(Math.abs(unit[i]! - raw[i]! / 255) < 1e-6);
    }
    assert.ok(signed.every(v => v >= -1 && v <= 1));
  });

  it('resizes to the model input, single channel for greyscale models', async () => {
    const out = await preprocessImage(fixtureBytes('images/daisy.jpg'), {
      height: 28,
      width: 20,
      channels: 1,
      layout: 'hw',
      scale: '0,1',
    });
    assert.equal(out.length, 28 * 20);
  });

  it('refuses files over the byte cap and empty files', async () => {
    await assert.rejects(
      preprocessImage(fixtureBytes('images/daisy.jpg'), RGB, {...DEFAULT_PREPROCESS, maxBytes: 100}),
      {
        kind: 'too_large',
      }
    );
    await assert.rejects(preprocessImage(Buffer.alloc(0), RGB), {kind: 'empty'});
  });

  it('applies the configurable pixel cap', async () => {
    await assert.rejects(
      preprocessImage(fixtureBytes('images/daisy.jpg'), RGB, {...DEFAULT_PREPROCESS, maxPixels: 1000}),
      (e: unknown) => e instanceof ImageError && e.kind === 'too_many_pixels' && /500x326/.test(e.message)
    );
  });
});
