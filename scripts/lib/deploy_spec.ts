/**
 * The one deploy definition, `infra/deploy.json`: Terraform reads it with
 * `jsondecode(file(...))` and `scripts/deploy.ts` reads it here, so both paths deploy the
 * same runtime, accounts, sizes, environment and Pub/Sub wiring.
 */
import fs from 'node:fs';
import path from 'node:path';
import {ROOT} from './stack.js';

/** One function's deployment. */
export interface FunctionSpec {
  readonly name: string;
  readonly entry_point: string;
  readonly memory: string;
  readonly cpu: string;
  readonly concurrency: number;
  readonly timeout_seconds: number;
  readonly min_instances: number;
  readonly max_instances: number;
}

/** The spec's shape (infra/deploy.json). */
export interface DeploySpec {
  readonly runtime: string;
  readonly apis: readonly string[];
  readonly accounts: Record<'record' | 'classify' | 'trigger', {readonly id: string; readonly display_name: string}>;
  readonly functions: Record<'record' | 'classify', FunctionSpec>;
  readonly environment: Readonly<Record<string, string>>;
  /** Environment of the functions' build (`npm ci` in Cloud Build), not of the functions. */
  readonly build_environment?: Readonly<Record<string, string>>;
  readonly pubsub: {
    readonly topic: string;
    readonly ack_deadline_seconds: number;
    readonly minimum_backoff: string;
    readonly maximum_backoff: string;
    readonly max_delivery_attempts: number;
    readonly dead_letter_retention: string;
  };
}

/** Where the spec lives. */
export const SPEC_FILE = path.join(ROOT, 'infra/deploy.json');

/** Reads the spec. */
export function readDeploySpec(file = SPEC_FILE): DeploySpec {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as DeploySpec;
}
