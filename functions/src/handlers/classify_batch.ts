/**
 * A batch message's images (`{"images": […]}` or a listed `gs://bucket/prefix/`), classified
 * INFERENCE_BATCH at a time: a group is read, decoded on libuv's threads and run through the
 * engine as one batch, while the next group's reads are already under way. Memory is bounded
 * by the group, not the message.
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

/** Classifies every entry; returns one document per entry, in order (docs[i] for entries[i]). */
export async function classifyBatch(job: BatchJob): Promise<Record<string, unknown>[]> {
  const {run, entries, groupSize, logger} = job;
  const size = entries.length;
  const docs: Record<string, unknown>[] = [];
  const ctx = {...run, ran: run.lease.record};

  const readGroup = (start: number) => {
    const reads = Promise.all(
      entries.slice(start, start + groupSize).map(async (entry): Promise<Uint8Array | PermanentError> => {
        if (entry instanceof MessageError) return entry;
        try {
          return await job.read(entry);
        } catch (e) {
          if (isPermanent(e)) return e;
          throw e;
        }
      })
    );
    // Awaited later; until then a rejection must not count as unhandled (it would end the process).
    reads.catch(() => {});
    return reads;
  };

  let next = readGroup(0);
  for (let start = 0; start < size; start += groupSize) {
    const read = await next;
    if (start + groupSize < size) next = readGroup(start + groupSize);
    const ok = read.filter((r): r is Uint8Array => r instanceof Uint8Array);
    const answers = await run.lease.classifier.classifyMany(ok, job.topK);
    let a = 0;
    for (let j = 0; j < read.length; j++) {
      const index = start + j;
      const entry = entries[index]!;
      const image = entry instanceof MessageError ? null : imageName(entry);
      const position = {index, size, group: ok.length};
      const bytes = read[j]!;
      const answer = bytes instanceof Uint8Array ? answers[a++]! : bytes;
      if (isPermanent(answer)) {
        // A bad entry never reached the model: it is not counted against either arm.
        if (!(entry instanceof MessageError)) job.count?.({failure: answer.kind});
        docs.push(failed(ctx, image, answer, logger, position));
        continue;
      }
      job.count?.({latencyMs: (answer.inference_ms + answer.preprocess_ms) / Math.max(1, ok.length)});
      const shadow = job.shadow ? await job.shadow(bytes as Uint8Array, answer) : null;
      docs.push(predicted(run, image!, answer, shadow, logger, position));
    }
  }
  return docs;
}
