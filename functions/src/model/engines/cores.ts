/**
 * How much CPU this instance really has. A container may see every core of its host
 * while its cgroup v2 quota (`/sys/fs/cgroup/cpu.max`, e.g. `200000 100000` = 2 vCPUs,
 * `58300 100000` = 0.583 vCPU) allows less: thread counts follow the quota.
 */
import fs from 'node:fs';
import os from 'node:os';

/** The CPU quota in vCPUs (may be fractional), or the core count where no quota is set. */
export function cpuQuota(cpuMax = '/sys/fs/cgroup/cpu.max'): number {
  const cores = os.availableParallelism();
  try {
    const [quota, period] = fs.readFileSync(cpuMax, 'utf8').trim().split(/\s+/);
    if (quota && quota !== 'max' && Number(period) > 0) return Math.min(cores, Number(quota) / Number(period));
  } catch {
    // no cgroup v2 quota here
  }
  return cores;
}

/** Whole cores this process may keep busy: the quota rounded up, at least 1. */
export function availableCores(cpuMax?: string): number {
  return Math.max(1, Math.ceil(cpuQuota(cpuMax)));
}
