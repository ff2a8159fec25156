/**
 * Files the demo needs and a user who only cloned this repository does not have: a real
 * ImageNet MobileNet (Keras `.h5`), its labels and a few photos. Each is downloaded once
 * into a cache folder, with a pinned SHA-256 (a changed or truncated file is refused, never
 * used), a progress bar, and, when the network is not there, a message that says how to
 * run the demo with files of one's own instead.
 *
 * The pins are the SHA-256 of the bytes this project verified: the copies in the shared
 * test fixtures, which were fetched from these origins (repository, path and commit in
 * their MANIFEST). The URLs themselves could not be fetched from the machine this was
 * written on; if an origin ever serves other bytes, the checksum says so.
 */
import {createHash, randomUUID} from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** One downloadable file. */
export interface Asset {
  /** File name in the cache. */
  readonly name: string;
  readonly url: string;
  readonly sha256: string;
  readonly bytes: number;
}

const TFJS_EXAMPLES =
  'https://raw.githubusercontent.com/tensorflow/tfjs-examples/029825b4b889e24f01a7da93b27ad1edfe5af016';

/**
 * Keras Applications MobileNet v1, alpha 0.25, 224×224, ImageNet weights, saved whole by
 * Keras 2.8 (STMicroelectronics' model zoo, Apache-2.0). Inputs x/127.5 − 1.
 */
export const DEMO_MODEL: Asset = {
  name: 'mobilenet_v1_0.25_224_imagenet.h5',
  url: 'https://raw.githubusercontent.com/bvenreply/stm32ai-modelzoo/2d9c459456f1/image_classification/models/mobilenetv1/Public_pretrainedmodel_public_dataset/ImageNet/mobilenet_v1_0.25_224/mobilenet_v1_0.25_224.h5',
  sha256: 'dc1ff623e6cd99c3cc0dd2821ca0807ba013606af5a4e2afd4488fbf26a8b589',
  bytes: 2_161_312,
};

/** Keras' ImageNet class index (1000 classes, Keras order). */
export const DEMO_LABELS: Asset = {
  name: 'imagenet_class_index.json',
  url: 'https://raw.githubusercontent.com/mythrandire/adversarial_tutorial/220c565676d4/imagenet_class_index.json',
  sha256: 'ecae206bed9024d38507c0c6a3f8c4dc079f465ad34e44c3ffd0ea5ddf6cfa50',
  bytes: 35_366,
};

/** Photos of ImageNet classes from TensorFlow.js' examples (Apache-2.0). */
export const DEMO_PHOTOS: readonly Asset[] = [
  {
    name: 'daisy.jpg',
    url: `${TFJS_EXAMPLES}/electron/images/image05.jpg`,
    sha256: '0cb8cc83f7436d58010e69a8507206d6e54f48e75ed8170226300a86f5ef631c',
    bytes: 12_239,
  },
  {
    name: 'tiger.jpeg',
    url: `${TFJS_EXAMPLES}/electron/images/image08.jpeg`,
    sha256: '9e91b3e18b8751a9a9d5da770dfe58319ed57951af532e32b061dbe389259239',
    bytes: 41_069,
  },
  {
    name: 'cat.jpg',
    url: `${TFJS_EXAMPLES}/mobilenet/cat.jpg`,
    sha256: 'f747a7fd587e7e758270f8cf3064a404a0f26de2fb36ddc7d6632ef2ce09c29e',
    bytes: 41_038,
  },
  {
    name: 'ship.jpeg',
    url: `${TFJS_EXAMPLES}/electron/images/image09.jpeg`,
    sha256: 'd1b9a87f0d6b0f1fc2d3f5fa1696f7c690b8d5d05f0cae0c289916c536cd731c',
    bytes: 19_792,
  },
];

/** A download that did not give the pinned file; `kind` says why. */
export class DownloadError extends Error {
  constructor(
    readonly kind: 'offline' | 'http' | 'truncated' | 'checksum',
    message: string
  ) {
    super(message);
  }
}

/** Options of {@link fetchAsset}. */
export interface FetchOptions {
  readonly cacheDir: string;
  /**
   * A base URL that serves the same files under their cache names (`DEMO_ASSET_MIRROR`, for
   * a mirror or a proxy); the pins still apply.
   */
  readonly mirror?: string;
  /** Progress as bytes arrive (default: a bar on stderr). */
  readonly progress?: (received: number, total: number) => void;
  /** Give up on a stalled connection after this long (default 30 s). */
  readonly timeoutMs?: number;
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A text progress bar on stderr, redrawn in place. */
export function progressBar(label: string): (received: number, total: number) => void {
  return (received, total) => {
    const share = total > 0 ? Math.min(1, received / total) : 0;
    const filled = Math.round(share * 30);
    process.stderr.write(
      `\r${label} [${'#'.repeat(filled)}${'.'.repeat(30 - filled)}] ${(received / 1e6).toFixed(2)}/${(total / 1e6).toFixed(2)} MB`
    );
    if (total > 0 && received >= total) process.stderr.write('\n');
  };
}

/**
 * The asset's path in the cache, downloading it first if it is not there (or not intact).
 *
 * @throws DownloadError: offline, an HTTP error, a truncated body, or other bytes than pinned.
 */
export async function fetchAsset(asset: Asset, options: FetchOptions): Promise<string> {
  const target = path.join(options.cacheDir, asset.name);
  if (fs.existsSync(target) && (await sha256Of(target)) === asset.sha256) return target;
  fs.mkdirSync(options.cacheDir, {recursive: true});
  const partial = `${target}.${randomUUID().slice(0, 8)}.partial`;
  const progress = options.progress ?? progressBar(asset.name);
  const url = options.mirror ? `${options.mirror.replace(/\/$/, '')}/${asset.name}` : asset.url;
  let response: Response;
  try {
    response = await fetch(url, {signal: AbortSignal.timeout(options.timeoutMs ?? 30_000)});
  } catch (e) {
    const cause = (e as {cause?: {code?: string}}).cause?.code ?? (e as Error).message;
    throw new DownloadError('offline', `cannot reach ${new URL(url).host} (${cause})`);
  }
  if (!response.ok || !response.body) {
    throw new DownloadError('http', `${url} answered HTTP ${response.status}`);
  }
  const total = Number(response.headers.get('content-length') ?? asset.bytes);
  const hash = createHash('sha256');
  const out = fs.createWriteStream(partial);
  let received = 0;
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      received += chunk.length;
      if (!out.write(chunk)) await new Promise<void>(r => out.once('drain', () => r()));
      progress(received, total);
    }
  } catch (e) {
    out.destroy();
    fs.rmSync(partial, {force: true});
    throw new DownloadError(
      'truncated',
      `${url}: the connection broke after ${received} of ${total} bytes (${(e as Error).message})`
    );
  }
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  const digest = hash.digest('hex');
  if (received !== asset.bytes || digest !== asset.sha256) {
    fs.rmSync(partial, {force: true});
    if (received < asset.bytes) {
      throw new DownloadError('truncated', `${url}: got ${received} of ${asset.bytes} bytes`);
    }
    throw new DownloadError('checksum', `${url}: SHA-256 ${digest}, expected ${asset.sha256}: refused`);
  }
  fs.renameSync(partial, target);
  return target;
}
