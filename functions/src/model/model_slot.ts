/**
 * One model key's place in classifyImage's model cache (model_cache.ts): at most one model
 * serving for the key, swapped when the record's `model_id` changes.
 *
 * - The *promise* of a load is cached, so concurrent invocations share one load.
 * - The serving pair `{model, record}` is immutable and swapped whole: a prediction always
 *   carries the model_id of the model that actually ran it.
 * - While a new model loads, invocations keep using the old one (a swap costs the traffic
 *   nothing); with no model yet, they wait for the load.
 * - The old model is disposed only when the last lease on it is released.
 * - A failed load keeps the old model serving and is retried only after a back-off.
 * - Never backwards by accident: an invocation holding a record snapshot older (by the
 *   document's server-side `revision`) than one already seen is served the newer one. A
 *   rollback or a pin is a new revision, so it still moves the cache to the older model.
 */
import type {CurrentModel} from '../core/model_record.js';
import type {Logger} from '../core/log.js';
import type {Classifier, Lease} from '../core/ports.js';

import {ModelUnavailableError} from '../core/errors.js';
export {ModelUnavailableError};

/** A loaded model and its leases (handed whole from slot to slot, never copied). */
export interface Entry {
  readonly model: Classifier;
  readonly record: CurrentModel;
  readonly loadMs: number;
  leases: number;
  retired: boolean;
}

/** Counters for logs and tests, shared by the slots of one cache. */
export interface CacheStats {
  loads: number;
  failedLoads: number;
  disposed: number;
  evictions: number;
}

/** What a slot needs from its cache. */
export interface SlotOptions {
  readonly backoffMs: number;
  readonly logger: Logger;
  readonly now?: () => number;
  readonly stats: CacheStats;
  /** Hands out lease numbers, one sequence for the whole instance. */
  readonly nextSeq: () => number;
  /** Called when a model starts serving in this slot (the cache then enforces its bounds). */
  readonly onServing: () => void;
  /** Labels of this slot's log lines (`model_key` when the pattern is keyed). */
  readonly labels: Record<string, string>;
  /**
   * CUTOVER=consistent: how long a request waits for the new model instead of being
   * answered by the old one; past it, ModelUnavailableError (the message is redelivered).
   * Unset: CUTOVER=available.
   */
  readonly consistentWaitMs?: number;
}

/** The load, or ModelUnavailableError after `ms` (the load goes on: a redelivery finds it). */
function within<T>(load: Promise<T>, ms: number, modelId: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ModelUnavailableError(`model ${modelId} still loading after ${ms} ms (CUTOVER=consistent)`)),
      ms
    );
  });
  return Promise.race([load, timeout]).finally(() => clearTimeout(timer));
}

/** A model key's serving model, its load in flight and its failed-load back-off. */
export class ModelSlot {
  private active: Entry | null = null;
  private loading: {modelId: string; promise: Promise<Entry>} | null = null;
  private failure: {modelId: string; until: number; reason: string} | null = null;
  /** The model_id most recently asked for: a slower, older load must not replace it. */
  private wanted: string | null = null;
  /** The newest record seen, by `revision`. */
  private latest: CurrentModel | null = null;
  private readonly stats: CacheStats;

  constructor(
    private readonly load: (record: CurrentModel) => Promise<Classifier>,
    private readonly options: SlotOptions
  ) {
    this.stats = options.stats;
  }

  /** The model_id currently serving, if any. */
  get activeModelId(): string | null {
    return this.active?.record.model_id ?? null;
  }

  /** Weight bytes of the serving model (0 when none). */
  get bytes(): number {
    return this.active?.model.byteSize ?? 0;
  }

  /** Whether a load is in flight (such a slot is never evicted: its load would land nowhere). */
  get isLoading(): boolean {
    return this.loading !== null;
  }

  /**
   * Stops serving this key: the model is disposed when its last lease is released, never
   * under a request that uses it. The cache drops the slot afterwards.
   */
  /** Hands over the serving model if it is `modelId`; this slot then serves nothing. */
  give(modelId: string): Entry | null {
    const active = this.active;
    if (active?.record.model_id !== modelId) return null;
    this.active = null;
    return active;
  }

  /**
   * Serves a model another slot already loaded (a promoted candidate moving to its key's
   * stable slot): no second load, and no stale answers while one would run.
   */
  adopt(entry: Entry): void {
    const old = this.active;
    this.active = entry;
    this.wanted = entry.record.model_id;
    this.failure = null;
    if (old) this.retire(old);
    this.options.onServing();
  }

  evict(): CurrentModel | null {
    const active = this.active;
    this.active = null;
    if (active) this.retire(active);
    return active?.record ?? null;
  }

