/**
 * The whole system on loopback, wired as in production:
 *
 *   Storage emulator ──finalize──► Eventarc stand-in (binary CloudEvent, retried until 2xx) ──► recordModel
 *   Pub/Sub emulator topic ──push subscription──► classifyImage
 *
 * Each function runs in its own Functions Framework process (as each is its own Cloud Run
 * service in production), from the TypeScript source through tsx. The Firestore and
 * Pub/Sub emulators are the gcloud jars started with java directly; Cloud Storage is
 * firebase-tools' emulator in this process.
 *
 * `startStack()` also points this process's client libraries at the emulators (it sets the
 * `*_EMULATOR_HOST` variables), so callers can upload and publish right away.
 * Used by `npm start`, `npm run demo`, the stack tests and the benchmark.
 */
import {spawn, type ChildProcess} from 'node:child_process';
import {randomUUID} from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {createRequire} from 'node:module';
import {fileURLToPath} from 'node:url';
import {PubSub} from '@google-cloud/pubsub';
import {startBalancer, type Balancer} from './balancer.js';
import {faultProxy, type FaultProxy} from './fault_proxy.js';
import {startLivePage, type LivePage} from './live_page.js';
import {
  freePort,
  startFirestore,
  startPubSub,
  startStorage,
  waitForPort,
  type Emulator,
  type StorageObjectEvent,
} from './emulators.js';

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Where the running stack describes itself, so the other scripts can find it. */
export const STACK_FILE = path.join(ROOT, '.local/stack.json');

/** Names used by the local stack. */
export interface StackNames {
  readonly projectId: string;
  readonly modelsBucket: string;
  readonly imagesBucket: string;
  readonly topic: string;
  readonly subscription: string;
  readonly deadLetterTopic: string;
}

/** Defaults: a `demo-` project id keeps every client library away from real credentials. */
export const LOCAL_NAMES: StackNames = {
  projectId: 'demo-local',
  modelsBucket: 'demo-local-models',
  imagesBucket: 'demo-local-images',
  topic: 'classify-images',
  subscription: 'classify-images-push',
  deadLetterTopic: 'classify-images-dead-letter',
};

/** What `.local/stack.json` holds. */
export interface StackInfo extends StackNames {
  readonly pid: number;
  readonly env: Record<string, string>;
  readonly endpoints: {
    recordModel: string;
    classifyImage: string;
    firestore: string;
    pubsub: string;
    storage: string;
    /** The live page, when started with `livePage`. */
    page?: string;
  };
  readonly pids: number[];
}

/** Options of {@link startStack}. */
export interface StackOptions {
  readonly names?: Partial<StackNames>;
  /** Extra environment for both functions (overrides the defaults below). */
  readonly functionEnv?: Record<string, string>;
  /** Where function output goes: a line callback, or nothing. */
  readonly onFunctionLine?: (fn: string, line: string) => void;
  /** Folder for the emulators' logs (default .local/). */
  readonly logDir?: string;
  /** Write .local/stack.json (npm start does; tests do not). */
  readonly writeStackFile?: boolean;
  /**
   * Put fault-injection proxies between the functions and the Firestore and Storage
   * emulators (`stack.faults`); this process still talks to the emulators directly.
   */
  readonly faults?: boolean;
  /** Serve the live page (scripts/lib/live_page.ts) on 127.0.0.1 (npm start does). */
  readonly livePage?: boolean;
  /** A model per key: MODEL_FILE_PATTERN `gs://<models>/{key}/*.{h5,keras}` (npm start -- --keyed). */
  readonly keyed?: boolean;
  /**
   * classifyImage processes behind the push endpoint (default 1). With more than one (or with
   * `restartDead`), a round-robin balancer (scripts/lib/balancer.ts) is the push endpoint, as
   * Cloud Run's URL is.
   */
  readonly classifyInstances?: number;
  /**
   * Start a function process again, on the same port, when it dies (as Cloud Run replaces a
   * crashed instance behind the same URL); meanwhile pushes and finalize events are refused
   * and redelivered. A crash is any exit but SIGINT / SIGTERM (a stop): SIGKILL (as the OOM
   * killer sends), or an exit code.
   */
  readonly restartDead?: boolean;
}

