/**
 * Local stand-ins for Google Cloud, started on loopback:
 * - Firestore and Pub/Sub: the gcloud emulator jars, started with `java` directly (the
 *   `gcloud` wrapper leaves java running when it is killed);
 * - Cloud Storage: firebase-tools' storage emulator, in this process, with its
 *   finalize notifications handed to a callback (our Eventarc stand-in).
 *
 * Used by the test runner, `npm start` and the benchmark.
 */
import {spawn, execFileSync, type ChildProcess} from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {createRequire} from 'node:module';

/** A running emulator. */
export interface Emulator {
  readonly name: string;
  /** `host:port` for the *_EMULATOR_HOST variables. */
  readonly hostPort: string;
  /** The java process id (absent for the in-process storage emulator). */
  readonly pid?: number;
  stop(): Promise<void>;
}

/** Thrown when the gcloud emulator jars are not on this machine. */
export class MissingEmulatorError extends Error {}

/** Finds a free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** Waits until something accepts TCP connections on the port. */
export async function waitForPort(port: number, timeoutMs: number, what: string, alive?: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (alive && !alive()) throw new Error(`${what} exited before it was ready`);
    const ok = await new Promise<boolean>(resolve => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise(r => setTimeout(r, 150));
  }
  throw new Error(`${what} did not open port ${port} within ${timeoutMs} ms`);
}

let sdkRoot: string | undefined;
/** The Cloud SDK root: $CLOUDSDK_ROOT if set, else `gcloud info`, else the Debian package's folder. */
export function cloudSdkRoot(): string {
  if (sdkRoot) return sdkRoot;
  // An explicit CLOUDSDK_ROOT is the answer, whether or not it holds the jars.
  if (process.env['CLOUDSDK_ROOT']) return (sdkRoot = process.env['CLOUDSDK_ROOT']);
  const candidates: Array<string | undefined> = [];
  try {
    candidates.push(
      execFileSync('gcloud', ['info', '--format=value(installation.sdk_root)'], {
        encoding: 'utf8',
        timeout: 20_000,
      }).trim()
    );
  } catch {
    // gcloud missing or broken: fall back to the usual locations.
  }
  candidates.push('/usr/lib/google-cloud-sdk', '/usr/share/google-cloud-sdk', '/opt/google-cloud-sdk');
  sdkRoot = candidates.find(c => c && fs.existsSync(path.join(c, 'platform'))) ?? '/usr/lib/google-cloud-sdk';
  return sdkRoot;
}

/** The Firestore emulator jar, or a {@link MissingEmulatorError} saying how to get it. */
export function firestoreJar(): string {
  const jar = path.join(cloudSdkRoot(), 'platform/cloud-firestore-emulator/cloud-firestore-emulator.jar');
  if (!fs.existsSync(jar)) {
    throw new MissingEmulatorError(
      `Firestore emulator jar not found at ${jar}. Install it with: apt-get install google-cloud-cli-firestore-emulator (or: gcloud components install cloud-firestore-emulator)`
    );
  }
  return jar;
}

/** The Pub/Sub emulator jar, or a {@link MissingEmulatorError} saying how to get it. */
export function pubsubJar(): string {
  const dir = path.join(cloudSdkRoot(), 'platform/pubsub-emulator/lib');
  const jar = fs.existsSync(dir)
    ? fs.readdirSync(dir).find(f => /^cloud-pubsub-emulator-.*-all\.jar$/.test(f))
    : undefined;
  if (!jar) {
    throw new MissingEmulatorError(
      `Pub/Sub emulator jar not found under ${dir}. Install it with: apt-get install google-cloud-cli-pubsub-emulator (or: gcloud components install pubsub-emulator)`
    );
  }
  return path.join(dir, jar);
}

function requireJava(): void {
  try {
    execFileSync('java', ['-version'], {stdio: 'ignore', timeout: 20_000});
  } catch {
    throw new MissingEmulatorError(
      'java is not on PATH; the Firestore and Pub/Sub emulators need a Java 11+ runtime (apt-get install default-jre-headless)'
    );
  }
}

/**
 * Starts an emulator jar and waits until it is ready: its port accepts connections and it has
 * said so itself (`ready`, a line of its output). The port alone is not proof: between
 * freePort() and java's bind, another process can take the port, and then the emulator exits
 * while the port still answers.
 */
