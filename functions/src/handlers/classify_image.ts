/**
 * `classifyImage`: Pub/Sub "message published" → read the model record (coalesced), make
 * sure the cached model is that one (lazy reload), read and preprocess the image,
 * classify, and write `predictions/{hash}-{messageId}`: Beam's ReadFromPubSub → read_image →
 * RunInference(model_metadata side input) → PostProcessor. A batch message (a JSON list of
 * paths, or a folder to list) goes through classify_batch.ts: a document per image.
 *
 * Permanent problems (bad message, missing object, undecodable image) are recorded as a
 * failure document and acknowledged; transient ones (Firestore, Storage unavailable; no
 * model recorded yet) are thrown so that Pub/Sub delivers again.
 */
import type {CloudEvent} from '@google-cloud/functions-framework';
import type {Config} from '../config.js';
import {isPermanent, ModelUnavailableError, UnknownModelError} from '../core/errors.js';
import {messageModelKey} from '../core/model_key.js';
import type {CurrentModel} from '../core/model_record.js';
import type {Logger} from '../core/log.js';
import {imageName} from '../core/image_request.js';
import type {
  Classification,
  FileStore,
  Lease,
  ModelProvider,
  ModelRegistry,
  ObjectStore,
  PredictionSink,
} from '../core/ports.js';
import {count, type RolloutCounts} from '../core/rollout_counts.js';
import {classifyBatch} from './classify_batch.js';
import {listFolder, readImage, startRequest} from './image_input.js';
import {failed, predicted, type MessageRun} from './results.js';
import {acquireCandidate, routeOf, RolloutTally, shadowRun, type Route} from './rollout_tally.js';

/** The Pub/Sub CloudEvent payload (`google.events.cloud.pubsub.v1.MessagePublishedData`). */
export interface MessagePublishedData {
  message?: {
    data?: string;
    messageId?: string;
    message_id?: string;
    publishTime?: string;
    attributes?: Record<string, string>;
  };
  subscription?: string;
}

/** Dependencies of {@link makeClassifyImageHandler}. */
export interface ClassifyImageDeps {
  readonly config: Pick<
    Config,
    | 'imageBuckets'
    | 'localImageDir'
    | 'maxEventAgeMs'
    | 'topK'
    | 'maxImageBytes'
    | 'maxImagePixels'
    | 'maxBatchImages'
    | 'inferenceBatch'
    | 'modelFilePattern'
    | 'currentDocument'
    | 'modelKeyAttribute'
    | 'defaultModelKey'
    | 'rolloutFlushMs'
    | 'rolloutThresholds'
    | 'cutover'
    | 'recordMaxStalenessMs'
  >;
  /** The record of a model key (one key, CURRENT_MODEL_DOC, without `{key}` in the pattern). */
  readonly registry: (key: string) => ModelRegistry;
  readonly objects: ObjectStore;
  readonly files: FileStore;
  readonly predictions: PredictionSink;
  readonly models: ModelProvider;
  readonly logger: Logger;
  readonly now: () => Date;
  /** This instance's id, under which it reports rollout counts (default: random). */
  readonly instance?: string;
}

/** Longest preview of a bad message's data kept in its failure document. */
const PREVIEW_CHARS = 200;

/** A bad message's data as readable text: control characters escaped, cut at PREVIEW_CHARS. */
export function preview(data: Buffer): string {
  const text = data.toString('utf8');
  const shown = JSON.stringify(text.slice(0, PREVIEW_CHARS)).slice(1, -1);
  return text.length > PREVIEW_CHARS ? `${shown}… (${data.length} bytes)` : shown;
}

