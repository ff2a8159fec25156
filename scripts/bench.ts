/**
 * `npm run bench [-- --quick] [-- --out bench/latest.json]`
 *
 * Both engines in one run, on the same inputs: ONNX Runtime (the default) and tfjs as its
 * path ships (wasm on a worker pool of one thread per core). Models: a MobileNetV2 1.0 224
 * written by this project's own Keras writer (Keras' layer names and parameter count,
 * random weights), and the shared MobileNet v1 0.25 where FIXTURES_DIR has it.
 *
 * 1. peak: the CPU's attainable float32 rate, measured as ONNX Runtime running a large
 *    MatMul on one thread (the figure "% of peak" is relative to); ORT's one-thread
 *    MobileNetV2 time is held to it in pairs measured back to back (about 0.1 s each);
 *    then 1×1 convolutions whose weights grow past the cache (why that ratio moves).
 * 2. raw: one model's predict, batch 1 and 8, per engine (and tfjs without BatchNorm
 *    folding, as the previous release ran); ORT threads and spinning.
 * 3. preprocessing: ms per photo (decode with shrink-on-load, resize, scale).
 * 4. handler: classifyImage end to end in this process at concurrency 1, 4 and 16, with
 *    in-memory adapters (no network), default configuration per engine.
 * 5. swap: a stream at concurrency 8 while a new model is recorded.
 * 6. cold start and RSS: a fresh process importing the compiled index.js (as deployed)
 *    and answering its first classifyImage push; record, model and photo read from the
 *    Firestore and Storage emulators, the prediction written to Firestore.
 * 7. roll timeline: finalize event → gate → commit → first prediction by the new model,
 *    one clock, real handlers on the emulators.
 *
 * Prints tables and writes JSON. Targets are reported as met or missed, never asserted.
 */
