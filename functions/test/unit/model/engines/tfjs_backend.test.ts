import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {parseBackendName} from '../../../../src/model/engines/tfjs/backend.js';

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
