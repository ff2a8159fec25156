/** Paths to the shared fixtures (../shared/fixtures beside the checkout, or $FIXTURES_DIR). */
import fs from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The shared fixtures folder. */
export const FIXTURES = process.env['FIXTURES_DIR'] ?? path.resolve(here, '../../../../shared/fixtures');

/** Absolute path of a fixture, e.g. `fixture('models/keras2/x.h5')`. */
export function fixture(rel: string): string {
  return path.join(FIXTURES, rel);
}

/** Bytes of a fixture. */
export function fixtureBytes(rel: string): Buffer {
  return fs.readFileSync(fixture(rel));
}

/** File names in a fixture folder. */
export function fixtureDir(rel: string): string[] {
  return fs.readdirSync(fixture(rel)).sort();
}

/** The real ImageNet MobileNet v1 0.25 (Keras 2.8; inputs in [-1, 1]). */
export const MOBILENET = 'models/keras2/mobilenet_v1_0.25_224_imagenet.h5';
