/**
 * Image bytes → model input, with sharp (libvips).
 *
 * Pipeline: check the byte cap → the format allow-list and the pixel cap (the
 * decompression-bomb guard: libvips' `limitInputPixels`, and a header read first for any
 * format but JPEG, PNG, WebP and GIF) → first frame only → honour EXIF orientation → any
 * colour space (CMYK, grey, 16-bit, palette) to 8-bit sRGB → flatten alpha onto a fixed
 * background → resize to the model's input → scale. The result is a Float32Array in HWC
 * order (plain data, so it can cross a worker-thread boundary); the engine turns it into a
 * tensor.
 *
 * An embedded ICC profile is not applied unless asked (`iccProfiles: 'apply'`): the model
 * sees the values stored in the file, as it did in training (PIL's
 * `Image.open().convert('RGB')`, Keras' `load_img` and `tf.io.decode_image` all ignore
 * profiles). sharp applies one by default, through lcms at the decoded size: 2.5–9 ms for the
 * shared photos that carry a (plain sRGB) profile, for pixels that came out identical. CMYK
 * still goes through libvips' generic CMYK profile.
 *
 * Resize: `fit: 'fill'` (stretch to exactly h×w, no crop, as `PIL.Image.resize((224, 224))`
 * does in the Beam example) with the `cubic` kernel (Catmull-Rom). PIL's default filter for
 * `resize` is BICUBIC (a = -0.5, i.e. Catmull-Rom) and, like libvips, it widens the kernel
 * when shrinking (antialiasing); measured here, the two agree within 0.4/255 per pixel.
 */
import sharp, {type Metadata, type OutputInfo} from 'sharp';
import {ImageError} from '../core/errors.js';
import type {InputContract} from '../core/ports.js';
import {pixelTransform} from '../core/scale.js';

// One libvips thread per image (sharp's own default on glibc): the cores are used by decoding
// several photos at once on libuv's threads, as concurrent requests and batches do. Measured
// here on 2 cores, a second thread per image made the shared photos slower, alone (3.3 ms
// against 3.0) and under load (handler 174 against 185 images/s at concurrency 4, 150 against
// 172 at 16); only a 12-megapixel progressive JPEG gained (87 ms against 98).
sharp.concurrency(1);
// libvips' operation cache only ever hits for the same input bytes twice; every photo here is
// new, so caching costs time (≈0.2 ms a photo measured) and holds up to 50 MB for nothing.
sharp.cache(false);

/** Limits and options for {@link preprocessImage}. */
export interface PreprocessOptions {
  /** Refuse images with more pixels than this (width × height of the stored image). */
  readonly maxPixels: number;
  /** Refuse image files larger than this many bytes. */
  readonly maxBytes: number;
  /** Background that transparent pixels are flattened onto. */
  readonly background?: {r: number; g: number; b: number};
  /**
   * `ignore` (default): the values stored in the file, as training pipelines decode them;
   * `apply`: through the embedded ICC profile to sRGB first.
   */
  readonly iccProfiles?: 'ignore' | 'apply';
  /** libvips time budget per image, in seconds. */
  readonly timeoutSeconds?: number;
}

/** Defaults: 50 megapixels, 20 MiB, profiles ignored, white background, 10 s. */
export const DEFAULT_PREPROCESS: PreprocessOptions = {
  maxPixels: 50_000_000,
  maxBytes: 20 * 1024 * 1024,
  iccProfiles: 'ignore',
  background: {r: 255, g: 255, b: 255},
  timeoutSeconds: 10,
};

/** Raster formats accepted. SVG and PDF are refused: they are programs, not photos. */
const ALLOWED_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif', 'avif', 'jp2']);

/** A sharp failure as the permanent ImageError its message names: pixel cap, format, timeout or damage. */
function decodeError(e: unknown): ImageError {
  const message = (e as Error).message ?? String(e);
  if (/pixel limit/i.test(message))
    return new ImageError('too_many_pixels', `image has too many pixels: ${message}`, {cause: e});
  if (/unsupported image format|bad seek|not a known file format/i.test(message)) {
    return new ImageError('unsupported_format', `not a supported image: ${message}`, {cause: e});
  }
  if (/timeout/i.test(message))
    return new ImageError('timeout', `image took too long to decode: ${message}`, {cause: e});
  return new ImageError('decode', `image cannot be decoded (truncated or corrupt?): ${message}`, {cause: e});
}

/** JPEG, PNG, WebP or GIF, by the file's first bytes (the formats libvips reads by the same marks). */
function looksLikeCommonRaster(b: Uint8Array): boolean {
  const ascii = (at: number, text: string) => [...text].every((ch, i) => b[at + i] === ch.charCodeAt(0));
  return (
    (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) ||
    (b[0] === 0x89 && ascii(1, 'PNG\r\n')) ||
    (ascii(0, 'RIFF') && ascii(8, 'WEBP')) ||
    ascii(0, 'GIF8')
  );
}

type SharpInput = NonNullable<Parameters<typeof sharp>[1]>;

