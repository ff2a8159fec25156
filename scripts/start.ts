/**
 * `npm start`: the whole system on loopback emulators, wired as in production, until Ctrl-C.
 *
 * Starts the Firestore and Pub/Sub emulators (gcloud jars, java), the Cloud Storage
 * emulator, and recordModel and classifyImage on the Functions Framework; creates the
 * topic and push subscription; prints the endpoints and the commands to try. SIGINT or
 * SIGTERM stops every child, java included, and frees every port.
 *
 * Usage: npm start [-- --quiet] [-- --keyed]
 *   --quiet: do not echo function log lines
 *   --keyed: a model per key (MODEL_FILE_PATTERN gs://models/{key}/*.{h5,keras})
 */
import {parseArgs} from 'node:util';
import {MissingEmulatorError} from './lib/emulators.js';
import {startStack, type Stack} from './lib/stack.js';
import {runMain} from './lib/cli.js';

const USAGE = `usage: npm start [-- --quiet] [--keyed]
Runs the Firestore, Pub/Sub and Storage emulators and both functions on 127.0.0.1 until Ctrl-C.
  --quiet   do not echo the functions' log lines
  --keyed   a model per key: MODEL_FILE_PATTERN gs://<models>/{key}/*.{h5,keras}, DEFAULT_MODEL_KEY unset`;

/** One short line for a function's structured log line. */
function formatLine(fn: string, line: string): string {
  try {
    const entry = JSON.parse(line) as {severity?: string; message?: string};
    if (entry.message) return `[${fn}] ${entry.severity ?? 'INFO'} ${entry.message}`;
  } catch {
    // not JSON: print as is
  }
  return `[${fn}] ${line}`;
}

async function main(): Promise<number> {
  const {values} = parseArgs({
    options: {
      quiet: {type: 'boolean', default: false},
      keyed: {type: 'boolean', default: false},
      help: {type: 'boolean', short: 'h', default: false},
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  console.log('starting the local stack (Firestore, Pub/Sub, Storage emulators; recordModel, classifyImage)...');
  let stack: Stack;
  try {
    stack = await startStack({
      writeStackFile: true,
      livePage: true,
      // A function process that dies is started again, as Cloud Run replaces a crashed instance.
      restartDead: true,
      ...(values.keyed ? {keyed: true} : {}),
      ...(values.quiet ? {} : {onFunctionLine: (fn: string, line: string) => console.log(formatLine(fn, line))}),
    });
  } catch (e) {
    if (e instanceof MissingEmulatorError) {
      console.error(`npm start: cannot start the local stack: ${e.message}`);
      return 2;
    }
    throw e;
  }
  const {info} = stack;
  // Last resort if this process dies without running stop(): never leave java behind.
  process.on('exit', () => {
    for (const pid of info.pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  console.log(`
ready (pid ${process.pid}; Ctrl-C stops everything)
  live page      ${info.endpoints.page}   <- open it: the model, its history, the predictions as they come
  recordModel    ${info.endpoints.recordModel}   <- finalize events of gs://${info.modelsBucket}
  classifyImage  ${info.endpoints.classifyImage}   <- push subscription ${info.subscription} of topic ${info.topic}
  Firestore      ${info.endpoints.firestore}     Pub/Sub ${info.endpoints.pubsub}     Storage ${info.endpoints.storage}

In another terminal (the scripts find this stack through .local/stack.json):
${
  values.keyed
    ? `  npm run upload-model -- flowers.h5 --key=flowers --scale=-1,1 --labels=flowers.txt
  npm run upload-model -- dogs.keras --key=dogs
  npm run publish-images -- photos/*.jpg --key=flowers
  npm run status -- --key=flowers
  npm run rollback -- --key=dogs`
    : `  npm run upload-model -- my_model.h5 --scale=-1,1 --labels=labels.txt
  npm run publish-images -- photos/*.jpg
  npm run status
  npm run upload-model -- my_model.h5 --name=models/my_model_v2.h5 --scale=-1,1 --labels=labels.txt
  npm run rollback`
}

Environment for your own clients:
${Object.entries(info.env)
  .map(([k, v]) => `  export ${k}=${v}`)
  .join('\n')}
`);
  let stopping = false;
  await new Promise<void>(resolve => {
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      console.log(`${signal}: stopping...`);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    process.once('SIGHUP', stop);
    // `npm start` runs us under `sh -c`, which does not pass a SIGTERM sent to npm on to us:
    // when our parent goes away, stop as if signalled.
    const parent = process.ppid;
    const watchdog = setInterval(() => {
      if (process.ppid !== parent) stop('parent exited');
    }, 500);
    watchdog.unref();
  });
  await stack.stop();
  console.log('stopped');
  return 0;
}

runMain(main);
