import assert from 'node:assert/strict';
import {createRequire} from 'node:module';
import {describe, it} from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  initBackend,
  parseBackendName,
  proveBackend,
  restoreIsNullOrUndefined,
} from '../../../../src/model/engines/tfjs/backend.js';

describe('TFJS_BACKEND as the tfjs engine reads it (parseBackendName)', () => {
  it('takes unset, empty and auto, trimmed, as the automatic order', () => {
    for (const v of [undefined, '', '  ', 'auto', ' auto ']) assert.equal(parseBackendName(v), undefined, String(v));
  });

  it('takes each backend name, trimmed', () => {
    assert.equal(parseBackendName('tensorflow'), 'tensorflow');
    assert.equal(parseBackendName(' wasm '), 'wasm');
    assert.equal(parseBackendName('cpu'), 'cpu');
  });

  it('refuses what config.ts refuses, naming the choices: no `node` alias', () => {
    for (const v of ['node', 'webgl', 'WASM']) {
      assert.throws(() => parseBackendName(v), {
        message: `TFJS_BACKEND must be one of tensorflow, wasm, cpu (or empty), not '${v}'`,
      });
    }
  });
});

describe("tfjs-node's util.isNullOrUndefined on Node ≥ 23 (restoreIsNullOrUndefined)", () => {
  // tfjs-node 4.22.0 reads it as `require('util').isNullOrUndefined` when an op runs.
  const nodeUtil = createRequire(import.meta.url)('util') as Record<string, unknown>;

  it('puts it back, with its old meaning, where Node removed it, as tfjs-node requires it', () => {
    const original = nodeUtil['isNullOrUndefined'];
    delete nodeUtil['isNullOrUndefined']; // as on Node 23 and later
    try {
      assert.equal(restoreIsNullOrUndefined(), true);
      const isNullOrUndefined = nodeUtil['isNullOrUndefined'] as (v: unknown) => boolean;
      assert.equal(typeof isNullOrUndefined, 'function');
      assert.deepEqual(
        [null, undefined, 0, '', false, NaN, [], {}].map(v => isNullOrUndefined(v)),
        [true, true, false, false, false, false, false, false]
      );
      assert.equal(restoreIsNullOrUndefined(), false, 'once is enough');
    } finally {
      if (original === undefined) delete nodeUtil['isNullOrUndefined'];
      else nodeUtil['isNullOrUndefined'] = original;
    }
  });

  it("leaves Node's own where it has one", () => {
    const own = (): boolean => false;
    const target = {isNullOrUndefined: own};
    assert.equal(restoreIsNullOrUndefined(target), false);
    assert.equal(target.isNullOrUndefined, own);
  });
});

describe('a backend is proved by computing before it is chosen (proveBackend)', () => {
  it('the chosen backend passes', async () => {
    const {name} = await initBackend();
    assert.equal(tf.getBackend(), name);
    proveBackend();
  });

  it('a backend that starts but cannot compute is refused, saying what failed', async () => {
    const chosen = (await initBackend()).name;
    // Starts, holds no kernels and stores nothing: the shape of a backend that cannot compute.
    class Kernelless extends tf.KernelBackend {
      override dispose(): void {}
    }
    tf.registerBackend('kernelless', () => new Kernelless());
    try {
      assert.equal(await tf.setBackend('kernelless'), true, 'it starts');
      assert.throws(() => proveBackend(), /not yet implemented|not registered/);
    } finally {
      await tf.setBackend(chosen);
      tf.removeBackend('kernelless');
    }
    proveBackend();
  });
});
