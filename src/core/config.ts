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

/** One tensor's place in the flat parameter (and gradient, and optimizer-state) buffer. */
export interface TensorLayout extends TensorSpec {
  /** First float of the tensor in the flat buffer. */
  offset: number;
  /** Floats it holds (the product of its shape). */
  size: number;
}

/** Where every tensor lives in one flat buffer, in state_dict order; `size` is the buffer's length. */
export interface ParameterLayout {
  tensors: TensorLayout[];
  size: number;
}

/**
 * Tensors start at multiples of this many floats (64 bytes): each keeps the alignment it had as a
 * buffer of its own. The gaps are zero in parameters and gradients, so they change no sum and no update.
 */
export const TENSOR_ALIGN_FLOATS = 16;

export function alignFloats(size: number): number {
  return Math.ceil(size / TENSOR_ALIGN_FLOATS) * TENSOR_ALIGN_FLOATS;
}

/** Lays the tensors out one after another (llm.c's fill_in_parameter_sizes), computed once per model. */
export function packTensors(specs: readonly TensorSpec[]): ParameterLayout {
  let offset = 0;
  const tensors = specs.map((spec) => {
    const size = shapeSize(spec.shape);
    const placed = { ...spec, offset, size };
    offset += alignFloats(size);
    return placed;
  });
  return { tensors, size: offset };
}

export function parameterLayout(config: ModelConfig): ParameterLayout {
  return packTensors(tensorSpecs(config));
}

/** Views of each tensor of a flat buffer laid out by `layout`, keyed by PyTorch name. */
export function tensorViews(flat: Float32Array, layout: ParameterLayout): Map<string, Float32Array> {
  return new Map(layout.tensors.map(({ name, offset, size }) => [name, flat.subarray(offset, offset + size)]));
}

export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((size, dim) => size * dim, 1);
}

export function parameterCount(config: ModelConfig): number {
  return tensorSpecs(config).reduce((count, spec) => count + shapeSize(spec.shape), 0);
}
