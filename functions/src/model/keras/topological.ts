import {InvalidConfigError} from '../../core/errors.js';
import type {GraphLayer} from './graph.js';

/**
 * Puts layers in an order where each comes after every layer it reads (Keras writes them
 * so, but nothing in the format promises it). Throws on a cycle: a config that refers to
 * itself cannot be evaluated.
 */
export function topological(layers: GraphLayer[]): GraphLayer[] {
  const byName = new Map(layers.map(l => [l.name, l]));
  const state = new Map<string, 'visiting' | 'done'>();
  const out: GraphLayer[] = [];
  for (const start of layers) {
    // Iterative depth-first search: a deep graph must not overflow the stack.
    const stack: Array<{layer: GraphLayer; deps: string[]}> = [];
    const push = (layer: GraphLayer): void => {
      state.set(layer.name, 'visiting');
      stack.push({layer, deps: [...new Set(layer.inbound.flat().map(r => r.layer))]});
    };
    if (state.has(start.name)) continue;
    push(start);
    while (stack.length > 0) {
      const top = stack.at(-1)!;
      const next = top.deps.pop();
      if (next === undefined) {
        stack.pop();
        state.set(top.layer.name, 'done');
        out.push(top.layer);
        continue;
      }
      const dep = byName.get(next);
      if (!dep) throw new InvalidConfigError(`layer '${top.layer.name}' reads '${next}', which the model lacks`);
      if (state.get(next) === 'visiting') {
        throw new InvalidConfigError(`model_config has a cycle through layer '${next}'`);
      }
      if (!state.has(next)) push(dep);
    }
  }
  return out;
}