  /** Leases the model for `record`, loading it if needed (see the module comment). */
  async acquire(asked: CurrentModel, consistentWaitMs = this.options.consistentWaitMs): Promise<Lease> {
    const record = this.newest(asked);
    const active = this.active;
    if (active && active.record.model_id === record.model_id) return this.lease(active, false);
    const now = (this.options.now ?? Date.now)();
    // CUTOVER=consistent (or a rollout's candidate): never answer with the old model once the
    // record names a new one.
    if (this.failure?.modelId === record.model_id && now < this.failure.until) {
      if (active && consistentWaitMs === undefined) return this.lease(active, true);
      throw new ModelUnavailableError(
        `model ${record.model_id} failed to load (${this.failure.reason}); retrying after the back-off`
      );
    }
    const promise = this.startLoad(record);
    if (active && consistentWaitMs === undefined) return this.lease(active, true);
    try {
      const entry = active ? await within(promise, consistentWaitMs!, record.model_id) : await promise;
      // If a newer load won meanwhile, serve that one (its own record goes with it).
      return this.lease(entry.retired && this.active ? this.active : entry, false);
    } catch (e) {
      if (e instanceof ModelUnavailableError) throw e;
      throw new ModelUnavailableError(`model ${record.model_id} cannot be loaded: ${(e as Error).message}`);
    }
  }

  /** `record`, unless a newer record (by `revision`) was already seen: then that one. */
  private newest(record: CurrentModel): CurrentModel {
    const latest = this.latest;
    if (latest?.revision && record.revision && record.revision < latest.revision) return latest;
    this.latest = record;
    return record;
  }

  private startLoad(record: CurrentModel): Promise<Entry> {
    this.wanted = record.model_id;
    if (this.loading?.modelId === record.model_id) return this.loading.promise;
    const started = performance.now();
    const promise = this.load(record).then(
      model => {
        const entry: Entry = {model, record, loadMs: performance.now() - started, leases: 0, retired: false};
        this.stats.loads++;
        if (this.wanted !== record.model_id && this.active) {
          // The record moved on while this loaded: never swap back to an older model.
          entry.retired = true;
          this.dispose(entry);
          return entry;
        }
        const old = this.active;
        this.active = entry;
        this.failure = null;
        if (this.loading?.promise === promise) this.loading = null;
        if (old) this.retire(old);
        this.options.onServing();
        this.options.logger.log('INFO', `classifyImage: now serving ${record.model_id}`, {
          ...this.options.labels,
          model_id: record.model_id,
          previous_model_id: old?.record.model_id ?? null,
          [`${record.model_name}_load_model_latency_ms`]: Math.round(entry.loadMs),
          [`${record.model_name}_model_byte_size`]: model.byteSize,
          engine: model.engine,
          backend: model.backend,
          // Fixed names as well, for log-based metrics (infra/monitoring.tf) labelled by model.
          load_model_latency_ms: Math.round(entry.loadMs),
          'logging.googleapis.com/labels': {
            ...this.options.labels,
            model_name: record.model_name,
            function: 'classifyImage',
          },
        });
        return entry;
      },
      (e: unknown) => {
        this.stats.failedLoads++;
        const reason = (e as Error).message;
        this.failure = {
          modelId: record.model_id,
          until: (this.options.now ?? Date.now)() + this.options.backoffMs,
          reason,
        };
        if (this.loading?.promise === promise) this.loading = null;
        this.options.logger.log(
          'ERROR',
          `classifyImage: model ${record.model_id} failed to load; ${this.active ? `still serving ${this.active.record.model_id}` : 'no model serving'}`,
          {
            ...this.options.labels,
            model_id: record.model_id,
            reason,
            [`${record.model_name}_failed_loads`]: this.stats.failedLoads,
          }
        );
        throw e;
      }
    );
    // Callers that do not wait (an old model is serving) must not leave the rejection unhandled.
    promise.catch(() => {});
    this.loading = {modelId: record.model_id, promise};
    return promise;
  }

  private lease(entry: Entry, stale: boolean): Lease {
    entry.leases++;
    let released = false;
    return {
      classifier: entry.model,
      record: entry.record,
      stale,
      seq: this.options.nextSeq(),
      release: () => {
        if (released) return;
        released = true;
        entry.leases--;
        if (entry.retired && entry.leases === 0) this.dispose(entry);
      },
    };
  }

  private retire(entry: Entry): void {
    entry.retired = true;
    if (entry.leases === 0) this.dispose(entry);
  }

  private dispose(entry: Entry): void {
    entry.model.dispose();
    this.stats.disposed++;
  }
}