import {execFileSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {monitorEventLoopDelay} from 'node:perf_hooks';
import {parseArgs} from 'node:util';
import sharp from 'sharp';
import {availableCores} from '../functions/src/model/engines/cores.js';
import {
  createOnnxModel,
  defaultThreads,
  loadOrt,
  sessionOptions,
  type OnnxOptions,
} from '../functions/src/model/engines/onnx/session.js';
import {OnnxBuilder} from '../functions/src/model/engines/onnx/builder.js';
import {initBackend} from '../functions/src/model/engines/tfjs/backend.js';
import {createTfjsModel} from '../functions/src/model/engines/tfjs/model.js';
import {readKerasH5} from '../functions/src/model/keras/h5_reader.js';
import {inputContractFromShape} from '../functions/src/model/contract.js';
import {graphOf as loaderGraph} from '../functions/src/model/loader.js';
import {preprocessImage} from '../functions/src/model/preprocess.js';
import {mobileNetV2File} from './lib/mobilenet_v2.js';
import {ROOT} from './lib/stack.js';
import {runMain} from './lib/cli.js';
import {stackLoad} from './lib/bench_stack.js';
import {
  handlerRuns,
  readsPerMessage,
  rolloutRuns,
  batchRuns,
  rollTimeline,
  swapRun,
  type Engine,
  type Photo,
} from './lib/bench_handler.js';
import {coldStart} from './lib/bench_cold.js';
import {weightStreaming} from './lib/bench_cache.js';
import {median, pct, round, span, times} from './lib/stats.js';

/** Photos: the shared ones, or (for a user without them) synthetic JPEGs, said loudly. */
async function photos(fixtures: string): Promise<Photo[]> {
  const dir = path.join(fixtures, 'images');
  if (fs.existsSync(dir)) {
    return fs
      .readdirSync(dir)
      .sort()
      .map(name => ({name, bytes: fs.readFileSync(path.join(dir, name))}));
  }
  console.log(`!!! no photos at ${dir} (FIXTURES_DIR): using 12 synthetic 640x480 JPEGs`);
  return Promise.all(
    Array.from({length: 12}, async (_, i) => {
      const raw = Buffer.from(Array.from({length: 640 * 480 * 3}, (_, j) => (j * (i + 3) + (j >> 9)) % 256));
      const bytes = await sharp(raw, {raw: {width: 640, height: 480, channels: 3}})
        .jpeg({quality: 85})
        .toBuffer();
      return {name: `synthetic-${i}.jpg`, bytes};
    })
  );
}

/** A [M, K] × [K, N] float32 MatMul in ORT: the attainable rate of `threads` threads. */
async function peakSession(threads: number) {
  const [m, k, n] = [512, 1024, 1024];
  const b = new OnnxBuilder();
  b.fresh('input');
  const weights = b.floats(
    'b',
    Float32Array.from({length: k * n}, (_, i) => ((i % 13) - 6) / 13),
    [k, n]
  );
  const y = b.op('MatMul', ['input', weights], 'y');
  const bytes = b.encode('peak', {name: 'input', dims: [k]}, {name: y, shape: [n], storage: 'keras'});
  const {InferenceSession, Tensor} = await loadOrt();
  const session = await InferenceSession.create(bytes, sessionOptions({threads, spin: 'on'}));
  const input = new Tensor('float32', new Float32Array(m * k).fill(0.5), [m, k]);
  return {
    /** GFLOP/s of the best of `runs` products. */
    async gflops(runs: number): Promise<number> {
      const best = Math.min(...(await times(runs, () => session.run({input}))));
      return (2 * m * k * n) / (best / 1000) / 1e9;
    },
    release: () => session.release(),
  };
}

async function peakGflops(threads: number): Promise<number> {
  const s = await peakSession(threads);
  try {
    return await s.gflops(15);
  } finally {
    await s.release();
  }
}

/**
 * ORT's one-thread MobileNetV2 time against the FLOP-rate limit, in pairs taken back to
 * back (about 0.1 s each; `pair_ms` says): the MatMul peak (best of 5 products), then the
 * model (median of 20 predicts). This machine's speed drifts by 10–15 % within minutes, so a peak and a model
 * time measured minutes apart compare two machines; within a pair both see the same one.
 */
async function flopShare(bytes: Uint8Array, image: Float32Array, flop: number, pairs: number) {
  const contract = inputContractFromShape([null, 224, 224, 3], '-1,1');
  const model = await createOnnxModel(await graphOf(bytes, true), contract, {threads: 1});
  const peak = await peakSession(1);
  const rows: Array<{peak_gflops: number; model_ms: number; limit_ms: number; ratio: number}> = [];
  const durations: number[] = [];
  try {
    for (let i = 0; i < pairs; i++) {
      const start = performance.now();
      const gflops = await peak.gflops(5);
      const ms = median(await times(20, () => model.predict(image, 1)));
      const limit = (flop / (gflops * 1e9)) * 1000;
      rows.push({peak_gflops: gflops, model_ms: ms, limit_ms: limit, ratio: ms / limit});
      durations.push(performance.now() - start);
    }
  } finally {
    model.dispose();
    await peak.release();
  }
  const mid = [...rows].sort((a, b) => a.ratio - b.ratio)[Math.floor((rows.length - 1) / 2)]!;
  return {
    pairs,
    /** MobileNetV2's serialised ONNX model (its weights, nearly all of it), in MB. */
    weights_mb: model.onnxBytes / 1e6,
    /** How long one pair took, warm-ups included (median). */
    pair_ms: round(median(durations), 1),
    median_pair: {
      model_ms: round(mid.model_ms, 2),
      peak_gflops: round(mid.peak_gflops, 1),
      limit_ms: round(mid.limit_ms, 2),
      // Three digits: at two, 1.504 would print as 1.5 and read as within 1.5×.
      ratio: round(mid.ratio, 3),
    },
    /** The median pair's ratio unrounded: what the target is judged on. */
    exact_ratio: mid.ratio,
    ratio_range: span(
      rows.map(r => r.ratio),
      3
    ),
    peak_gflops_range: span(
      rows.map(r => r.peak_gflops),
      1
    ),
  };
}

/** The raw table's rows the headline figure compares: ONNX's default and tfjs as it ships. */
const RAW_ONNX_DEFAULT = `onnx ${defaultThreads()} thread(s), no spinning (default)`;
const RAW_TFJS_SHIPS = 'tfjs wasm, BN folded (ships)';

async function graphOf(bytes: Uint8Array, fold: boolean) {
  return loaderGraph(await readKerasH5(bytes), () => true, fold);
}

/** Raw predict times of one model: ORT at 1 and N threads (spin on/off), tfjs wasm folded and not. */
async function raw(
  bytes: Uint8Array,
  image: Float32Array,
  reps: number
): Promise<Record<string, Record<string, number>>> {
  const graph = await graphOf(bytes, true);
  const contract = inputContractFromShape([null, 224, 224, 3], '-1,1');
  const batch8 = new Float32Array(image.length * 8);
  for (let i = 0; i < 8; i++) batch8.set(image, i * image.length);
  const out: Record<string, Record<string, number>> = {};
  const cores = availableCores();
  const variants: Array<
    [string, () => Promise<{predict: (b: Float32Array, n: number) => Promise<Float32Array>; dispose(): void}>]
  > = [
    [RAW_ONNX_DEFAULT, () => createOnnxModel(graph, contract, {})],
    ['onnx 1 thread', () => createOnnxModel(graph, contract, {threads: 1})],
    [`onnx ${cores} threads, spinning`, () => createOnnxModel(graph, contract, {threads: cores, spin: 'on'})],
    [RAW_TFJS_SHIPS, () => createTfjsModel(graph, contract)],
    ['tfjs wasm, BN unfolded (previous release)', async () => createTfjsModel(await graphOf(bytes, false), contract)],
  ];
  // Two rounds, the second in reverse order, the better median kept: the first variant measured
  // must not pay for a cold CPU, nor a variant for the machine's drift over the run.
  for (let round_ = 0; round_ < 2; round_++) {
    for (const [name, make] of round_ ? [...variants].reverse() : variants) {
      const model = await make();
      const loop = monitorEventLoopDelay({resolution: 1});
      loop.enable();
      const b1 = await times(reps, () => model.predict(image, 1));
      loop.disable();
      const b8 = await times(Math.max(3, Math.round(reps / 4)), () => model.predict(batch8, 8));
      const row = {
        batch1_ms: round(median(b1), 2),
        batch8_ms: round(median(b8), 2),
        batch8_per_image_ms: round(median(b8) / 8, 2),
        event_loop_max_delay_ms: round(loop.max / 1e6, 1),
      };
      const prev = out[name];
      if (!prev || row.batch1_ms < prev.batch1_ms!) out[name] = row;
      model.dispose();
    }
  }
  return out;
}

function table(title: string, rows: Record<string, object>): void {
  console.log(`\n${title}`);
  console.table(rows);
}

async function main(): Promise<void> {
  const {values} = parseArgs({
    options: {
      quick: {type: 'boolean', default: false},
      out: {type: 'string', default: path.join(ROOT, 'bench/latest.json')},
      help: {type: 'boolean', short: 'h', default: false},
    },
  });
  if (values.help) return console.log('usage: npm run bench [-- --quick] [-- --out bench/latest.json]');
  const reps = values.quick ? 15 : 50;
  // The bench talks to emulators only; google-auth must not probe for a metadata server.
  process.env['METADATA_SERVER_DETECTION'] ??= 'none';
  process.env['GOOGLE_CLOUD_PROJECT'] ??= 'demo-bench';
  const fixtures = process.env['FIXTURES_DIR'] ?? path.resolve(ROOT, '../shared/fixtures');
  const started = Date.now();
  const tfjsBackend = (await initBackend()).name;
  console.log(
    `bench: ${os.cpus()[0]?.model ?? 'cpu'}, ${availableCores()} cores, tfjs backend ${tfjsBackend}${values.quick ? ', quick' : ''}`
  );

  // MobileNetV2's FLOP: its multiply-adds counted layer by layer (300.8 M; Sandler et al. 2018
  // give 300 M), two FLOP each.
  const v2File = await mobileNetV2File();
  const v2Flop = 2 * v2File.multiplyAdds;
  const v2 = Buffer.from(v2File.bytes);
  const sharedPath = path.join(fixtures, 'models/keras2/mobilenet_v1_0.25_224_imagenet.h5');
  const shared = fs.existsSync(sharedPath) ? fs.readFileSync(sharedPath) : null;
  if (!shared) console.log(`!!! ${sharedPath} not found: cold start is measured on MobileNetV2 only`);
  const pics = await photos(fixtures);
  const contract = inputContractFromShape([null, 224, 224, 3], '-1,1');
  const image = await preprocessImage(pics[0]!.bytes, contract);

  // 1 + 2. peak and raw; then the one-thread time against the FLOP-rate limit, in pairs.
  const peak1 = await peakGflops(1);
  const peakN = await peakGflops(availableCores());
  const rawV2 = await raw(v2, image, reps);
  table('raw predict, MobileNetV2 1.0 224 (ms)', rawV2);
  const share = await flopShare(v2, image, v2Flop, values.quick ? 4 : 10);
  const peak = {
    method:
      'best of 15 runs of a 512x1024 · 1024x1024 float32 MatMul in ONNX Runtime (MLAS), one thread and all threads',
    gflops_1_thread: round(peak1, 1),
    gflops_all_threads: round(peakN, 1),
    mobilenet_v2_flop: v2Flop,
    flop_counted_as: 'two per multiply-add of the convolutions and the dense layer (scripts/lib/mobilenet_v2.ts)',
  };
  table('peak float32 rate', {peak});
  table(
    `one ORT thread against the FLOP-rate limit: ${share.pairs} pairs back to back, ${share.pair_ms} ms each (peak: best of 5; model: median of 20)`,
    {
      median_pair: share.median_pair,
    }
  );
  console.log(`ratio range over ${share.pairs} pairs: ${share.ratio_range.join('–')}×`);
  // Why that ratio moves: the same kind of layer, on one thread, as its weights outgrow the cache.
  const cache = await weightStreaming(peak1);
  table(
    `1×1 convolutions (7×7 map, 160↔960 channels) on one ORT thread as their weights grow; MobileNetV2 reads ${round(share.weights_mb, 1)} MB a run`,
    Object.fromEntries(cache.map(r => [`${r.layers} layers`, r]))
  );

  // 3. preprocessing: one photo at a time (the latency a lone request sees; the target), in
  // three rounds of every photo 5 times, the best round's median kept (as raw predict keeps the
  // better of two rounds: this machine's speed drifts by 10 % within minutes); then as many
  // photos at once as there are cores (what a loaded instance pays a photo in wall time).
  for (const p of pics) await preprocessImage(p.bytes, contract); // libvips' loaders initialised
  const preRounds: number[][] = [];
  for (let round_ = 0; round_ < 3; round_++) {
    const pre: number[] = [];
    for (let r = 0; r < (values.quick ? 2 : 5); r++) {
      for (const p of pics) {
        const t = performance.now();
        await preprocessImage(p.bytes, contract);
        pre.push(performance.now() - t);
      }
    }
    preRounds.push(pre);
  }
  const pre = preRounds.reduce((best, r) => (median(r) < median(best) ? r : best));
  const preMedian = median(pre);
  const inFlight = availableCores();
  const parallelRounds = values.quick ? 3 : 10;
  const parallelStart = performance.now();
  await Promise.all(
    Array.from({length: inFlight}, async () => {
      for (let r = 0; r < parallelRounds; r++) for (const p of pics) await preprocessImage(p.bytes, contract);
    })
  );
  const preprocess = {
    median_ms: round(preMedian, 2),
    p90_ms: round(pct(pre, 90), 2),
    round_medians_ms: preRounds.map(r => round(median(r), 2)),
    photos: pics.length,
    [`wall_ms_per_photo_${inFlight}_in_flight`]: round(
      (performance.now() - parallelStart) / (inFlight * parallelRounds * pics.length),
      2
    ),
    sharp_threads_per_image: sharp.concurrency(),
    icc_profiles: 'ignored (default)',
  };
  table('preprocessing per photo', {preprocess});

  // 4 + 5. handler and swap, per engine, default configuration of each; beside ONNX's default
  // (every core, no spinning), one thread (the other cores left to decoding) and spinning
  // threads (which compete with it). Two rounds, the second in reverse order so that the
  // machine's drift over the run favours no configuration, the better of each concurrency kept.
  const engines: Engine[] = ['onnx', 'tfjs'];
  const cores = availableCores();
  const handlerConfigs: Array<[string, Engine, OnnxOptions]> = [
    ['onnx', 'onnx', {}],
    ['tfjs', 'tfjs', {}],
    ['onnx 1 thread', 'onnx', {threads: 1, spin: 'off'}],
    [`onnx ${cores} threads, spinning`, 'onnx', {threads: cores, spin: 'on'}],
  ];
  const handler: Record<string, Record<string, {images_per_s: number}>> = {};
  for (const [label, engine, options] of [...handlerConfigs, ...[...handlerConfigs].reverse()]) {
    const run = await handlerRuns(engine, v2, pics, [1, 4, 16], values.quick ? 40 : 120, options);
    const kept = (handler[label] ??= run);
    for (const [c, row] of Object.entries(run)) if (row.images_per_s > kept[c]!.images_per_s) kept[c] = row;
  }
  const swap: Record<string, unknown> = {};
  for (const engine of engines) swap[engine] = await swapRun(engine, v2, pics, values.quick ? 3 : 6);
  table(
    'handler, MobileNetV2, in-memory adapters (images/s, ms); onnx and tfjs = default configuration',
    flatten(handler)
  );
  table('swap at concurrency 8', swap as Record<string, Record<string, unknown>>);
  const rollouts = await rolloutRuns('onnx', v2, pics, values.quick ? 40 : 120);
  const reads = await readsPerMessage('onnx', v2, pics, values.quick ? 160 : 400);
  table('model-record reads per message (document gets on the Firestore emulator; photos in memory; onnx)', reads);
  table('rollouts: served throughput at concurrency 4, onnx (images/s, ms)', rollouts);
  const batches = await batchRuns('onnx', v2, pics, [1, 4, 8, 16], 64, values.quick ? 1 : 3);
  table(
    'batch messages of 64 photos, onnx, one message at a time, INFERENCE_BATCH images in flight (images/s)',
    batches
  );

  // 6 + 7. cold start, RSS and the roll timeline on the emulators
  const cold: Record<string, unknown> = {};
  const timeline: Record<string, unknown> = {};
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
  });
  for (const engine of engines) {
    if (shared) cold[`${engine} mobilenet_v1_0.25 (shared)`] = await coldStart(engine, shared, '-1,1', pics[0]!);
    cold[`${engine} mobilenet_v2_1.0`] = await coldStart(engine, v2, '-1,1', pics[0]!);
    timeline[engine] = await rollTimeline(engine, v2, pics);
  }
  table('cold start on the emulators (ms, MB)', cold as Record<string, Record<string, unknown>>);
  table(
    'finalize → first prediction by the new model, one clock (ms)',
    timeline as Record<string, Record<string, unknown>>
  );

  // 8. the whole stack under load: 2,000 messages through Pub/Sub, two classifyImage processes
  const stackRun = await stackLoad(shared ?? v2, '-1,1', pics, values.quick ? 300 : 2000);
  // The handler alone (in-memory adapters, one process, MobileNetV2) beside it, for scale.
  const handlerC16 = handler['onnx']!['c16']!.images_per_s;
  const load = {...stackRun, handler_onnx_c16_images_per_s: handlerC16};
  table('whole local stack, two classifyImage processes (end to end)', {load});

  const bestC = (e: Engine) => Math.max(handler[e]!['c4']!.images_per_s, handler[e]!['c16']!.images_per_s);
  const shipsTfjs = rawV2[RAW_TFJS_SHIPS]!.batch1_ms!;
  const defaultOnnx = rawV2[RAW_ONNX_DEFAULT]!.batch1_ms!;
  const coldDefault = (
    cold[shared ? 'onnx mobilenet_v1_0.25 (shared)' : 'onnx mobilenet_v2_1.0'] as {first_prediction_ms: number}
  ).first_prediction_ms;
  const rss = (cold['onnx mobilenet_v2_1.0'] as {rss_mb: number}).rss_mb;
  const sw = swap['onnx'] as {failed: number; old_model_after_load: number};
  const targets = [
    target(
      'MobileNetV2 raw batch 1: ONNX (default) ≤ ¼ of tfjs-wasm as shipped',
      `${defaultOnnx} ms vs ${shipsTfjs} ms (${round(shipsTfjs / defaultOnnx, 1)}×)`,
      defaultOnnx <= shipsTfjs / 4
    ),
    target(
      'MobileNetV2 raw batch 1, 1 thread: within 1.5× of the FLOP-rate limit',
      `${share.median_pair.model_ms} ms vs limit ${share.median_pair.limit_ms} ms (${share.median_pair.ratio}×, the median of ${share.pairs} pairs back to back; range ${share.ratio_range.join('–')}×)`,
      share.exact_ratio <= 1.5
    ),
    target(
      'handler throughput at concurrency ≥ 4: ONNX ≥ 3× the wasm pool',
      `${bestC('onnx')} vs ${bestC('tfjs')} images/s (${round(bestC('onnx') / bestC('tfjs'), 1)}×)`,
      bestC('onnx') >= 3 * bestC('tfjs')
    ),
    target('cold start to first prediction (default engine) < 1 s', `${coldDefault} ms`, coldDefault < 1000),
    target('RSS with one MobileNetV2 loaded ≤ 400 MB', `${rss} MB`, rss <= 400),
    target(
      'swap: 0 failures and 0 old-model answers after the load',
      `${sw.failed} failed, ${sw.old_model_after_load} old`,
      sw.failed === 0 && sw.old_model_after_load === 0
    ),
    target('preprocessing ≤ 3 ms per photo (median)', `${preprocess.median_ms} ms`, preMedian <= 3),
  ];
  table('targets', Object.fromEntries(targets.map(t => [t.figure, {value: t.value, met: t.met ? 'met' : 'MISSED'}])));

  const result = {
    date: new Date().toISOString(),
    machine: {cpu: os.cpus()[0]?.model, cores: availableCores(), node: process.version},
    quick: values.quick,
    peak,
    flop_share_1_thread: share,
    weight_streaming_1_thread: cache,
    preprocess,
    engines: engines.map(engine => ({
      engine,
      backend: engine === 'onnx' ? 'onnxruntime-cpu' : tfjsBackend,
      raw_mobilenet_v2: Object.fromEntries(Object.entries(rawV2).filter(([k]) => k.startsWith(engine))),
      handler_mobilenet_v2: handler[engine],
      swap: swap[engine],
      ...(engine === 'onnx'
        ? {rollout_overhead_c4: rollouts, record_reads_per_message: reads, batch_messages: batches}
        : {}),
      cold_start: Object.fromEntries(Object.entries(cold).filter(([k]) => k.startsWith(engine))),
      roll_timeline: timeline[engine],
    })),
    stack_load: {...load, model: shared ? 'mobilenet_v1_0.25 (shared)' : 'mobilenet_v2_1.0 (random)'},
    targets,
    seconds: Math.round((Date.now() - started) / 1000),
  };
  fs.mkdirSync(path.dirname(values.out), {recursive: true});
  fs.writeFileSync(values.out, JSON.stringify(result, null, 2));
  console.log(`\nwrote ${values.out} (${result.seconds} s)`);
  process.exit(0);
}

function target(figure: string, value: string, met: boolean): {figure: string; value: string; met: boolean} {
  return {figure, value, met};
}

function flatten(rows: Record<string, unknown>): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [engine, byC] of Object.entries(rows)) {
    for (const [c, figures] of Object.entries(byC as Record<string, Record<string, unknown>>))
      out[`${engine} ${c}`] = figures;
  }
  return out;
}

runMain(main);
