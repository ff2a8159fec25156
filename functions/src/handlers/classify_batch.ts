/**
 * A batch message's images (`{"images": […]}` or a listed `gs://bucket/prefix/`), classified
 * INFERENCE_BATCH at a time, each on its own: read, decoded on libuv's threads and run through
 * the engine while the others are at other steps. Measured (`npm run bench`), one image per
 * engine run with several in flight beat groups run as one engine batch: ONNX Runtime gains
 * 2–4 % a image from batching MobileNetV2, and its synchronous run holds the event loop, so a
 * group's decoding could not overlap it. Memory is bounded by the images in flight.
 *
 * Every image gets its own result (a bad entry, a missing object or an undecodable image is
 * that image's failure document, not the batch's). A transient error (Storage unavailable)
 * fails the whole message so that Pub/Sub redelivers it; the redelivery writes the same
 * documents again (their ids are message id + index) and creates no others.
 */
import {isPermanent, MessageError} from '../core/errors.js';
import {imageName, type BatchEntry} from '../core/image_request.js';
import type {ImageLocation} from '../core/image_path.js';
import type {Logger} from '../core/log.js';
import type {Classification} from '../core/ports.js';
import {failed, predicted, type MessageRun} from './results.js';

/** What {@link classifyBatch} needs. */
export interface BatchJob {
  readonly run: MessageRun;
  readonly entries: readonly BatchEntry[];
  /** INFERENCE_BATCH: images read, decoded and classified at once. */
  readonly inFlight: number;
  readonly topK: number;
  /** Reads an image (permanent errors for missing or oversized ones; others transient). */
  readonly read: (location: ImageLocation) => Promise<Uint8Array>;
  /** The rollout's shadow run of one answered image, when this message is in the shadow share. */
  readonly shadow: ((bytes: Uint8Array, served: Classification) => Promise<Record<string, unknown>>) | null;
  /** Counts an image against the message's rollout arm (during a rollout). */
  readonly count: ((outcome: {latencyMs: number} | {failure: string}) => void) | null;
  readonly logger: Logger;
}

/** Classifies every entry; returns one document per entry, in order (docs[i] for entries[i]). */
export async function classifyBatch(job: BatchJob): Promise<Record<string, unknown>[]> {
  const {run, entries, logger} = job;
  const classifier = run.lease.classifier;
  const size = entries.length;
  const docs: Record<string, unknown>[] = new Array(size);
  const ctx = {...run, ran: run.lease.record};
  const position = (index: number) => ({index, size});

  const one = async (index: number): Promise<void> => {
    const entry = entries[index]!;
    if (entry instanceof MessageError) {
      // A bad entry never reached the model: it is not counted against either arm.
      docs[index] = failed(ctx, null, entry, logger, position(index));
      return;
    }
    const image = imageName(entry);
    let bytes: Uint8Array;
    let r: Classification;
    try {
      bytes = await job.read(entry);
      r = await classifier.classify(bytes, job.topK);
    } catch (e) {
      if (!isPermanent(e)) throw e; // transient: the whole message is delivered again
      job.count?.({failure: e.kind});
      docs[index] = failed(ctx, image, e, logger, position(index));
      return;
    }
    job.count?.({latencyMs: r.inference_ms + r.preprocess_ms});
    const shadow = job.shadow ? await job.shadow(bytes, r) : null;
    docs[index] = predicted(run, image, r, shadow, logger, position(index));
  };

  // `inFlight` workers take the next entry until none is left (entries run in any order; the
  // documents keep theirs). A transient error stops the others from taking more.
  let next = 0;
  let failure: unknown = null;
  const worker = async (): Promise<void> => {
    while (next < size && failure === null) {
      const index = next++;
      await one(index).catch((e: unknown) => {
        failure ??= e;
      });
    }
  };
  await Promise.all(Array.from({length: Math.min(job.inFlight, size)}, worker));
  if (failure !== null) throw failure;
  return docs;
}
