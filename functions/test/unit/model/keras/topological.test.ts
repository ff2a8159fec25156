/**
 * The layer order both engines build in: every layer after the layers it reads, whatever
 * order the file lists them in; a cycle or a read of a missing layer is a clear config error.
 */
import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {InvalidConfigError, isPermanent} from '../../../../src/core/errors.js';
import type {GraphLayer} from '../../../../src/model/keras/graph.js';
import {topological} from '../../../../src/model/keras/topological.js';

/** A layer reading the first output of each layer named in `reads`, once per entry of `calls`. */
function layer(name: string, ...calls: string[][]): GraphLayer {
  return {
    name,
    className: calls.length === 0 ? 'InputLayer' : 'Dense',
    config: {},
    inbound: calls.map(reads => reads.map(r => ({layer: r, node: 0, index: 0}))),
    weights: [],
  };
}

function assertOrdered(order: readonly GraphLayer[]): void {
  const at = new Map(order.map((l, i) => [l.name, i]));
  for (const l of order)
    for (const node of l.inbound)
      for (const r of node) assert.ok(at.get(r.layer)! < at.get(l.name)!, `${r.layer} before ${l.name}`);
}

describe('topological', () => {
  it('puts a listing in reverse, a diamond and a shared layer (two calls) in reading order', () => {
    const layers = [
      layer('out', ['add']),
      layer('add', ['left', 'right']),
      layer('right', ['shared']),
      layer('left', ['shared'], ['in']),
      layer('shared', ['in']),
      layer('in'),
    ];
    const order = topological(layers);
    assert.deepEqual(new Set(order.map(l => l.name)), new Set(layers.map(l => l.name)));
    assert.equal(order.length, layers.length);
    assertOrdered(order);
  });

  it('keeps an order that is already right as it is', () => {
    const layers = [layer('in'), layer('a', ['in']), layer('b', ['a']), layer('c', ['a', 'b'])];
    assert.deepEqual(
      topological(layers).map(l => l.name),
      ['in', 'a', 'b', 'c']
    );
  });

  it('orders a chain of 100 000 layers listed backwards without overflowing the stack', () => {
    const n = 100_000;
    const layers = Array.from({length: n}, (_, i) =>
      i === n - 1 ? layer('l0') : layer(`l${n - 1 - i}`, [`l${n - 2 - i}`])
    );
    const order = topological(layers);
    assert.equal(order[0]!.name, 'l0');
    assert.equal(order.at(-1)!.name, `l${n - 1}`);
    assertOrdered(order);
  });

  it('refuses a cycle, naming a layer on it, as a permanent config error', () => {
    const layers = [layer('in'), layer('a', ['in', 'c']), layer('b', ['a']), layer('c', ['b'])];
    assert.throws(
      () => topological(layers),
      (e: unknown) =>
        e instanceof InvalidConfigError &&
        isPermanent(e) &&
        /model_config has a cycle through layer '(a|b|c)'/.test(e.message)
    );
  });

  it('refuses a layer reading itself', () => {
    assert.throws(() => topological([layer('in'), layer('self', ['self'])]), /cycle through layer 'self'/);
  });

  it('refuses a read of a layer the model lacks, naming both', () => {
    assert.throws(
      () => topological([layer('in'), layer('dense', ['ghost'])]),
      (e: unknown) =>
        e instanceof InvalidConfigError && /layer 'dense' reads 'ghost', which the model lacks/.test(e.message)
    );
  });
});