async function startJava(
  name: string,
  args: string[],
  port: number,
  ready: RegExp,
  logFile?: string
): Promise<Emulator> {
  requireJava();
  const child: ChildProcess = spawn('java', args, {stdio: ['ignore', 'pipe', 'pipe'], detached: false});
  const log = logFile ? fs.createWriteStream(logFile) : undefined;
  let said = '';
  const listen = (d: Buffer) => {
    log?.write(d);
    if (!ready.test(said)) said = (said + d.toString('utf8')).slice(-4096);
  };
  child.stdout?.on('data', listen);
  child.stderr?.on('data', listen);
  let exited = false;
  child.on('exit', () => (exited = true));
  const stop = async (): Promise<void> => {
    if (exited) return;
    const done = new Promise<void>(resolve => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await done;
    clearTimeout(timer);
    log?.end();
  };
  try {
    await waitForPort(port, 60_000, `${name} emulator`, () => !exited);
    const deadline = Date.now() + 60_000;
    while (!ready.test(said)) {
      if (exited) throw new Error(`${name} emulator exited before it was ready (port ${port} taken?)`);
      // The Pub/Sub emulator does not exit when its bind fails: it says so and hangs.
      if (/Address already in use/.test(said)) throw new Error(`${name} emulator could not bind port ${port}: taken`);
      if (Date.now() > deadline) throw new Error(`${name} emulator did not say it was ready within 60 s`);
      await new Promise(r => setTimeout(r, 50));
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return {name, hostPort: `127.0.0.1:${port}`, stop, ...(child.pid ? {pid: child.pid} : {})};
}

/** Runs `start` on the given port, or on a free one, again on another if that one turns out taken. */
async function onFreePort(start: (port: number) => Promise<Emulator>, given?: number): Promise<Emulator> {
  if (given !== undefined) return start(given);
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (e) {
      if (attempt >= 3 || !/exited before it was ready|could not bind/.test(String(e))) throw e;
    }
  }
}

/** Starts the Firestore emulator jar on a free (or given) port. */
export async function startFirestore(options: {port?: number; logFile?: string} = {}): Promise<Emulator> {
  const jar = firestoreJar();
  return onFreePort(
    port =>
      startJava(
        'firestore',
        [
          '-cp',
          jar,
          'com.google.cloud.datastore.emulator.firestore.CloudFirestore',
          'start',
          '--host=127.0.0.1',
          `--port=${port}`,
        ],
        port,
        /Dev App Server is now running/,
        options.logFile
      ),
    options.port
  );
}

/** Starts the Pub/Sub emulator jar on a free (or given) port. */
export async function startPubSub(options: {port?: number; logFile?: string} = {}): Promise<Emulator> {
  const jar = pubsubJar();
  return onFreePort(
    port =>
      startJava(
        'pubsub',
        ['-jar', jar, '--host=127.0.0.1', `--port=${port}`],
        port,
        new RegExp(`Server started, listening on ${port}`),
        options.logFile
      ),
    options.port
  );
}

/** The object metadata the storage emulator hands to finalize listeners. */
export type StorageObjectEvent = Record<string, unknown> & {bucket: string; name: string; generation: string};

interface FirebaseStorageEmulator {
  _storageLayer: {createBucket(name: string): void};
  getPersistenceTmpDir(): string;
  _persistence: {reset(dir: string): void};
  _rulesRuntime: {start: () => Promise<void>; stop: () => Promise<void>};
  _rulesManager: unknown;
  _cloudFunctions: {dispatch: (action: string, object: StorageObjectEvent) => Promise<void>};
}

/**
 * Starts firebase-tools' Cloud Storage emulator in this process.
 *
 * Known limits (firebase-tools 15.x): no multi-chunk resumable uploads (upload with
 * `resumable: false`), no `matchGlob`, no `ifGenerationMatch`; generations are
 * milliseconds since the epoch. Its Firebase security-rules runtime (a downloaded jar)
 * is not started: every request here is an admin request.
 */
export async function startStorage(
  options: {port?: number; projectId?: string; onFinalize?: (object: StorageObjectEvent) => void} = {}
): Promise<Emulator & {createBucket(name: string): void}> {
  const require = createRequire(import.meta.url);
  const {StorageEmulator} = require('firebase-tools/lib/emulator/storage/index.js') as {
    StorageEmulator: new (args: Record<string, unknown>) => FirebaseStorageEmulator;
  };
  const {EmulatorRegistry} = require('firebase-tools/lib/emulator/registry.js') as {
    EmulatorRegistry: {start(e: unknown): Promise<void>; stop(name: string): Promise<void>};
  };
  const port = options.port ?? (await freePort());
  const emulator = new StorageEmulator({
    projectId: options.projectId ?? 'demo-local',
    host: '127.0.0.1',
    port,
    auto_download: false,
    rules: [],
  });
  // Every instance of this emulator stores blobs in the same ${tmpdir}/firebase/storage/blobs
  // and deletes that folder when it stops, pulling the floor from under any other instance
  // on the machine (a test stack, npm start): uploads to them then hang. One folder each.
  const blobs = fs.mkdtempSync(path.join(os.tmpdir(), 'storage-emulator-'));
  emulator.getPersistenceTmpDir = () => blobs;
  emulator._persistence.reset(blobs);
  emulator._rulesRuntime.start = async () => {};
  emulator._rulesRuntime.stop = async () => {};
  emulator._rulesManager = {start: async () => {}, stop: async () => {}, getRuleset: () => undefined};
  emulator._cloudFunctions.dispatch = async (action, object) => {
    if (action === 'finalize') options.onFinalize?.(object);
  };
  await EmulatorRegistry.start(emulator);
  return {
    name: 'storage',
    hostPort: `127.0.0.1:${port}`,
    // The JSON API's bucket insert is not implemented by this emulator; its storage layer is.
    createBucket: name => emulator._storageLayer.createBucket(name),
    stop: () => EmulatorRegistry.stop('storage'),
  };
}
