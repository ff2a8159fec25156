/**
 * classifyImage's results: the prediction document and the structured log line of one
 * image, answered or failed, shared by single-image and batch messages so that both write
 * the same fields (and the log-based metrics count every image, one line each).
 */
import type {Logger} from '../core/log.js';
import type {PermanentError} from '../core/errors.js';
import type {Classification, Lease} from '../core/ports.js';

/** What every image of one message shares: its model, arm and message. */
export interface MessageRun {
  readonly messageId: string;
  /** `message_id` and `created`. */
  readonly base: {readonly message_id: string; readonly created: string};
  /** `model_key` in keyed deployments, else nothing. */
  readonly keyFields: Record<string, unknown>;
  /** `arm` (and `candidate_error`) during a rollout, else nothing. */
  readonly armFields: Record<string, unknown>;
  readonly lease: Lease;
  readonly registryReadMs: number;
  /** performance.now() when the invocation began. */
  readonly started: number;
}

/** Where an image sits in a batch message (absent for a single-image message). */
export interface BatchPosition {
  readonly index: number;
  /** Images in the message. */
  readonly size: number;
}

/** The document and log line of an answered image. */
export function predicted(
  run: MessageRun,
  image: string,
  r: Classification,
  shadow: Record<string, unknown> | null,
  logger: Logger,
  batch?: BatchPosition
): Record<string, unknown> {
  const {lease} = run;
  const name = lease.record.model_name;
  const {engine, backend} = lease.classifier;
  const position = batch ? {batch_index: batch.index, batch_size: batch.size} : {};
  logger.log('INFO', `classifyImage: ${image} → ${r.label} (${r.score.toFixed(3)}) by ${name}`, {
    message_id: run.messageId,
    ...position,
    outcome: 'predicted',
    model_id: lease.record.model_id,
    ...run.keyFields,
    ...run.armFields,
    ...(shadow && 'agrees' in shadow ? {shadow_agrees: shadow['agrees']} : {}),
    engine,
    backend,
    stale_model: lease.stale,
    lease_seq: lease.seq,
    [`${name}_num_inferences`]: 1,
    [`${name}_inference_latency_ms`]: Math.round(r.inference_ms),
    inference_latency_ms: Math.round(r.inference_ms), // fixed name for the log-based metric
    [`${name}_model_byte_size`]: lease.classifier.byteSize,
    registry_read_ms: Math.round(run.registryReadMs),
    preprocess_ms: Math.round(r.preprocess_ms),
    elapsed_ms: Math.round(performance.now() - run.started),
    'logging.googleapis.com/labels': {...run.keyFields, model_name: name, function: 'classifyImage'},
  });
  return {
    ...run.base,
    ...position,
    image,
    label: r.label,
    score: r.score,
    top_k: r.top_k.map(t => ({label: t.label, score: t.score})),
    // The model that actually ran, captured with it (never re-read afterwards).
    model_id: lease.record.model_id,
    model_name: name,
    ...run.keyFields,
    ...run.armFields,
    // The candidate's answer in shadow mode: stored beside, never served.
    ...(shadow ? {shadow} : {}),
    // True when the record already names a newer model that is still loading here.
    stale_model: lease.stale,
    engine,
    backend,
    timings: {registry_read_ms: run.registryReadMs, preprocess_ms: r.preprocess_ms, inference_ms: r.inference_ms},
  };
}

/** What a failure document says beside its error. */
export interface FailureContext {
  readonly messageId: string;
  readonly base: MessageRun['base'];
  readonly keyFields: Record<string, unknown>;
  readonly armFields: Record<string, unknown>;
  /** The model chosen for the message, if it got that far. */
  readonly ran: {readonly model_id: string; readonly model_name: string} | null;
  readonly registryReadMs: number;
  /** Extra fields of the document (`message_data` for a message that named no image). */
  readonly extra?: Record<string, unknown>;
}

/** The document and log line of an image (or a whole message) that failed permanently. */
export function failed(
  ctx: FailureContext,
  image: string | null,
  e: PermanentError,
  logger: Logger,
  batch?: BatchPosition
): Record<string, unknown> {
  const kind = e.kind;
  const reason = e.message.split('\n')[0]!;
  const name = ctx.ran?.model_name ?? null;
  const position = batch ? {batch_index: batch.index, batch_size: batch.size} : {};
  logger.log('WARNING', `classifyImage: ${image || 'message'} failed permanently (${kind}): ${reason}`, {
    message_id: ctx.messageId,
    ...position,
    outcome: 'failed',
    error_kind: kind,
    ...ctx.keyFields,
    ...ctx.armFields,
    ...(name ? {[`${name}_failed_inferences`]: 1} : {}),
    registry_read_ms: Math.round(ctx.registryReadMs),
    'logging.googleapis.com/labels': {
      ...ctx.keyFields,
      ...(name ? {model_name: name} : {}),
      function: 'classifyImage',
    },
  });
  return {
    ...ctx.base,
    ...position,
    image,
    ...ctx.extra,
    error: {kind, message: reason},
    model_id: ctx.ran?.model_id ?? null,
    model_name: name,
    ...ctx.keyFields,
    ...ctx.armFields,
  };
}
