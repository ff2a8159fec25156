import type {EngineModel} from '../engine.js';
import type {InferencePool} from './pool.js';

/**
 * A model living in the inference pool's workers (pool.ts), behind the {@link EngineModel}
 * interface: a batch goes to the pool as one request per image, its rows come back as one output.
 */
export class PooledModel implements EngineModel {
  readonly engine = 'tfjs';
  private disposed = false;

  constructor(
    private readonly pool: InferencePool,
    /** The model's key in the pool's workers. */
    readonly key: string,
    readonly outputWidth: number,
    readonly backend: string
  ) {}

  async predict(batch: Float32Array, count: number): Promise<Float32Array> {
    if (this.disposed) throw new Error(`model ${this.key} was disposed`);
    const size = batch.length / count;
    // slice, not subarray: posting a view would copy its whole buffer to the worker.
    const images = Array.from({length: count}, (_, i) => batch.slice(i * size, (i + 1) * size));
    const rows = await this.pool.predict(this.key, images);
    const out = new Float32Array(rows.reduce((n, r) => n + r.length, 0));
    rows.forEach((r, i) => out.set(r, i * r.length));
    return out;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.pool.dispose(this.key);
  }
}
