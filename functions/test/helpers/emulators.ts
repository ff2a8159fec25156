/**
 * Clients for the emulator tier. `npm test` starts the emulators and sets
 * FIRESTORE_EMULATOR_HOST / STORAGE_EMULATOR_HOST; every test uses its own collection
 * and bucket names, so files can run in parallel against one emulator.
 */
import {randomUUID} from 'node:crypto';
import {Firestore} from '@google-cloud/firestore';
import {Storage} from '@google-cloud/storage';
import type {StorageObjectData} from '../../src/core/model_record.js';

/** True when the emulators are configured. */
export const EMULATORS = Boolean(process.env['FIRESTORE_EMULATOR_HOST'] && process.env['STORAGE_EMULATOR_HOST']);

/** A unique, Firestore- and bucket-safe name. */
export function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** A Firestore client on the emulator. */
export function firestore(): Firestore {
  return new Firestore({projectId: 'demo-test', ignoreUndefinedProperties: true});
}

/** A Storage client on the emulator. */
export function storage(): Storage {
  return new Storage({projectId: 'demo-test'});
}

/** Uploads bytes (single request: the emulator cannot do multi-chunk resumable uploads) and returns the finalize event data. */
export async function upload(
  s: Storage,
  bucket: string,
  name: string,
  bytes: Buffer,
  metadata: Record<string, string> = {}
): Promise<StorageObjectData> {
  const file = s.bucket(bucket).file(name);
  const save = () =>
    file.save(bytes, {resumable: false, contentType: 'application/octet-stream', metadata: {metadata}});
  try {
    await save();
  } catch (e) {
    // The storage emulator sometimes resets a kept-alive connection it has idled out, and the
    // client does not retry a multipart upload without a precondition: once more, in tests only.
    if ((e as {code?: string}).code !== 'ECONNRESET') throw e;
    await save();
  }
  const [md] = await file.getMetadata();
  return {
    bucket,
    name,
    generation: String(md.generation),
    metageneration: String(md.metageneration),
    updated: String(md.updated),
    size: String(md.size),
    md5Hash: String(md.md5Hash),
    contentType: String(md.contentType),
    metadata: (md.metadata ?? {}) as Record<string, string>,
  };
}