/** The pixels, oriented, 8-bit sRGB (or grey), alpha flattened, resized to the contract. */
async function decodePixels(
  bytes: Uint8Array,
  contract: InputContract,
  input: SharpInput,
  options: PreprocessOptions
): Promise<{data: Buffer; info: OutputInfo}> {
  const background = options.background ?? DEFAULT_PREPROCESS.background!;
  let pipeline = sharp(bytes, input)
    .timeout({seconds: options.timeoutSeconds ?? 10})
    .rotate() // no argument: apply the EXIF orientation, then drop the tag
    .toColourspace('srgb') // CMYK, grey, 16-bit, palette → 8-bit sRGB, before alpha goes
    .flatten({background})
    .resize(contract.width, contract.height, {fit: 'fill', kernel: 'cubic'});
  pipeline = contract.channels === 1 ? pipeline.toColourspace('b-w') : pipeline.removeAlpha();
  try {
    return await pipeline.raw().toBuffer({resolveWithObject: true});
  } catch (e) {
    throw decodeError(e);
  }
}

/** Reads the header only (no pixels) and refuses a format not accepted or an image over the pixel cap. */
async function checkHeader(bytes: Uint8Array, input: SharpInput, options: PreprocessOptions): Promise<void> {
  let meta: Metadata;
  try {
    meta = await sharp(bytes, {...input, limitInputPixels: false}).metadata();
  } catch (e) {
    throw decodeError(e);
  }
  const format = meta.format ?? 'unknown';
  if (!ALLOWED_FORMATS.has(format)) {
    throw new ImageError(
      'unsupported_format',
      `image format '${format}' is not accepted (use JPEG, PNG, WebP, GIF, TIFF or AVIF)`
    );
  }
  const width = meta.width ?? 0;
  const height = meta.pageHeight ?? meta.height ?? 0;
  if (width * height > options.maxPixels) {
    throw new ImageError(
      'too_many_pixels',
      `image is ${width}x${height} (${width * height} pixels), over the limit of ${options.maxPixels} (decompression-bomb guard)`
    );
  }
}

/**
 * Decodes and prepares one image for a model with the given input contract: its
 * `height*width*channels` values, HWC, already scaled.
 *
 * @throws ImageError (permanent) for anything wrong with the image itself.
 */
export async function preprocessImage(
  bytes: Uint8Array,
  contract: InputContract,
  options: PreprocessOptions = DEFAULT_PREPROCESS
): Promise<Float32Array> {
  if (bytes.length === 0) throw new ImageError('empty', 'image file is empty');
  if (bytes.length > options.maxBytes) {
    throw new ImageError('too_large', `image file is ${bytes.length} bytes, over the limit of ${options.maxBytes}`);
  }
  const input = {
    limitInputPixels: options.maxPixels,
    failOn: 'error' as const,
    pages: 1,
    page: 0,
    ignoreIcc: options.iccProfiles !== 'apply',
  };
  // The format allow-list and the pixel cap (the decompression-bomb guard). A file that starts
  // as a JPEG, PNG, WebP or GIF goes straight to its decoder: libvips picks the decoder by those
  // same marks and enforces the pixel cap itself (`limitInputPixels`) before decoding, so its
  // header is read only to word a refusal (a header read costs ≈0.3 ms of a 3 ms photo).
  // Anything else, an SVG or a PDF above all, has its header read and checked first.
  let raw: {data: Buffer; info: OutputInfo};
  if (looksLikeCommonRaster(bytes)) {
    try {
      raw = await decodePixels(bytes, contract, input, options);
    } catch (e) {
      if (e instanceof ImageError && e.kind === 'too_many_pixels') await checkHeader(bytes, input, options);
      throw e;
    }
  } else {
    await checkHeader(bytes, input, options);
    raw = await decodePixels(bytes, contract, input, options);
  }
  const {data, info} = raw;
  const expected = contract.width * contract.height * contract.channels;
  if (info.channels !== contract.channels || data.length !== expected) {
    throw new ImageError(
      'decode',
      `image decoded to ${info.width}x${info.height}x${info.channels} (${data.length} bytes), expected ${contract.width}x${contract.height}x${contract.channels}`
    );
  }
  // Per channel (see core/scale.ts): input[c] = pixel[source(c)] * mul[c] + add[c].
  return scalePixels(data, pixelTransform(contract.scale, contract.channels), contract.channels);
}

/**
 * `input[c] = pixel[source(c)] * mul[c] + add[c]`, on the request's thread: the RGB case (all
 * scalings but Caffe's BGR) unrolled with its constants in locals, about 0.2 ms for 224×224×3
 * where the general loop took 1 ms under load.
 */
function scalePixels(
  data: Uint8Array,
  {bgr, mul, add}: {bgr: boolean; mul: readonly number[]; add: readonly number[]},
  c: number
): Float32Array {
  const n = data.length;
  const out = new Float32Array(n);
  if (c === 3 && !bgr) {
    const [m0, m1, m2] = mul as [number, number, number];
    const [a0, a1, a2] = add as [number, number, number];
    for (let p = 0; p < n; p += 3) {
      out[p] = data[p]! * m0 + a0;
      out[p + 1] = data[p + 1]! * m1 + a1;
      out[p + 2] = data[p + 2]! * m2 + a2;
    }
    return out;
  }
  for (let p = 0; p < n; p += c) {
    for (let k = 0; k < c; k++) out[p + k] = data[p + (bgr ? c - 1 - k : k)]! * mul[k]! + add[k]!;
  }
  return out;
}
