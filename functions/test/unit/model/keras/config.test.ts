import {describe, it} from 'node:test';
import assert from 'node:assert/strict';
import {
  LAYER_RULES,
  normaliseKeras3Objects,
  translateModelConfig,
  type ModelEntry,
} from '../../../../src/model/keras/config.js';
import {UnsupportedLayerError} from '../../../../src/core/errors.js';
import {kerasTensor, opEntry} from '../../../helpers/keras_specs.js';

const known = (cls: string): boolean => !['Lambda', 'LocallyConnected2D', 'SpatialDropout2D'].includes(cls);

/** A Functional model of an input `in` ([null, 3]) and `layers`, with `output` as its output. */
function functionalOn(layers: unknown[], output: string): ModelEntry {
  return {
    class_name: 'Functional',
    config: {
      name: 'm',
      layers: [
        {class_name: 'InputLayer', name: 'in', config: {name: 'in', batch_input_shape: [null, 3]}, inbound_nodes: []},
        ...layers,
      ],
      input_layers: [['in', 0, 0]],
      output_layers: [[output, 0, 0]],
    },
  };
}
function sequential(...layers: Array<{class_name: string; config: Record<string, unknown>}>): ModelEntry {
  return {class_name: 'Sequential', config: {name: 'seq', layers}};
}
function layersOf(
  m: ModelEntry
): Array<{class_name: string; config: Record<string, unknown>; inbound_nodes?: unknown}> {
  return (m.config as {layers: Array<{class_name: string; config: Record<string, unknown>}>}).layers;
}

