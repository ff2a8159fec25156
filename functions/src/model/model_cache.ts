/**
 * The model cache of classifyImage: which Classifier serves which model key, bounded as
 * Beam bounds a worker with `max_models_per_worker_hint`.
 *
 * - Each key has a {@link ModelSlot}: one serving model, swapped when the key's record
 *   changes (the swap, lease and back-off rules are the slot's).
 * - The cache keeps at most `maxModels` models and `maxBytes` weight bytes. When a model
 *   starts serving past either bound, the least recently used *other* keys are evicted
 *   until it fits. One model larger than the whole budget still serves, alone.
 * - Eviction never disposes a model under a request: the slot retires it, and it is
 *   disposed when its last lease is released. A slot with a load in flight is not evicted.
 * - Without `{key}` in the pattern there is one key, and this is exactly the one-slot cache.
 */
import type {CurrentModel} from '../core/model_record.js';
import type {Logger} from '../core/log.js';
import type {Classifier, Lease, ModelProvider} from '../core/ports.js';
import {ModelSlot, type CacheStats} from './model_slot.js';

export {ModelUnavailableError} from './model_slot.js';

/** How long a consistent acquire waits for a load when CUTOVER_WAIT is not given. */
const DEFAULT_WAIT_MS = 30_000;

/** The key of an unkeyed deployment's only model (callers that name no key). */
const SINGLE = 'current';

/** Options of {@link ModelCache}. */
export interface ModelCacheOptions {
  readonly backoffMs: number;
  readonly logger: Logger;
  readonly now?: () => number;
  /** Most models kept at once (default: unbounded). */
  readonly maxModels?: number;
  /** Most weight bytes kept at once (default: unbounded). */
  readonly maxBytes?: number;
  /** Whether keys are named in log lines (`model_key`): true for a keyed pattern. */
  readonly keyed?: boolean;
  /** CUTOVER=consistent: wait this long for a new model rather than answer with the old (see ModelSlot). */
  readonly consistentWaitMs?: number;
}

/** One cached model, for `status`-like views and tests. */
export interface CachedModel {
  readonly key: string;
  readonly model_id: string;
  readonly bytes: number;
}

/** The cache itself: a slot per key, LRU-evicted within the model and byte bounds (see above). */
export class ModelCache implements ModelProvider {
  /** Slots in least-recently-used-first order (a Map keeps insertion order; use re-inserts). */
  private readonly slots = new Map<string, ModelSlot>();
  readonly stats: CacheStats = {loads: 0, failedLoads: 0, disposed: 0, evictions: 0};
  private leaseCount = 0;
  private lastKey = SINGLE;

  constructor(
    private readonly load: (record: CurrentModel, key: string) => Promise<Classifier>,
    private readonly options: ModelCacheOptions
  ) {}

  /** The model_id serving the most recently used key, if any. */
  get activeModelId(): string | null {
    return this.slots.get(this.lastKey)?.activeModelId ?? null;
  }

  /** The models kept now, least recently used first. */
  cached(): CachedModel[] {
    return [...this.slots].flatMap(([key, slot]) =>
      slot.activeModelId ? [{key, model_id: slot.activeModelId, bytes: slot.bytes}] : []
    );
  }

  /**
   * Leases the model for `record` under `key`, loading it if needed. `options.consistent`:
   * wait for that very model (up to CUTOVER_WAIT, default 30 s) rather than lease the one it
   * replaces, whatever CUTOVER says (a rollout's candidate arm is answered by the candidate only).
   */
  acquire(record: CurrentModel, key: string = SINGLE, options: {consistent?: boolean} = {}): Promise<Lease> {
    let slot = this.slots.get(key);
    if (slot) this.slots.delete(key);
    else slot = this.newSlot(key);
    this.slots.set(key, slot); // most recently used last
    this.lastKey = key;
    if (slot.activeModelId !== record.model_id && !slot.isLoading) this.adoptFromOtherSlot(slot, key, record.model_id);
    return slot.acquire(record, options.consistent ? (this.options.consistentWaitMs ?? DEFAULT_WAIT_MS) : undefined);
  }

  /** Moves `modelId` here if another slot serves it (a candidate just promoted): same bytes, no reload. */
  private adoptFromOtherSlot(slot: ModelSlot, key: string, modelId: string): void {
    for (const [other, donor] of this.slots) {
      if (other === key) continue;
      const entry = donor.give(modelId);
      if (!entry) continue;
      if (!donor.isLoading) this.slots.delete(other);
      slot.adopt(entry);
      return;
    }
  }

  private newSlot(key: string): ModelSlot {
    const labels: Record<string, string> = this.options.keyed ? {model_key: key} : {};
    return new ModelSlot(record => this.load(record, key), {
      backoffMs: this.options.backoffMs,
      logger: this.options.logger,
      ...(this.options.now ? {now: this.options.now} : {}),
      stats: this.stats,
      nextSeq: () => ++this.leaseCount,
      onServing: () => this.enforceBounds(key),
      labels,
      ...(this.options.consistentWaitMs === undefined ? {} : {consistentWaitMs: this.options.consistentWaitMs}),
    });
  }

  /** Evicts least recently used keys other than `keep` until both bounds hold. */
  private enforceBounds(keep: string): void {
    const maxModels = this.options.maxModels ?? Infinity;
    const maxBytes = this.options.maxBytes ?? Infinity;
    const held = () => [...this.slots.values()].filter(s => s.activeModelId || s.isLoading);
    const bytes = () => held().reduce((sum, s) => sum + s.bytes, 0);
    for (const [key, slot] of [...this.slots]) {
      if (held().length <= maxModels && bytes() <= maxBytes) return;
      if (key === keep || slot.isLoading || !slot.activeModelId) continue;
      const record = slot.evict();
      this.slots.delete(key);
      this.stats.evictions++;
      this.options.logger.log(
        'INFO',
        `classifyImage: evicted ${record?.model_id} (key '${key}', least recently used) to keep the cache under ${maxModels} models and ${maxBytes} bytes`,
        {
          model_key: key,
          model_id: record?.model_id ?? null,
          outcome: 'evicted',
          cached_models: held().length,
          cached_bytes: bytes(),
        }
      );
    }
  }
}
