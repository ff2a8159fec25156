/**
 * `npm test`: starts what the tests need, runs every tier with node's test runner in one
 * run (one summary), and stops everything again.
 *
 * Tiers (folders under functions/test/):
 * - unit: pure logic and the model layer on real fixtures; no services.
 * - integration: the functions through functions-framework's getTestServer + supertest.
 * - emulator: the same code against the Firestore and Cloud Storage emulators, started
 *   here (Firestore: the gcloud jar; Storage: firebase-tools in this process).
 * - system: the README's commands and the whole local stack (emulators, both functions in
 *   their own processes, push subscription, Eventarc stand-in), each test starting its own.
 *
 * Usage: npm test [-- --tier unit|integration|emulator|system ...] [-- --grep PATTERN]
 */
import {spawn} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {
  firestoreJar,
  MissingEmulatorError,
  pubsubJar,
  startFirestore,
  startStorage,
  type Emulator,
} from './lib/emulators.js';
import {runMain} from './lib/cli.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TIERS = ['unit', 'integration', 'emulator', 'system'] as const;

function testFiles(tier: string): string[] {
  const dir = path.join(root, 'functions/test', tier);
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, {recursive: true}) as string[])
    .filter(f => f.endsWith('.test.ts'))
    .sort()
    .map(f => path.join(dir, f));
}

/** Whether a test file reads the shared fixtures (through helpers/fixtures.ts or FIXTURES_DIR). */
function needsFixtures(file: string): boolean {
  return /fixtures\.js|FIXTURES_DIR/.test(fs.readFileSync(file, 'utf8'));
}

function parseArgs(argv: string[]): {tiers: string[]; grep?: string} {
  const tiers: string[] = [];
  let grep: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--tier') tiers.push(argv[++i] ?? '');
    else if (argv[i] === '--grep') grep = argv[++i];
    else if (argv[i] === '--help') {
      console.log('usage: npm test [-- --tier unit|integration|emulator|system ...] [-- --grep PATTERN]');
      process.exit(0);
    }
  }
  for (const t of tiers) if (!(TIERS as readonly string[]).includes(t)) throw new Error(`unknown tier '${t}'`);
  return {tiers: tiers.length ? tiers : [...TIERS], ...(grep ? {grep} : {})};
}

/** Under CI=true a skipped tier fails the run: CI must not pass by skipping. */
function skippedInCi(tier: string): number {
  console.error(
    `!!! CI=true: the ${tier} tier cannot be skipped in CI; failing the run (install what the line above names)`
  );
  return 1;
}

async function main(): Promise<number> {
  const {tiers, grep} = parseArgs(process.argv.slice(2));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    METADATA_SERVER_DETECTION: 'none',
    GCLOUD_PROJECT: 'demo-test',
    GOOGLE_CLOUD_PROJECT: 'demo-test',
    FIXTURES_DIR: process.env['FIXTURES_DIR'] ?? path.resolve(root, '../shared/fixtures'),
  };
  // Without the fixtures (a clone on its own, Cloud Build), only the test files that read
  // none can run. CI must not pass that way: under CI=true it fails, unless the pipeline
  // says it builds from the repository alone (TESTS_WITHOUT_FIXTURES=1, cloudbuild.yaml).
  const withFixtures = fs.existsSync(env['FIXTURES_DIR']!);
  if (!withFixtures) {
    const where = `fixtures not found at ${env['FIXTURES_DIR']} (the shared/ folder beside the checkout, or FIXTURES_DIR)`;
    if (process.env['CI'] === 'true' && process.env['TESTS_WITHOUT_FIXTURES'] !== '1') {
      console.error(`!!! ${where}: CI cannot run without them`);
      return 1;
    }
    delete env['FIXTURES_DIR'];
    const all = tiers.flatMap(testFiles);
    const left = all.filter(f => needsFixtures(f)).length;
    console.log(`\n!!! ${where}: running only the ${all.length - left} test files that need none; ${left} left out\n`);
  }
  const select = (tier: string): string[] => testFiles(tier).filter(f => withFixtures || !needsFixtures(f));
  const files: string[] = [];
  const running: Emulator[] = [];
  for (const tier of tiers) {
    if (tier === 'system') {
      try {
        firestoreJar();
        pubsubJar();
        files.push(...select(tier));
      } catch (e) {
        if (!(e instanceof MissingEmulatorError)) throw e;
        console.log(`\n!!! SKIPPED the system tier (${testFiles(tier).length} files): ${e.message}\n`);
        if (process.env['CI'] === 'true') return skippedInCi('system');
      }
      continue;
    }
    if (tier !== 'emulator') {
      files.push(...select(tier));
      continue;
    }
    if (select(tier).length === 0) continue;
    try {
      fs.mkdirSync(path.join(root, '.local'), {recursive: true});
      const firestore = await startFirestore({logFile: path.join(root, '.local/firestore-emulator.log')});
      running.push(firestore);
      const storage = await startStorage({projectId: 'demo-test'});
      running.push(storage);
      env['FIRESTORE_EMULATOR_HOST'] = firestore.hostPort;
      env['STORAGE_EMULATOR_HOST'] = `http://${storage.hostPort}`;
      console.log(`emulators: Firestore ${firestore.hostPort}, Storage ${storage.hostPort}`);
      files.push(...select(tier));
    } catch (e) {
      if (!(e instanceof MissingEmulatorError)) throw e;
      console.log(`\n!!! SKIPPED the emulator tier (${testFiles(tier).length} files): ${e.message}\n`);
      if (process.env['CI'] === 'true') {
        for (const r of running) await r.stop().catch(() => {});
        return skippedInCi('emulator');
      }
    }
  }
  const args = ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2'];
  if (grep) args.push(`--test-name-pattern=${grep}`);
  const code = await new Promise<number>(resolve => {
    const child = spawn(process.execPath, [...args, ...files], {cwd: root, env, stdio: 'inherit'});
    const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
    process.once('SIGINT', forward);
    process.once('SIGTERM', forward);
    child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
  });
  for (const e of running.reverse()) await e.stop().catch(err => console.error(`stopping ${e.name}: ${String(err)}`));
  return code;
}

runMain(main);
