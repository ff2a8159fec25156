/**
 * A batch message's images (`{"images": […]}` or a listed `gs://bucket/prefix/`), classified
 * INFERENCE_BATCH at a time: a group is read, decoded on libuv's threads and run through the
 * engine as one batch, while the next group is already being read and decoded. Memory is
 * bounded by two groups, not the message.
 *
 * Every image gets its own result (a bad entry, a missing object or an undecodable image is
 * that image's failure document, not the batch's). A transient error (Storage unavailable)
 * fails the whole message so that Pub/Sub redelivers it; the redelivery writes the same
 * documents again (their ids are message id + index) and creates no others.
 */
import {isPermanent, MessageError, type PermanentError} from '../core/errors.js';
import {imageName, type BatchEntry} from '../core/image_request.js';
import type {ImageLocation} from '../core/image_path.js';
import type {Logger} from '../core/log.js';
import type {Classification} from '../core/ports.js';
import {failed, predicted, type MessageRun} from './results.js';

/** What {@link classifyBatch} needs. */
export interface BatchJob {
  readonly run: MessageRun;
  readonly entries: readonly BatchEntry[];
  /** INFERENCE_BATCH. */
  readonly groupSize: number;
  readonly topK: number;
  /** Reads an image (permanent errors for missing or oversized ones; others transient). */
  readonly read: (location: ImageLocation) => Promise<Uint8Array>;
  /** The rollout's shadow run of one answered image, when this message is in the shadow share. */
  readonly shadow: ((bytes: Uint8Array, served: Classification) => Promise<Record<string, unknown>>) | null;
  /** Counts an image against the message's rollout arm (during a rollout). */
  readonly count: ((outcome: {latencyMs: number} | {failure: string}) => void) | null;
  readonly logger: Logger;
}

/** One group, read and decoded: per entry its bytes and pixels, or the error it got. */
interface Prepared {
  readonly items: ReadonlyArray<{bytes: Uint8Array; pixels: Float32Array} | PermanentError>;
  /** Wall time of the group's decoding (concurrent, on libuv's threads). */
  readonly preprocessMs: number;
}

/** Classifies every entry; returns one document per entry, in order (docs[i] for entries[i]). */
export async function classifyBatch(job: BatchJob): Promise<Record<string, unknown>[]> {
  const {run, entries, groupSize, logger} = job;
  const classifier = run.lease.classifier;
  const size = entries.length;
  const docs: Record<string, unknown>[] = [];
  const ctx = {...run, ran: run.lease.record};
  const permanent = (e: unknown): PermanentError => {
    if (isPermanent(e)) return e;
    throw e;
  };

  // Read and decode a group. Started for the next group before the current one runs, so that
  // its downloads and its decoding (libuv's threads) overlap the engine's run.
  const prepare = (start: number): Promise<Prepared> => {
    const group = entries.slice(start, start + groupSize);
    const prepared = Promise.all(
      group.map(async entry => (entry instanceof MessageError ? entry : await job.read(entry).catch(permanent)))
    ).then(async read => {
      const t0 = performance.now();
      const items = await Promise.all(
        read.map(async bytes =>
          isPermanent(bytes) ? bytes : await classifier.preprocess(bytes).then(pixels => ({bytes, pixels}), permanent)
        )
      );
      return {items, preprocessMs: performance.now() - t0};
    });
    // Awaited later; until then a rejection must not count as unhandled (it would end the process).
    prepared.catch(() => {});
    return prepared;
  };

  let next = prepare(0);
  for (let start = 0; start < size; start += groupSize) {
    const {items, preprocessMs} = await next;
    if (start + groupSize < size) next = prepare(start + groupSize);
    const ok = items.filter((item): item is {bytes: Uint8Array; pixels: Float32Array} => !isPermanent(item));
    const answers = await classifier.classifyMany(
      ok.map(item => item.pixels),
      job.topK
    );
    let a = 0;
    for (let j = 0; j < items.length; j++) {
      const index = start + j;
      const entry = entries[index]!;
      const image = entry instanceof MessageError ? null : imageName(entry);
      const position = {index, size, group: ok.length};
      const item = items[j]!;
      const answer = isPermanent(item) ? item : answers[a++]!;
      if (isPermanent(answer)) {
        // A bad entry never reached the model: it is not counted against either arm.
        if (!(entry instanceof MessageError)) job.count?.({failure: answer.kind});
        docs.push(failed(ctx, image, answer, logger, position));
        continue;
      }
      const r = {...answer, preprocess_ms: preprocessMs};
      job.count?.({latencyMs: (r.inference_ms + preprocessMs) / Math.max(1, ok.length)});
      const shadow = job.shadow && !isPermanent(item) ? await job.shadow(item.bytes, r) : null;
      docs.push(predicted(run, image!, r, shadow, logger, position));
    }
  }
  return docs;
}