/** A running function process. */
export interface FunctionProcess {
  readonly name: string;
  readonly url: string;
  readonly child: ChildProcess;
  /** Resolves when the process has exited (with its code or signal). */
  readonly exited: Promise<string>;
}

/** The running stack. */
export interface Stack {
  readonly info: StackInfo;
  readonly firestore: Emulator;
  readonly pubsub: Emulator;
  readonly storage: Emulator;
  /**
   * `classifyImage` is the first of `classifyImages` (all of them behind the push endpoint).
   * With `restartDead`, a restarted process replaces the dead one here.
   */
  readonly functions: {recordModel: FunctionProcess; classifyImage: FunctionProcess; classifyImages: FunctionProcess[]};
  /** Processes started again after dying (`restartDead`). */
  readonly restarts: Array<{name: string; pid: number | undefined; at: number}>;
  /** The balancer in front of the classifyImage processes, when there are several. */
  readonly balancer: Balancer | null;
  readonly bridge: EventBridge;
  /** The outage switches, when started with `faults: true`. */
  readonly faults: {firestore: FaultProxy; storage: FaultProxy} | null;
  stop(): Promise<void>;
}

/** The Eventarc stand-in, as the tests steer it. */
export interface EventBridge {
  /** Finalize events kept back while holding, in arrival order. */
  readonly held: StorageObjectEvent[];
  /** Starts or stops holding finalize events back (tests then deliver them in their own order). */
  hold(on: boolean): void;
  /** Delivers one event now, retrying like Eventarc, whether holding or not. */
  deliver(object: StorageObjectEvent): Promise<void>;
  close(): void;
}

/**
 * The Eventarc stand-in: turns a storage finalize into a binary-mode CloudEvent exactly as
 * Eventarc sends it (`google.cloud.storage.object.v1.finalized`, source
 * `//storage.googleapis.com/projects/_/buckets/B`, subject `objects/NAME`) and, like a
 * trigger with retry enabled, redelivers with exponential backoff until the function
 * answers 2xx. Only the trigger's bucket is forwarded.
 */
export function eventBridge(bucket: string, url: () => string): EventBridge & {send(o: StorageObjectEvent): void} {
  const held: StorageObjectEvent[] = [];
  let holding = false;
  let closed = false;
  async function deliver(object: StorageObjectEvent): Promise<void> {
    const id = randomUUID();
    const data = JSON.stringify(object);
    let backoff = 250;
    while (!closed) {
      try {
        const res = await fetch(url(), {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'ce-specversion': '1.0',
            'ce-id': id,
            'ce-type': 'google.cloud.storage.object.v1.finalized',
            'ce-source': `//storage.googleapis.com/projects/_/buckets/${object.bucket}`,
            'ce-subject': `objects/${object.name}`,
            'ce-time': String(object['updated'] ?? new Date().toISOString()),
          },
          body: data,
          signal: AbortSignal.timeout(120_000),
        });
        await res.arrayBuffer();
        if (res.ok) return;
      } catch {
        // connection refused or timed out: retry like Eventarc.
      }
      await new Promise(r => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 10_000);
    }
  }
  return {
    held,
    deliver,
    hold: on => void (holding = on),
    send(object) {
      if (object.bucket !== bucket || closed) return;
      if (holding) held.push(object);
      else void deliver(object);
    },
    close() {
      closed = true;
    },
  };
}

const require = createRequire(import.meta.url);
// The package exports only its API (build/src/index.js); its CLI, main.js, sits beside it.
const FF_MAIN = path.join(path.dirname(require.resolve('@google-cloud/functions-framework')), 'main.js');

/** Starts one function on the Functions Framework, from source, and waits for its port. */
export async function startFunction(
  name: string,
  env: Record<string, string>,
  onLine?: (fn: string, line: string) => void,
  port?: number
): Promise<FunctionProcess> {
  const p = port ?? (await freePort());
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      FF_MAIN,
      `--target=${name}`,
      '--signature-type=cloudevent',
      `--port=${p}`,
      `--source=${path.join(ROOT, 'functions/src/index.ts')}`,
    ],
    {cwd: ROOT, env: {...process.env, ...env, PORT: String(p)}, stdio: ['ignore', 'pipe', 'pipe']}
  );
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream?.on('data', (d: Buffer) => {
      const lines = (rest + d.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) onLine?.(name, line);
    });
  }
  let alive = true;
  const exited = new Promise<string>(resolve =>
    child.on('exit', (code, signal) => {
      alive = false;
      resolve(signal ?? String(code));
    })
  );
  await waitForPort(p, 60_000, `function ${name}`, () => alive);
  return {name, url: `http://127.0.0.1:${p}/`, child, exited};
}

