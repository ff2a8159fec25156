/**
 * Shape checks both engines make on a model before they run it: each refuses, as an invalid
 * config, a file whose layers Keras itself would not have built.
 */
import {InvalidConfigError} from '../../core/errors.js';

/**
 * A Reshape's output shape: `target` with its -1 (whatever is left) resolved. The target must
 * hold exactly its input's values: Keras refuses another at build time, tfjs-layers only fails
 * at its first prediction and ONNX Runtime when it runs, so both engines check with this and
 * the file is refused as such.
 */
export function reshapeTarget(name: string, input: readonly number[], target: readonly number[]): number[] {
  const total = input.reduce((a, d) => a * d, 1);
  const known = target.filter(d => d !== -1).reduce((a, d) => a * d, 1);
  if (target.includes(-1) ? total % known === 0 : known === total)
    return target.map(d => (d === -1 ? total / known : d));
  throw new InvalidConfigError(
    `Reshape '${name}' cannot make [${input.join(',')}] (${total} values) into [${target.join(',')}]`
  );
}

/**
 * Refuses a layer whose output holds no values (a 'valid' window larger than its input, a
 * Cropping of every row): Keras refuses such a model at build time, tfjs-layers builds it and
 * then answers from memory nothing wrote. `shape` is per image, without the batch axis.
 */
export function refuseEmptyOutput(name: string, className: string, shape: readonly (number | null)[]): void {
  if (!shape.some(d => typeof d === 'number' && d <= 0)) return;
  throw new InvalidConfigError(
    `layer '${name}' (${className}) would output an empty tensor (shape [${shape.map(d => d ?? '?').join(', ')}] per image): Keras cannot build this model`
  );
}

/**
 * A convolution's `groups` (Keras 2.3+; keras.applications' RegNets and ConvNeXts use it):
 * the input and output channels split into that many groups, group g of the outputs reading
 * only group g of the inputs. Keras refuses at build time a count that does not divide both.
 */
export function convolutionGroups(
  name: string,
  className: string,
  config: Record<string, unknown>,
  inChannels: number
): number {
  const groups = Number(config['groups'] ?? 1);
  const filters = Number(config['filters']);
  if (!Number.isInteger(groups) || groups < 1 || inChannels % groups !== 0 || filters % groups !== 0) {
    throw new InvalidConfigError(
      `layer '${name}' (${className}) has groups=${String(config['groups'])}, which must divide both its ${inChannels} input channels and its ${filters} filters: Keras cannot build this model`
    );
  }
  return groups;
}
