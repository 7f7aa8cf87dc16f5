/**
 * The checkpoint file, version 1: model configuration, vocabulary, tensors under PyTorch's state_dict
 * names, and an optional training section. Parsing validates the model, vocabulary and tensors and names
 * what is wrong; the training section stays plain JSON data here, which train/ decodes and checks
 * (train/checkpoint.ts), so that a damaged one is reported without refusing the weights.
 */
import { tensorSpecs, type ModelConfig } from '../core/config.js';
import { CharrnnError } from '../errors.js';
import { memorySource, type ByteSource } from './byte-source.js';
import { isObject } from './json.js';
import { JsonSyntaxError, readJson } from './json-reader.js';
import { jsonPieces } from './json-writer.js';
import { checkFinite, checkTensorShape, parseModel, parseVocab } from './model-fields.js';
import { decodeTensor, encodeTensor, type Tensor } from './tensor-codec.js';

export const CHECKPOINT_FORMAT = 'charrnn-checkpoint';
export const CHECKPOINT_VERSION = 1;

export interface CheckpointFile {
  model: ModelConfig;
  /** Index = id; one code point each. */
  vocab: string[];
  tensors: Record<string, Tensor>;
  /** The training section as plain JSON, unchecked (train/checkpoint.ts decodes it); absent if sampling-only. */
  training?: unknown;
}

/** A checkpoint's weights by their PyTorch names, as a model loads them. */
export function tensorData(checkpoint: Pick<CheckpointFile, 'tensors'>): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(checkpoint.tensors).map(([name, tensor]) => [name, tensor.data]));
}

/** The checkpoint as JSON in pieces to write in order (see json-writer.ts): no string holds the file. */
export function checkpointPieces(checkpoint: CheckpointFile): Iterable<string> {
  const tensors = Object.fromEntries(
    tensorSpecs(checkpoint.model).map(({ name }) => [name, encodeTensor(checkpoint.tensors[name]!)]),
  );
  return jsonPieces({
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    model: checkpoint.model,
    vocab: checkpoint.vocab,
    tensors,
    ...(checkpoint.training === undefined ? {} : { training: checkpoint.training }),
  });
}

/** The whole checkpoint as one string: for small models (tests); files are written with checkpointPieces. */
export function serializeCheckpoint(checkpoint: CheckpointFile): string {
  return [...checkpointPieces(checkpoint)].join('');
}

export function parseCheckpoint(text: string, source: string): CheckpointFile {
  return readCheckpointFrom(memorySource(Buffer.from(text, 'utf8')), source);
}

/** Reads and validates a checkpoint from `input`, its tensors decoded as they arrive (see json-reader.ts). */
export function readCheckpointFrom(input: ByteSource, source: string): CheckpointFile {
  let json: unknown;
  try {
    json = readJson(input);
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    const hint = input.endText()?.trimEnd().endsWith('}') !== false ? 'not valid JSON' : 'truncated or not JSON';
    throw new CharrnnError(`${source} is not a charrnn checkpoint (${hint}); was it cut off while being copied?`);
  }
  if (!isObject(json) || json.format !== CHECKPOINT_FORMAT) {
    throw new CharrnnError(`${source} is JSON but not a charrnn checkpoint (no "format": "${CHECKPOINT_FORMAT}")`);
  }
  if (typeof json.version !== 'number' || !Number.isInteger(json.version) || json.version < 1) {
    throw new CharrnnError(`${source}: the checkpoint version ${JSON.stringify(json.version)} is invalid`);
  }
  if (json.version > CHECKPOINT_VERSION) {
    throw new CharrnnError(
      `${source} was written by a newer charrnn (format version ${json.version}; ` +
        `this one reads version ${CHECKPOINT_VERSION}); upgrade charrnn`,
    );
  }
  const model = parseModel(json.model, source);
  const vocab = parseVocab(json.vocab, model.vocab, source);
  const tensors = parseTensors(json.tensors, model, source);
  return json.training === undefined ? { model, vocab, tensors } : { model, vocab, tensors, training: json.training };
}

function parseTensors(value: unknown, model: ModelConfig, source: string): Record<string, Tensor> {
  if (!isObject(value)) throw new CharrnnError(`${source}: "tensors" is missing or not an object`);
  const specs = tensorSpecs(model);
  const expected = new Set(specs.map((spec) => spec.name));
  const extra = Object.keys(value).filter((name) => !expected.has(name));
  if (extra.length > 0)
    throw new CharrnnError(`${source}: unexpected tensor ${extra[0]} for a ${model.layers}-layer ${model.cell}`);
  const tensors: Record<string, Tensor> = {};
  for (const spec of specs) {
    if (!(spec.name in value)) throw new CharrnnError(`${source}: tensor ${spec.name} is missing`);
    const raw = value[spec.name];
    checkTensorShape(isObject(raw) ? raw.shape : undefined, spec, source);
    const tensor = decodeTensor(raw, `${source}: tensor ${spec.name}`);
    checkFinite(tensor.data, spec.name, source);
    tensors[spec.name] = tensor;
  }
  return tensors;
}
