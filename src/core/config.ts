/** Model configuration and the PyTorch-compatible parameter layout. */

export type CellType = 'rnn' | 'lstm' | 'gru';

export const CELL_TYPES: readonly CellType[] = ['rnn', 'lstm', 'gru'];

export interface ModelConfig {
  cell: CellType;
  layers: number;
  hidden: number;
  vocab: number;
  /** Dropout probability applied to the outputs of every layer but the last (training only). */
  dropout: number;
}

export interface TensorSpec {
  name: string;
  shape: number[];
}

/** Gates per cell: the row blocks of weight_ih / weight_hh (PyTorch order: lstm i,f,g,o; gru r,z,n). */
export function gateCount(cell: CellType): number {
  return cell === 'lstm' ? 4 : cell === 'gru' ? 3 : 1;
}

/** Tensor names and shapes in PyTorch state_dict order: nn.RNN/LSTM/GRU followed by the nn.Linear decoder. */
export function tensorSpecs(config: ModelConfig): TensorSpec[] {
  const { hidden, vocab, layers } = config;
  const gateRows = gateCount(config.cell) * hidden;
  const specs: TensorSpec[] = [];
  for (let layer = 0; layer < layers; layer++) {
    const inputSize = layer === 0 ? vocab : hidden;
    specs.push(
      { name: `weight_ih_l${layer}`, shape: [gateRows, inputSize] },
      { name: `weight_hh_l${layer}`, shape: [gateRows, hidden] },
      { name: `bias_ih_l${layer}`, shape: [gateRows] },
      { name: `bias_hh_l${layer}`, shape: [gateRows] },
    );
  }
  specs.push({ name: 'decoder.weight', shape: [vocab, hidden] }, { name: 'decoder.bias', shape: [vocab] });
  return specs;
}

export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((size, dim) => size * dim, 1);
}

export function parameterCount(config: ModelConfig): number {
  return tensorSpecs(config).reduce((count, spec) => count + shapeSize(spec.shape), 0);
}
