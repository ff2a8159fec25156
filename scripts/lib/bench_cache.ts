/**
 * Why the one-thread MobileNetV2 time moves between runs: the same 1×1 convolutions, on one
 * ONNX Runtime thread, as the bytes of weights each run reads outgrow the CPU's cache.
 *
 * A chain of 1×1 convolutions on a 7×7 map, 160 → 960 → 160 … channels with ReLU (the shape
 * of MobileNetV2's last blocks), 614 KB of float32 weights a layer; only the chain's length
 * changes, so the FLOP per weight byte stays the same and any loss of rate is the weights no
 * longer staying in cache between runs. MobileNetV2 reads about 14 MB of weights a run.
 */
import {loadOrt, sessionOptions} from '../../functions/src/model/engines/onnx/session.js';
import {OnnxBuilder, attr} from '../../functions/src/model/engines/onnx/builder.js';
import {median, round, times} from './stats.js';

const [HW, NARROW, WIDE] = [7, 160, 960];

/** Deterministic small weights: the rate does not depend on their values. */
function weights(n: number, seed: number): Float32Array {
  return Float32Array.from({length: n}, (_, i) => (((i * 7919 + seed * 104729) % 97) - 48) / 4800);
}

function chain(layers: number): Uint8Array {
  const b = new OnnxBuilder();
  b.fresh('input');
  let x = 'input';
  for (let i = 0; i < layers; i++) {
    const [cin, cout] = i % 2 ? [WIDE, NARROW] : [NARROW, WIDE];
    const w = b.floats('w', weights(cin * cout, i), [cout, cin, 1, 1]);
    const bias = b.floats('b', weights(cout, i + 1), [cout]);
    x = b.op('Relu', [b.op('Conv', [x, w, bias], 'conv', [attr.ints('kernel_shape', [1, 1])])], 'relu');
  }
  return b.encode('chain', {name: 'input', dims: [NARROW, HW, HW]}, {name: x, shape: [NARROW, HW, HW], storage: 'cf'});
}

export interface CacheRow {
  layers: number;
  weights_mb: number;
  gflops: number;
  share_of_peak: string;
}

/**
 * GFLOP/s of chains of 8 to 64 layers (4.9 to 39 MB of weights), three interleaved rounds
 * of a median of `runs` each, the median round kept; `peakGflops` is the same run's peak.
 */
export async function weightStreaming(peakGflops: number, runs = 60): Promise<CacheRow[]> {
  const {InferenceSession, Tensor} = await loadOrt();
  const lengths = [8, 16, 32, 64];
  const sessions = await Promise.all(lengths.map(n => InferenceSession.create(chain(n), sessionOptions({threads: 1}))));
  const input = new Tensor('float32', weights(NARROW * HW * HW, 0), [1, NARROW, HW, HW]);
  const rounds: number[][] = lengths.map(() => []);
  try {
    for (let round_ = 0; round_ < 3; round_++) {
      for (const [i, session] of sessions.entries())
        rounds[i]!.push(median(await times(runs, () => session.run({input}))));
    }
  } finally {
    await Promise.all(sessions.map(s => s.release()));
  }
  return lengths.map((layers, i) => {
    const flop = layers * 2 * HW * HW * NARROW * WIDE;
    const gflops = flop / (median(rounds[i]!) / 1000) / 1e9;
    return {
      layers,
      weights_mb: round((layers * (NARROW * WIDE) * 4) / 1e6, 1),
      gflops: round(gflops, 1),
      share_of_peak: `${Math.round((gflops / peakGflops) * 100)} %`,
    };
  });
}