/** Stops a function process: SIGTERM, then SIGKILL after 5 s. */
export async function stopFunction(fn: FunctionProcess): Promise<void> {
  if (fn.child.exitCode !== null || fn.child.signalCode !== null) return;
  fn.child.kill('SIGTERM');
  const timer = setTimeout(() => fn.child.kill('SIGKILL'), 5000);
  await fn.exited;
  clearTimeout(timer);
}

/** Creates the topic, the dead-letter topic and the push subscription to classifyImage. */
async function createPubSub(names: StackNames, pushEndpoint: string): Promise<void> {
  const pubsub = new PubSub({projectId: names.projectId});
  try {
    const [topic] = await pubsub.createTopic(names.topic);
    const [deadLetter] = await pubsub.createTopic(names.deadLetterTopic);
    await topic.createSubscription(names.subscription, {
      pushConfig: {pushEndpoint},
      // The first message after a model roll waits for the model load; 60 s covers it.
      ackDeadlineSeconds: 60,
      retryPolicy: {minimumBackoff: {seconds: 1}, maximumBackoff: {seconds: 10}},
      deadLetterPolicy: {deadLetterTopic: deadLetter.name, maxDeliveryAttempts: 10},
    });
    await deadLetter.createSubscription(`${names.deadLetterTopic}-pull`);
  } finally {
    await pubsub.close();
  }
}

