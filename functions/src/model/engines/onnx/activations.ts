/**
 * Keras activations (tfjs spelling, as keras/config.ts leaves them) as ONNX ops. Every
 * formula is the one tfjs-layers computes: `hardSigmoid` is `clip(0.2 x + 0.5, 0, 1)`,
 * `gelu` the exact `0.5 x (1 + erf(x / √2))`, `selu` Keras' constants.
 */
import {attr, NoOnnxTranslation, OnnxBuilder, type Value} from './builder.js';

/** Applies a Keras activation by name (tfjs spelling, as keras/config.ts leaves it). */
export function activation(b: OnnxBuilder, name: unknown, v: Value, hint: string): Value {
  const out = (n: string): Value => ({...v, name: n});
  const f = typeof name === 'string' ? name : 'linear';
  const x = v.name;
  switch (f) {
    case 'linear':
      return v;
    case 'relu':
      return out(b.op('Relu', [x], hint));
    case 'relu6':
      return out(clip(b, x, 0, 6, hint));
    case 'sigmoid':
      return out(b.op('Sigmoid', [x], hint));
    case 'tanh':
      return out(b.op('Tanh', [x], hint));
    case 'elu':
      return out(b.op('Elu', [x], hint, [attr.float('alpha', 1)]));
    case 'selu':
      return out(
        b.op('Selu', [x], hint, [attr.float('alpha', 1.6732632423543772), attr.float('gamma', 1.0507009873554805)])
      );
    case 'softplus':
      return out(b.op('Softplus', [x], hint));
    case 'softsign':
      return out(b.op('Softsign', [x], hint));
    case 'exponential':
      return out(b.op('Exp', [x], hint));
    case 'hardSigmoid':
      return out(b.op('HardSigmoid', [x], hint, [attr.float('alpha', 0.2), attr.float('beta', 0.5)]));
    case 'hardSigmoid3': // Keras 3's hard_sigmoid: relu6(x + 3) / 6
      return out(b.op('HardSigmoid', [x], hint, [attr.float('alpha', 1 / 6), attr.float('beta', 0.5)]));
    case 'hardSwish':
      return out(b.op('HardSwish', [x], hint));
    case 'swish':
      return out(b.op('Mul', [x, b.op('Sigmoid', [x], `${hint}/sigmoid`)], hint));
    case 'mish':
      return out(b.op('Mul', [x, b.op('Tanh', [b.op('Softplus', [x], `${hint}/softplus`)], `${hint}/tanh`)], hint));
    case 'gelu': {
      const erf = b.op('Erf', [b.op('Mul', [x, scalar(b, Math.SQRT1_2, hint)], `${hint}/scaled`)], `${hint}/erf`);
      const half = b.op('Mul', [x, scalar(b, 0.5, hint)], `${hint}/half`);
      return out(b.op('Mul', [half, b.op('Add', [erf, scalar(b, 1, hint)], `${hint}/plus1`)], hint));
    }
    case 'softmax':
      return out(b.op('Softmax', [x], hint, [attr.int('axis', b.storageAxis(v, -1))]));
    case 'logSoftmax':
      return out(b.op('LogSoftmax', [x], hint, [attr.int('axis', b.storageAxis(v, -1))]));
    default:
      throw new NoOnnxTranslation(`activation '${f}'`);
  }
}

/** A float32 scalar initializer named after `hint`: the constant operand of an elementwise op. */
export function scalar(b: OnnxBuilder, value: number, hint: string): string {
  return b.floats(`${hint}/const`, Float32Array.of(value), []);
}

/** `clip(x, lo, hi)` with scalar bounds (hi null: no upper bound). */
export function clip(b: OnnxBuilder, x: string, lo: number, hi: number | null, hint: string): string {
  const inputs = [x, scalar(b, lo, `${hint}/min`)];
  if (hi !== null) inputs.push(scalar(b, hi, `${hint}/max`));
  return b.op('Clip', inputs, hint);
}
