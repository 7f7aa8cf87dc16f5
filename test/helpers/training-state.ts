/** A valid training state for a model, as a run of `batch` streams would save it, with small deterministic values. */
import { shapeSize, tensorSpecs, type ModelConfig } from '../../src/core/config.js';
import { BUFFER_NAMES, type OptimizerKind } from '../../src/core/optim.js';
import { Rng } from '../../src/core/rng.js';
import { DEFAULT_TRAIN_OPTIONS } from '../../src/train/options.js';
import type { TrainingState } from '../../src/train/state.js';

const wave = (length: number, phase: number): Float32Array =>
  Float32Array.from({ length }, (_, i) => Math.sin(i + phase) * 0.1);
/** Optimizer buffers hold sums of squares, which are never negative. */
const squares = (length: number, phase: number): Float32Array => wave(length, phase).map((x) => x * x);

export function trainingStateFor(model: ModelConfig, batch = 2, optimizer: OptimizerKind = 'adam'): TrainingState {
  const sizes = tensorSpecs(model).map((spec) => shapeSize(spec.shape));
  return {
    engine: 'charrnn',
    device: 'js',
    options: {
      ...DEFAULT_TRAIN_OPTIONS,
      cell: model.cell,
      layers: model.layers,
      hidden: model.hidden,
      dropout: model.dropout,
      batch,
      optimizer,
    },
    corpus: { path: '/data/corpus.txt', chars: 5000, fingerprint: '0123abcd' },
    iteration: 20,
    epoch: 1,
    chunk: 4,
    charsTrained: 20 * batch * DEFAULT_TRAIN_OPTIONS.seqLength,
    elapsedSeconds: 1.5,
    rng: new Rng(7).state(),
    optimizer: {
      kind: optimizer,
      step: 20,
      buffers: Object.fromEntries(
        BUFFER_NAMES[optimizer].map((name, k) => [name, sizes.map((size, i) => squares(size, i + k))]),
      ),
    },
    carried: Array.from({ length: model.layers }, (_, layer) => ({
      h: wave(batch * model.hidden, layer),
      ...(model.cell === 'lstm' ? { c: wave(batch * model.hidden, layer + 0.5) } : {}),
    })),
    history: [
      { iteration: 10, epoch: 0.5, trainLoss: 1.4 },
      { iteration: 20, epoch: 1, trainLoss: 1.2, valLoss: 1.3 },
    ],
    bestValLoss: 1.3,
    lastValLoss: 1.3,
    scheduleLength: null,
  };
}