/** Starts everything; on any failure, stops what was started and rethrows. */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const names: StackNames = {...LOCAL_NAMES, ...options.names};
  const logDir = options.logDir ?? path.join(ROOT, '.local');
  fs.mkdirSync(logDir, {recursive: true});
  const started: Array<() => Promise<void>> = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of started.reverse()) await stop().catch(e => console.error(`stopping: ${String(e)}`));
    started.length = 0;
  };
  try {
    const [firestore, pubsub] = await Promise.all([
      startFirestore({logFile: path.join(logDir, 'firestore-emulator.log')}),
      startPubSub({logFile: path.join(logDir, 'pubsub-emulator.log')}),
    ]);
    started.push(firestore.stop, pubsub.stop);
    let recordModelUrl = '';
    const bridge = eventBridge(names.modelsBucket, () => recordModelUrl);
    const storage = await startStorage({projectId: names.projectId, onFinalize: o => bridge.send(o)});
    started.push(async () => bridge.close(), storage.stop);
    storage.createBucket(names.modelsBucket);
    storage.createBucket(names.imagesBucket);
    let faults: Stack['faults'] = null;
    if (options.faults) {
      faults = {firestore: await faultProxy(firestore.hostPort), storage: await faultProxy(storage.hostPort)};
      started.push(faults.firestore.close, faults.storage.close);
    }

    const env: Record<string, string> = {
      GOOGLE_CLOUD_PROJECT: names.projectId,
      GCLOUD_PROJECT: names.projectId,
      FIRESTORE_EMULATOR_HOST: firestore.hostPort,
      STORAGE_EMULATOR_HOST: `http://${storage.hostPort}`,
      PUBSUB_EMULATOR_HOST: pubsub.hostPort,
      METADATA_SERVER_DETECTION: 'none',
    };
    Object.assign(process.env, env);
    const functionEnv = {
      ...env,
      ...(faults
        ? {
            FIRESTORE_EMULATOR_HOST: faults.firestore.hostPort,
            STORAGE_EMULATOR_HOST: `http://${faults.storage.hostPort}`,
          }
        : {}),
      MODEL_FILE_PATTERN: options.keyed
        ? `gs://${names.modelsBucket}/{key}/*.{h5,keras}`
        : `gs://${names.modelsBucket}/**/*.{h5,keras}`,
      IMAGE_BUCKETS: names.imagesBucket,
      // Local images may also be published as absolute paths inside the shared fixtures.
      LOCAL_IMAGE_DIR: process.env['FIXTURES_DIR'] ?? path.resolve(ROOT, '../shared/fixtures'),
      ...options.functionEnv,
    };
    const instances = options.classifyInstances ?? 1;
    const [recordModel, ...classifyImages] = await Promise.all([
      startFunction('recordModel', functionEnv, options.onFunctionLine),
      ...Array.from({length: instances}, () => startFunction('classifyImage', functionEnv, options.onFunctionLine)),
    ]);
    const functions = {recordModel, classifyImage: classifyImages[0]!, classifyImages};
    const restarts: Stack['restarts'] = [];
    let stopping = false;
    const supervise = (fn: FunctionProcess, put: (next: FunctionProcess) => void): void => {
      void fn.exited.then(async how => {
        // SIGINT / SIGTERM are a stop (Ctrl-C reaches the whole process group), not a crash.
        if (stopping) return;
        const restart = options.restartDead && how !== 'SIGINT' && how !== 'SIGTERM';
        const line = `exited unexpectedly (${how})${restart ? '; starting it again' : ''}`;
        options.onFunctionLine?.(fn.name, JSON.stringify({severity: 'WARNING', message: line}));
        if (!restart) return;
        const next = await startFunction(fn.name, functionEnv, options.onFunctionLine, Number(new URL(fn.url).port));
        if (stopping) return void (await stopFunction(next));
        put(next);
        restarts.push({name: fn.name, pid: next.child.pid, at: Date.now()});
        supervise(next, put);
      });
    };
    supervise(recordModel, next => (functions.recordModel = next));
    classifyImages.forEach((fn, i) =>
      supervise(fn, next => {
        classifyImages[i] = next;
        functions.classifyImage = classifyImages[0]!;
      })
    );
    // Stopped in reverse order: the flag first, so that no stopped process is restarted.
    started.push(
      () => stopFunction(functions.recordModel),
      ...classifyImages.map((_, i) => () => stopFunction(classifyImages[i]!)),
      async () => void (stopping = true)
    );
    const classifyImage = functions.classifyImage;
    recordModelUrl = recordModel.url;
    let balancer: Balancer | null = null;
    // Cloud Run's front end answers for its instances: a crashed one's requests get a 5xx, never
    // a refused or reset connection (which the Pub/Sub emulator's push handles badly: after a
    // burst of reset pushes it was seen to stop pushing to the subscription altogether).
    if (instances > 1 || options.restartDead) {
      balancer = await startBalancer(() => classifyImages.map(fn => fn.url));
      started.push(balancer.close);
    }
    const pushBase = balancer?.url ?? classifyImage.url;
    // functions-framework reads the topic from the push path when it converts a raw push body.
    await createPubSub(names, `${pushBase}projects/${names.projectId}/topics/${names.topic}`);

    let page: LivePage | null = null;
    if (options.livePage) {
      const {Firestore} = await import('@google-cloud/firestore');
      const db = new Firestore({projectId: names.projectId});
      page = await startLivePage({db, keyed: options.keyed ?? false});
      started.push(async () => {
        await page?.close();
        await db.terminate();
      });
    }

    const info: StackInfo = {
      ...names,
      pid: process.pid,
      env,
      endpoints: {
        recordModel: recordModel.url,
        classifyImage: classifyImage.url,
        firestore: firestore.hostPort,
        pubsub: pubsub.hostPort,
        storage: `http://${storage.hostPort}`,
        ...(page ? {page: page.url} : {}),
      },
      pids: [firestore.pid, pubsub.pid, recordModel.child.pid, ...classifyImages.map(fn => fn.child.pid)].filter(
        (p): p is number => p !== undefined
      ),
    };
    if (options.writeStackFile) {
      fs.writeFileSync(STACK_FILE, JSON.stringify(info, null, 2));
      started.unshift(async () => fs.rmSync(STACK_FILE, {force: true}));
    }
    return {
      info,
      firestore,
      pubsub,
      storage,
      functions,
      restarts,
      balancer,
      bridge,
      faults,
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/** Reads `.local/stack.json` if the `npm start` that wrote it is still running. */
export function runningStack(): StackInfo | null {
  try {
    const info = JSON.parse(fs.readFileSync(STACK_FILE, 'utf8')) as StackInfo;
    process.kill(info.pid, 0);
    return info;
  } catch {
    return null;
  }
}