describe('translateModelConfig: one test per Keras/tfjs difference', () => {
  it('has a test below for every rule', () => {
    assert.deepEqual(
      LAYER_RULES.map(([name]) => name),
      [
        'tfOpLambdas',
        'channelSlices',
        'kerasOps',
        'renameBatchShape',
        'dropTrainingOnlyOptions',
        'keepDimsPooling',
        'spatialDropoutToDropout',
        'rnnOfOneCell',
        'hardActivations',
        'kerasResize',
        'renameActivations',
        'normalizationAsBatchNorm',
        'convNextLayers',
        'batchNormAxis',
        'convGroups',
        'reluOptions',
        'leakyReluSlope',
        'recurrentTimeMajor',
        'layerNormRmsScaling',
        'keras3InboundNodes',
      ]
    );
  });

  it('hardActivations: hard_swish becomes a HardActivation layer; Keras 3 hard_sigmoid too, Keras 2 keeps tfjs hardSigmoid', () => {
    const m = translateModelConfig(
      sequential(
        {class_name: 'Dense', config: {name: 'd', units: 2, activation: 'hard_swish', batch_input_shape: [null, 4]}},
        {class_name: 'Activation', config: {name: 'a', activation: 'hard_sigmoid'}}
      ),
      known,
      '3.9.1'
    );
    assert.deepEqual(
      layersOf(m).map(l => [l.class_name, l.config['activation'] ?? l.config['kind']]),
      [
        ['Dense', 'linear'],
        ['HardActivation', 'hardswish'],
        ['HardActivation', 'hardsigmoid'],
      ]
    );
    const k2 = translateModelConfig(
      sequential({
        class_name: 'Activation',
        config: {name: 'a', activation: 'hard_sigmoid', batch_input_shape: [null, 4]},
      }),
      known,
      '2.13.1'
    );
    assert.equal(layersOf(k2)[0]!.config['activation'], 'hardSigmoid');
  });

  it('kerasResize: CenterCrop becomes KerasCenterCrop; channels_first is refused', () => {
    const out = translateModelConfig(
      sequential({class_name: 'CenterCrop', config: {name: 'c', height: 4, width: 5, data_format: 'channels_last'}}),
      known
    );
    assert.deepEqual(layersOf(out)[0], {
      class_name: 'KerasCenterCrop',
      config: {name: 'c', trainable: false, height: 4, width: 5},
    });
    assert.throws(
      () =>
        translateModelConfig(
          sequential({
            class_name: 'CenterCrop',
            config: {name: 'c', height: 4, width: 5, data_format: 'channels_first'},
          }),
          known
        ),
      /CenterCrop 'c' \(channels_first\)/
    );
  });

  it('kerasResize: Resizing and bilinear UpSampling2D become KerasResize (Keras sampling); nearest UpSampling2D stays', () => {
    const m = translateModelConfig(
      sequential(
        {
          class_name: 'Resizing',
          config: {name: 'r', height: 8, width: 6, interpolation: 'nearest', batch_input_shape: [null, 4, 4, 3]},
        },
        {class_name: 'UpSampling2D', config: {name: 'u', size: [2, 3], interpolation: 'bilinear'}},
        {class_name: 'UpSampling2D', config: {name: 'n', size: [2, 2], interpolation: 'nearest'}}
      ),
      known,
      '3.9.1'
    );
    assert.deepEqual(
      layersOf(m).map(l => [l.class_name, l.config['height'] ?? l.config['factor'] ?? l.config['size']]),
      [
        ['KerasResize', 8],
        ['KerasResize', [2, 3]],
        ['UpSampling2D', [2, 2]],
      ]
    );
    assert.deepEqual(layersOf(m)[0]!.config['batch_input_shape'], [null, 4, 4, 3]);
  });

  it('normalizationAsBatchNorm: Normalization becomes a BatchNormalization carrying its mean and variance', () => {
    const m = translateModelConfig(
      sequential({
        class_name: 'Normalization',
        config: {name: 'n', axis: [3], mean: [1, 2, 3], variance: [4, 5, 6], batch_input_shape: [null, 2, 2, 3]},
      }),
      known
    );
    const l = layersOf(m)[0]!;
    assert.equal(l.class_name, 'BatchNormalization');
    assert.equal(l.config['axis'], 3);
    assert.deepEqual(l.config['normalization'], {mean: [1, 2, 3], variance: [4, 5, 6], invert: false});
    assert.throws(
      () => translateModelConfig(sequential({class_name: 'Normalization', config: {name: 'n', axis: null}}), known),
      /Normalization 'n' \(axis null/
    );
  });

  it('renameBatchShape: Keras 3 batch_shape becomes batch_input_shape', () => {
    const out = translateModelConfig(
      sequential({class_name: 'InputLayer', config: {name: 'in', batch_shape: [null, 784]}}),
      known
    );
    assert.deepEqual(layersOf(out)[0]!.config, {name: 'in', batch_input_shape: [null, 784]});
  });

  it('normaliseKeras3Objects: DTypePolicy → dtype string; module/registered_name dropped', () => {
    const policy = {module: 'keras', class_name: 'DTypePolicy', config: {name: 'float32'}, registered_name: null};
    assert.equal(normaliseKeras3Objects(policy), 'float32');
    assert.equal(normaliseKeras3Objects({...policy, config: {name: 'mixed_float16'}}), 'float32');
    assert.deepEqual(
      normaliseKeras3Objects({
        module: 'keras.initializers',
        class_name: 'GlorotUniform',
        config: {seed: null},
        registered_name: null,
      }),
      {class_name: 'GlorotUniform', config: {seed: null}}
    );
  });

  it('dropTrainingOnlyOptions: regularisers and constraints become null', () => {
    const out = translateModelConfig(
      sequential({
        class_name: 'Dense',
        config: {
          name: 'd',
          units: 2,
          kernel_regularizer: {class_name: 'L2', config: {l2: 0.01}},
          bias_constraint: {class_name: 'NonNeg'},
        },
      }),
      known
    );
    assert.equal(layersOf(out)[0]!.config['kernel_regularizer'], null);
    assert.equal(layersOf(out)[0]!.config['bias_constraint'], null);
  });

  it('keepDimsPooling: GlobalAveragePooling2D(keepdims=True) gets a KeepDims layer, consumers rewired', () => {
    const model: ModelEntry = {
      class_name: 'Functional',
      config: {
        name: 'f',
        layers: [
          {
            class_name: 'InputLayer',
            name: 'in',
            config: {name: 'in', batch_input_shape: [null, 4, 4, 3]},
            inbound_nodes: [],
          },
          {
            class_name: 'GlobalAveragePooling2D',
            name: 'gap',
            config: {name: 'gap', keepdims: true},
            inbound_nodes: [[['in', 0, 0, {}]]],
          },
          {
            class_name: 'Conv2D',
            name: 'c',
            config: {name: 'c', filters: 2, kernel_size: [1, 1]},
            inbound_nodes: [[['gap', 0, 0, {}]]],
          },
        ],
        input_layers: [['in', 0, 0]],
        output_layers: [['gap', 0, 0]],
      },
    };
    const out = translateModelConfig(model, known);
    const layers = layersOf(out);
    assert.deepEqual(
      layers.map(l => l.class_name),
      ['InputLayer', 'GlobalAveragePooling2D', 'KeepDims', 'Conv2D']
    );
    assert.equal('keepdims' in layers[1]!.config, false);
    assert.deepEqual(layers[2]!.inbound_nodes, [[['gap', 0, 0, {}]]]);
    assert.deepEqual(layers[3]!.inbound_nodes, [[['gap_keepdims', 0, 0, {}]]]);
    assert.deepEqual((out.config as {output_layers: unknown}).output_layers, [['gap_keepdims', 0, 0]]);
  });

  it("convNextLayers: ConvNeXt's StochasticDepth becomes Dropout(0), its LayerScale a BatchNormalization; others stay", () => {
    const out = translateModelConfig(
      sequential(
        {class_name: 'LayerScale', config: {name: 'ls', init_values: 1e-6, projection_dim: 96}},
        {class_name: 'StochasticDepth', config: {name: 'sd', drop_path_rate: 0.1}}
      ),
      known
    );
    assert.deepEqual(layersOf(out), [
      {
        class_name: 'BatchNormalization',
        config: {name: 'ls', trainable: false, axis: -1, epsilon: 0, center: true, scale: true, layer_scale: 96},
      },
      {class_name: 'Dropout', config: {name: 'sd', trainable: false, rate: 0}},
    ]);
    // keras_cv's StochasticDepth (rate, two inputs, added) and a LayerScale without projection_dim are not ConvNeXt's.
    const others = translateModelConfig(
      sequential(
        {class_name: 'StochasticDepth', config: {name: 'x', rate: 0.1}},
        {class_name: 'LayerScale', config: {name: 'y', init_values: 1e-6}}
      ),
      known
    );
    assert.deepEqual(
      layersOf(others).map(l => l.class_name),
      ['StochasticDepth', 'LayerScale']
    );
  });

  it('tfOpLambdas: a TFOpLambda of x op number becomes a Rescaling, of two tensors a merge layer', () => {
    const op = (name: string, fn: string, node: unknown[]) => ({
      class_name: 'TFOpLambda',
      name,
      config: {name, function: fn},
      inbound_nodes: [node],
    });
    const out = translateModelConfig(
      functionalOn(
        [
          op('div', 'math.truediv', ['in', 0, 0, {y: 127.5, name: null}]),
          op('rsub', 'math.subtract', ['_CONSTANT_VALUE', -1, 1, {y: ['div', 0, 0], name: null}]),
          op('sum', '__operators__.add', ['rsub', 0, 0, {y: ['div', 0, 0], name: null}]),
        ],
        'sum'
      ),
      known
    );
    assert.deepEqual(layersOf(out).slice(1), [
      {
        class_name: 'Rescaling',
        name: 'div',
        config: {name: 'div', trainable: false, scale: 1 / 127.5, offset: 0},
        inbound_nodes: [[['in', 0, 0, {}]]],
      },
      {
        class_name: 'Rescaling',
        name: 'rsub',
        config: {name: 'rsub', trainable: false, scale: -1, offset: 1},
        inbound_nodes: [[['div', 0, 0, {}]]],
      },
      {
        class_name: 'Add',
        name: 'sum',
        config: {name: 'sum', trainable: false},
        inbound_nodes: [
          [
            ['rsub', 0, 0, {}],
            ['div', 0, 0, {}],
          ],
        ],
      },
    ]);
  });

  it('kerasOps: a Keras 3 op on two arguments is translated; a merge layer on one list is not', () => {
    const out = translateModelConfig(
      functionalOn(
        [
          {class_name: 'Multiply', name: 'x2', config: {name: 'x2'}, inbound_nodes: [{args: [2, kerasTensor('in')]}]},
          {
            class_name: 'Add',
            name: 'merge',
            config: {name: 'merge'},
            inbound_nodes: [{args: [[kerasTensor('in'), kerasTensor('x2')]]}],
          },
        ],
        'merge'
      ),
      known,
      '3.9.1'
    );
    const [, x2, merge] = layersOf(out);
    assert.deepEqual(x2, {
      class_name: 'Rescaling',
      name: 'x2',
      config: {name: 'x2', trainable: false, scale: 2, offset: 0},
      inbound_nodes: [[['in', 0, 0, {}]]],
    });
    assert.equal(merge!.class_name, 'Add');
    assert.deepEqual(merge!.inbound_nodes, [
      [
        ['in', 0, 0, {}],
        ['x2', 0, 0, {}],
      ],
    ]);
  });

  it("kerasOps: concatenate and softmax take their axis from the op's config (as Keras saves it), else from the call", () => {
    const out = translateModelConfig(
      functionalOn(
        [
          opEntry('Concatenate', 'saved', [['in', 'in']], {}, {axis: 2}),
          opEntry('Concatenate', 'by_position', [['in', 'in'], -1]),
          opEntry('Concatenate', 'by_keyword', [['in', 'in']], {axis: 1}),
          opEntry('Softmax', 'soft', ['by_keyword', 1]),
          opEntry('Softmax', 'soft_saved', ['soft'], {}, {axis: null}),
        ],
        'soft_saved'
      ),
      known,
      '3.9.1'
    );
    assert.deepEqual(
      layersOf(out)
        .slice(1)
        .map(l => [l.class_name, l.config['axis']]),
      [
        ['Concatenate', 2],
        ['Concatenate', -1],
        ['Concatenate', 1],
        ['Softmax', 1],
        ['Softmax', -1],
      ]
    );
  });

  it('channelSlices and kerasOps: the channel flip and stack of caffe mode become ChannelGather and StackChannels', () => {
    const flip = {
      class_name: 'SlicingOpLambda',
      name: 'flip',
      config: {name: 'flip', function: '__operators__.getitem'},
      inbound_nodes: [['in', 0, 0, {slice_spec: [{class_name: '__ellipsis__'}, {start: null, stop: null, step: -1}]}]],
    };
    const keras2 = layersOf(translateModelConfig(functionalOn([flip], 'flip'), known));
    assert.deepEqual(keras2[1], {
      class_name: 'ChannelGather',
      name: 'flip',
      config: {name: 'flip', trainable: false, reverse: true},
      inbound_nodes: [[['in', 0, 0, {}]]],
    });
    const ellipsis = {class_name: '__ellipsis__', config: {}};
    const keras3 = layersOf(
      translateModelConfig(
        functionalOn(
          [
            opEntry('GetItem', 'b', ['in', [ellipsis, 2]]),
            opEntry('GetItem', 'r', ['in', [ellipsis, 0]]),
            opEntry('Stack', 'br', [['b', 'r']], {}, {axis: -1}),
          ],
          'br'
        ),
        known,
        '3.9.1'
      )
    );
    assert.deepEqual(
      keras3.slice(1).map(l => [l.class_name, l.config['index'] ?? null, l.inbound_nodes]),
      [
        ['ChannelGather', 2, [[['in', 0, 0, {}]]]],
        ['ChannelGather', 0, [[['in', 0, 0, {}]]]],
        [
          'StackChannels',
          null,
          [
            [
              ['b', 0, 0, {}],
              ['r', 0, 0, {}],
            ],
          ],
        ],
      ]
    );
  });

  it('spatialDropoutToDropout: SpatialDropout2D (identity at inference) becomes Dropout', () => {
    const out = translateModelConfig(
      sequential({class_name: 'SpatialDropout2D', config: {name: 's', rate: 0.2, data_format: 'channels_last'}}),
      known
    );
    assert.deepEqual(layersOf(out)[0], {class_name: 'Dropout', config: {name: 's', rate: 0.2}});
  });

  it('spatialDropoutToDropout: augmentation layers (identity at inference) become Dropout(0), RandomCrop does not', () => {
    const out = translateModelConfig(
      sequential(
        {
          class_name: 'RandomFlip',
          config: {name: 'f', mode: 'horizontal', seed: 3, batch_input_shape: [null, 8, 8, 3]},
        },
        {class_name: 'RandomZoom', config: {name: 'z', height_factor: 0.2}},
        {class_name: 'RandomCrop', config: {name: 'c', height: 4, width: 4}}
      ),
      known
    );
    assert.deepEqual(layersOf(out).slice(0, 2), [
      {class_name: 'Dropout', config: {batch_input_shape: [null, 8, 8, 3], name: 'f', trainable: false, rate: 0}},
      {class_name: 'Dropout', config: {name: 'z', trainable: false, rate: 0}},
    ]);
    assert.equal(layersOf(out)[2]!.class_name, 'RandomCrop');
  });

  it('rnnOfOneCell: RNN(LSTMCell) becomes LSTM with the cell options and the sequence flags; stacked cells stay', () => {
    const cell = {class_name: 'LSTMCell', config: {name: 'cell', units: 3, recurrent_activation: 'sigmoid'}};
    const out = translateModelConfig(
      sequential(
        {class_name: 'RNN', config: {name: 'r', cell, return_sequences: true, go_backwards: false}},
        {class_name: 'RNN', config: {name: 's', cell: {class_name: 'StackedRNNCells', config: {cells: [cell]}}}}
      ),
      known
    );
    const [one, stacked] = layersOf(out);
    assert.equal(one!.class_name, 'LSTM');
    assert.deepEqual(one!.config, {
      name: 'r',
      units: 3,
      recurrent_activation: 'sigmoid',
      return_sequences: true,
      go_backwards: false,
    });
    assert.equal(stacked!.class_name, 'RNN');
  });

  it('renameActivations: hard_sigmoid → hardSigmoid, silu → swish', () => {
    const out = translateModelConfig(
      sequential(
        {class_name: 'Activation', config: {name: 'a', activation: 'hard_sigmoid'}},
        {class_name: 'Dense', config: {name: 'd', units: 1, activation: 'silu'}}
      ),
      known
    );
    assert.deepEqual(
      layersOf(out).map(l => l.config['activation']),
      ['hardSigmoid', 'swish']
    );
  });

  it('renameActivations: recurrent_activation of recurrent layers too', () => {
    const out = translateModelConfig(
      sequential({
        class_name: 'LSTM',
        config: {name: 'l', units: 2, activation: 'tanh', recurrent_activation: 'hard_sigmoid'},
      }),
      known
    );
    assert.equal(layersOf(out)[0]!.config['recurrent_activation'], 'hardSigmoid');
  });

  it("renameActivations: Keras 3's hard activations inside a recurrence or a wrapper are hardSigmoid3 and hardSwish", () => {
    const out = translateModelConfig(
      sequential(
        {
          class_name: 'GRU',
          config: {name: 'g', units: 2, activation: 'hard_swish', recurrent_activation: 'hard_sigmoid'},
        },
        {
          class_name: 'Bidirectional',
          config: {
            name: 'b',
            layer: {class_name: 'LSTM', config: {name: 'l', units: 2, recurrent_activation: 'hard_sigmoid'}},
          },
        },
        {
          class_name: 'TimeDistributed',
          config: {name: 't', layer: {class_name: 'Dense', config: {name: 'd', units: 2, activation: 'silu'}}},
        }
      ),
      known,
      '3.9.1'
    );
    const [gru, bidi, td] = layersOf(out) as Array<{config: Record<string, {config: Record<string, unknown>}>}>;
    assert.deepEqual([gru!.config['activation'], gru!.config['recurrent_activation']], ['hardSwish', 'hardSigmoid3']);
    assert.equal(bidi!.config['layer']!.config['recurrent_activation'], 'hardSigmoid3');
    assert.equal(td!.config['layer']!.config['activation'], 'swish');
    assert.equal(layersOf(out).length, 3, 'no HardActivation layer after a recurrent layer');
    const stacked = translateModelConfig(
      sequential({
        class_name: 'RNN',
        config: {
          name: 'r',
          cell: {
            class_name: 'StackedRNNCells',
            config: {cells: [{class_name: 'LSTMCell', config: {units: 2, recurrent_activation: 'hard_sigmoid'}}]},
          },
        },
      }),
      known,
      '3.9.1'
    );
    const cell = (layersOf(stacked)[0]!.config['cell'] as {config: {cells: Array<{config: Record<string, unknown>}>}})
      .config.cells[0]!;
    assert.equal(cell.config['recurrent_activation'], 'hardSigmoid3');
  });

  it('batchNormAxis: [3] becomes 3; several axes are refused', () => {
    const out = translateModelConfig(
      sequential({class_name: 'BatchNormalization', config: {name: 'bn', axis: [3]}}),
      known
    );
    assert.equal(layersOf(out)[0]!.config['axis'], 3);
    assert.throws(
      () =>
        translateModelConfig(sequential({class_name: 'BatchNormalization', config: {name: 'bn', axis: [1, 2]}}), known),
      /BatchNormalization 'bn' \(normalises over several axes\)/
    );
  });

  it('convGroups: groups=1 is dropped, a grouped Conv1D/2D/3D kept, groups>1 elsewhere refused', () => {
    const out = translateModelConfig(sequential({class_name: 'Conv2D', config: {name: 'c', groups: 1}}), known);
    assert.equal('groups' in layersOf(out)[0]!.config, false);
    for (const cls of ['Conv1D', 'Conv2D', 'Conv3D']) {
      const grouped = translateModelConfig(sequential({class_name: cls, config: {name: 'c', groups: 4}}), known);
      assert.equal(layersOf(grouped)[0]!.config['groups'], 4, cls);
    }
    assert.throws(
      () => translateModelConfig(sequential({class_name: 'Conv2DTranspose', config: {name: 'c', groups: 4}}), known),
      (e: unknown) =>
        e instanceof UnsupportedLayerError && /Conv2DTranspose 'c' \(grouped convolution, groups=4\)/.test(e.message)
    );
  });

  it('reluOptions: zero negative_slope/threshold dropped, others refused', () => {
    const out = translateModelConfig(
      sequential({class_name: 'ReLU', config: {name: 'r', max_value: 6, negative_slope: 0, threshold: 0}}),
      known
    );
    assert.deepEqual(layersOf(out)[0]!.config, {name: 'r', max_value: 6});
    assert.throws(
      () => translateModelConfig(sequential({class_name: 'ReLU', config: {name: 'r', negative_slope: 0.1}}), known),
      /ReLU 'r' \(negative_slope=0.1/
    );
  });

  it('leakyReluSlope: Keras 3 negative_slope becomes alpha, which tfjs-layers reads', () => {
    const out = translateModelConfig(
      sequential({class_name: 'LeakyReLU', config: {name: 'l', negative_slope: 0.1}}),
      known
    );
    assert.deepEqual(layersOf(out)[0]!.config, {name: 'l', alpha: 0.1});
  });

  it('recurrentTimeMajor: false dropped, true refused, also inside a Bidirectional', () => {
    const lstm = (timeMajor: boolean) => ({class_name: 'LSTM', config: {name: 'l', units: 2, time_major: timeMajor}});
    assert.deepEqual(layersOf(translateModelConfig(sequential(lstm(false)), known))[0]!.config, {name: 'l', units: 2});
    assert.throws(
      () => translateModelConfig(sequential(lstm(true)), known),
      (e: unknown) => e instanceof UnsupportedLayerError && /LSTM 'l' \(time_major\)/.test(e.message)
    );
    assert.throws(
      () =>
        translateModelConfig(sequential({class_name: 'Bidirectional', config: {name: 'b', layer: lstm(true)}}), known),
      /Bidirectional 'b' \(time_major\)/
    );
  });

  it('layerNormRmsScaling: rms_scaling=false dropped, true refused (neither engine computes it)', () => {
    const ln = (rms: boolean) =>
      sequential({class_name: 'LayerNormalization', config: {name: 'ln', axis: -1, rms_scaling: rms}});
    assert.deepEqual(layersOf(translateModelConfig(ln(false), known))[0]!.config, {name: 'ln', axis: -1});
    assert.throws(
      () => translateModelConfig(ln(true), known),
      (e: unknown) => e instanceof UnsupportedLayerError && /LayerNormalization 'ln' \(rms_scaling\)/.test(e.message)
    );
  });

  it('keras3InboundNodes: {args: [__keras_tensor__]} nodes become [[name, node, tensor, {}]]', () => {
    const tensor = (n: string) => ({
      class_name: '__keras_tensor__',
      config: {shape: [null, 2], keras_history: [n, 0, 0]},
    });
    const model: ModelEntry = {
      class_name: 'Functional',
      config: {
        name: 'f',
        layers: [
          {class_name: 'InputLayer', name: 'a', config: {name: 'a', batch_shape: [null, 2]}, inbound_nodes: []},
          {class_name: 'InputLayer', name: 'b', config: {name: 'b', batch_shape: [null, 2]}, inbound_nodes: []},
          {
            class_name: 'Add',
            name: 'add',
            config: {name: 'add'},
            inbound_nodes: [{args: [[tensor('a'), tensor('b')]], kwargs: {}}],
          },
        ],
        input_layers: [
          ['a', 0, 0],
          ['b', 0, 0],
        ],
        output_layers: ['add', 0, 0],
      },
    };
    const out = translateModelConfig(model, known);
    assert.deepEqual(layersOf(out)[2]!.inbound_nodes, [
      [
        ['a', 0, 0, {}],
        ['b', 0, 0, {}],
      ],
    ]);
    // Keras 3 writes a single output flat; tfjs wants a list of references.
    assert.deepEqual((out.config as {output_layers: unknown}).output_layers, [['add', 0, 0]]);
  });

  it('Keras ≤ 2.1 Sequential configs (a bare list of layers) are accepted', () => {
    const out = translateModelConfig(
      {class_name: 'Sequential', config: [{class_name: 'Dense', config: {name: 'd', units: 1}}]},
      known
    );
    assert.equal(layersOf(out).length, 1);
  });

  it('names every unsupported layer with its class, its name and why', () => {
    assert.throws(
      () =>
        translateModelConfig(
          sequential(
            {class_name: 'Lambda', config: {name: 'lambda_1'}},
            {class_name: 'LocallyConnected2D', config: {name: 'lc'}}
          ),
          known
        ),
      (e: unknown) =>
        e instanceof UnsupportedLayerError &&
        /Lambda 'lambda_1' \(it holds marshalled Python code\)/.test(e.message) &&
        /LocallyConnected2D 'lc'/.test(e.message)
    );
  });

  for (const [cls, why] of [
    ['LocallyConnected2D', /\(a built-in Keras layer that neither engine here implements\)/],
    ['MultiHeadAttention', /\(a built-in Keras layer that neither engine here implements\)/],
    ['RandomGrayscale', /\(a Keras 3 augmentation layer, for training; .*save the model without it\)/],
    ['MyBlock', /\(no such built-in layer \(a custom or newer Keras layer\)\)/],
  ] as const) {
    it(`says why ${cls} is refused`, () => {
      const unknown = (c: string) => c !== cls;
      assert.throws(
        () => translateModelConfig(sequential({class_name: cls, config: {name: 'x'}}), unknown),
        (e: unknown) => {
          assert.ok(e instanceof UnsupportedLayerError);
          assert.match(e.message, new RegExp(`${cls} 'x' ${why.source}`));
          assert.match(e.message, /Replace it with layers both engines run \(the README lists them\)/);
          return true;
        }
      );
    });
  }

  it('refuses configs whose nodes refer to layers that do not exist (tfjs would loop forever)', () => {
    const model: ModelEntry = {
      class_name: 'Functional',
      config: {
        name: 'f',
        layers: [
          {class_name: 'Dense', name: 'd', config: {name: 'd', units: 1}, inbound_nodes: [[['ghost', 0, 0, {}]]]},
        ],
        input_layers: [],
        output_layers: [['d', 0, 0]],
      },
    };
    assert.throws(() => translateModelConfig(model, known), /refer to 'ghost'/);
  });

  it('does not modify its argument', () => {
    const model = sequential({class_name: 'InputLayer', config: {name: 'in', batch_shape: [null, 3]}});
    const before = JSON.stringify(model);
    translateModelConfig(model, known);
    assert.equal(JSON.stringify(model), before);
  });
});