/** Builds the classifyImage CloudEvent handler. */
export function makeClassifyImageHandler(
  deps: ClassifyImageDeps
): (event: CloudEvent<MessagePublishedData>) => Promise<void> {
  const {config, logger} = deps;
  // Record reads per key. A read in flight is shared by every invocation that asks meanwhile;
  // with RECORD_MAX_STALENESS_MS a finished read is reused until it is that old. A failed read
  // is dropped at once (its callers redeliver). CUTOVER=consistent shares nothing: a read in
  // flight may have started before this message was published, and miss a promotion.
  const reads = new Map<string, {at: number; done: boolean; record: Promise<CurrentModel | null>}>();
  const currentRecord = (key: string): Promise<CurrentModel | null> => {
    if (config.cutover === 'consistent') return deps.registry(key).current();
    const now = deps.now().getTime();
    const kept = reads.get(key);
    if (kept && (!kept.done || now - kept.at < config.recordMaxStalenessMs)) return kept.record;
    const read = {at: now, done: false, record: deps.registry(key).current()};
    reads.set(key, read);
    read.record.then(
      () => (read.done = true),
      () => reads.get(key) === read && reads.delete(key)
    );
    return read.record;
  };
  const keyed = config.modelFilePattern.keyed;
  const keys = {
    keyed,
    attribute: config.modelKeyAttribute,
    defaultKey: config.defaultModelKey,
    unkeyed: config.currentDocument,
  };
  // Only a keyed deployment names the key in documents and logs (unkeyed ones stay as they were).
  const keyFields = (key: string | null) => (keyed ? {model_key: key} : {});
  const policy = {imageBuckets: config.imageBuckets, localImageDir: config.localImageDir};
  const tally = new RolloutTally({
    instance: deps.instance ?? `instance-${Math.random().toString(36).slice(2, 10)}`,
    intervalMs: config.rolloutFlushMs,
    thresholds: config.rolloutThresholds,
    registry: deps.registry,
    logger,
    now: deps.now,
  });

  const handle = async (event: CloudEvent<MessagePublishedData>): Promise<void> => {
    const started = performance.now();
    // functions-framework converts raw push bodies only when message.data is non-empty;
    // an empty message arrives unconverted, with the push body as the event itself.
    const payload = event.data ?? (event as unknown as MessagePublishedData);
    const message = payload?.message ?? {};
    const messageId = message.messageId || message.message_id || event.id;
    if (!messageId) throw new Error('event has neither a Pub/Sub messageId nor a CloudEvent id');
    const published = Date.parse(message.publishTime ?? event.time ?? '');
    const ageMs = Number.isNaN(published) ? 0 : deps.now().getTime() - published;
    if (ageMs > config.maxEventAgeMs) {
      logger.log(
        'WARNING',
        `classifyImage: dropped message ${messageId}: ${Math.round(ageMs / 1000)} s old, over MAX_EVENT_AGE`,
        {
          message_id: messageId,
          outcome: 'dropped_too_old',
        }
      );
      return;
    }
    const data = Buffer.from(message.data ?? '', 'base64');
    let key: string | null = null;
    let record: CurrentModel | null = null;
    let registryReadMs = 0;
    let route: Route | null = null;
    let counts: RolloutCounts | null = null;
    let image = '';
    let lease: Lease | null = null;
    const base = {message_id: messageId, created: deps.now().toISOString()};
    const asked = startRequest(data, policy, deps);
    try {
      key = messageModelKey(message.attributes, keys);
      const t0 = performance.now();
      record = await currentRecord(key); // transient errors propagate: redeliver
      registryReadMs = performance.now() - t0;
      if (!record && keyed)
        throw new UnknownModelError(`no model is recorded for key '${key}' (${config.modelFilePattern.raw})`);
      if (!record)
        throw new Error('no model has been recorded yet (upload a .h5 matching MODEL_FILE_PATTERN); will retry');
      if ('error' in asked) throw asked.error;
      const {request} = asked;
      if (request.kind === 'single') image = imageName(request.location);
      route = routeOf(record, messageId);
      counts = route.rollout ? tally.counts(key, route.rollout.candidate.model_id) : null;
      // Acquire first (instant unless a load is due), so that the finally below always releases it.
      let candidateError: {kind: string; message: string} | null = null;
      if (route.arm === 'candidate') {
        try {
          lease = await acquireCandidate(deps.models, record, route.rollout!, key);
        } catch (e) {
          if (!(e instanceof ModelUnavailableError)) throw e;
          // A candidate that cannot load fails this message's candidate share: count it against
          // the candidate (the judge rolls it back) and answer with stable.
          candidateError = {kind: 'model_unavailable', message: e.message.split('\n')[0]!};
          count(counts![route.arm], {failure: candidateError.kind});
          route = {...route, arm: 'stable'};
        }
      }
      lease ??= await deps.models.acquire(record, key);
      const arm = route.arm;
      const run: MessageRun = {
        messageId,
        base,
        keyFields: keyFields(key),
        armFields: route.rollout ? {arm, ...(candidateError ? {candidate_error: candidateError} : {})} : {},
        lease,
        registryReadMs,
        started,
      };
      const tallied = counts;
      const rollout = route.rollout;
      const shadowOf =
        route.shadow && tallied && rollout
          ? (bytes: Uint8Array, served: Classification) =>
              shadowRun(
                {models: deps.models, record: record!, rollout, key: key!, bytes, topK: config.topK, served},
                tallied
              )
          : null;
      if (request.kind === 'single') {
        const bytes = await request.bytes; // read since the invocation began (startRequest)
        const r = await lease.classifier.classify(bytes, config.topK);
        if (tallied) count(tallied[arm], {latencyMs: r.inference_ms + r.preprocess_ms});
        const shadow = shadowOf ? await shadowOf(bytes, r) : null;
        await deps.predictions.write(messageId, predicted(run, image, r, shadow, logger));
      } else {
        const docs = await classifyBatch({
          run,
          entries: request.kind === 'batch' ? request.entries : await listFolder(request, deps, config.maxBatchImages),
          inFlight: config.inferenceBatch,
          topK: config.topK,
          read: location => readImage(location, deps, config.maxImageBytes),
          shadow: shadowOf,
          count: tallied ? outcome => count(tallied[arm], outcome) : null,
          logger,
        });
        await deps.predictions.writeBatch(messageId, docs);
      }
    } catch (e) {
      if (!isPermanent(e)) throw e;
      // A failure counts against the arm whose model was chosen for the message.
      if (counts && route && lease) count(counts[route.arm], {failure: e.kind});
      const failure = {
        messageId,
        base,
        keyFields: keyFields(key),
        armFields: route?.rollout ? {arm: route.arm} : {},
        ran: lease?.record ?? record,
        registryReadMs,
        // What the message said, when it named no usable image (so `status` can show it).
        extra: image ? {} : {message_data: preview(data)},
      };
      await deps.predictions.write(messageId, failed(failure, image || null, e, logger));
    } finally {
      lease?.release();
    }
    if (counts) await tally.maybeFlush(); // never throws: a failed flush is logged and retried
  };

  return async event => {
    try {
      await handle(event);
    } catch (e) {
      // Only transient problems get here (permanent ones are recorded and acknowledged):
      // say so in one structured line, then throw, so that Pub/Sub delivers it again.
      logger.log('WARNING', `classifyImage: will be redelivered: ${(e as Error).message.split('\n')[0]}`, {
        message_id: event.data?.message?.messageId ?? event.id,
        outcome: 'retry',
      });
      throw e;
    }
  };
}
