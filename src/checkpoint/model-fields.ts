/**
 * The checks every model file makes of what it declares, whatever its encoding: the model's fields, its
 * vocabulary, each tensor's shape and values. The JSON checkpoint (format.ts) and the web model file
 * (web-format.ts) both call these, so a fault reads the same in either. No Node built-ins: the browser
 * runs them too.
 */
import { CELL_TYPES, type CellType, type ModelConfig, type TensorSpec } from '../core/config.js';
import { CharrnnError } from '../errors.js';
import { isObject } from './json.js';

/** Upper bounds on what a model file may declare, so a damaged file cannot make us allocate gigabytes. */
const MAX = { layers: 64, hidden: 65_536, vocab: 1_114_112 } as const;

/** The model's fields (`value`, as the file holds them) checked, as a ModelConfig. */
export function parseModel(value: unknown, source: string): ModelConfig {
  if (!isObject(value)) throw new CharrnnError(`${source}: "model" is missing or not an object`);
  const integer = (field: string, max: number): number => {
    const n = value[field];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > max) {
      throw new CharrnnError(
        `${source}: model.${field} is ${JSON.stringify(n)}; expected a whole number from 1 to ${max}`,
      );
    }
    return n;
  };
  if (!CELL_TYPES.includes(value.cell as CellType))
    throw new CharrnnError(
      `${source}: model.cell is ${JSON.stringify(value.cell)}; expected one of ${CELL_TYPES.join(', ')}`,
    );
  const dropout = value.dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1))
    throw new CharrnnError(`${source}: model.dropout is ${JSON.stringify(dropout)}; expected a number in [0, 1)`);
  return {
    cell: value.cell as CellType,
    layers: integer('layers', MAX.layers),
    hidden: integer('hidden', MAX.hidden),
    vocab: integer('vocab', MAX.vocab),
    dropout,
  };
}

/** The vocabulary checked: `size` entries (model.vocab), each one character, none twice. */
export function parseVocab(value: unknown, size: number, source: string): string[] {
  if (!Array.isArray(value)) throw new CharrnnError(`${source}: "vocab" is missing or not an array`);
  if (value.length !== size)
    throw new CharrnnError(`${source}: the vocabulary has ${value.length} entries but model.vocab says ${size}`);
  const seen = new Set<string>();
  value.forEach((symbol: unknown, id) => {
    if (typeof symbol !== 'string' || [...symbol].length !== 1)
      throw new CharrnnError(`${source}: vocab[${id}] is ${JSON.stringify(symbol)}; each entry must be one character`);
    if (seen.has(symbol)) throw new CharrnnError(`${source}: vocab[${id}] ${JSON.stringify(symbol)} appears twice`);
    seen.add(symbol);
  });
  return value as string[];
}

/** Refuses a tensor whose declared shape is not the one the model needs. */
export function checkTensorShape(shape: unknown, spec: TensorSpec, source: string): void {
  if (!Array.isArray(shape) || shape.length !== spec.shape.length || shape.some((dim, i) => dim !== spec.shape[i])) {
    throw new CharrnnError(
      `${source}: tensor ${spec.name} has shape ${JSON.stringify(shape)}; ` +
        `the model needs ${JSON.stringify(spec.shape)}`,
    );
  }
}

/** Refuses a tensor holding NaN or an infinity: the weights of a run that diverged. */
export function checkFinite(data: Float32Array, name: string, source: string): void {
  const bad = data.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) {
    throw new CharrnnError(
      `${source}: tensor ${name} contains ${data[bad]} at index ${bad}; ` +
        'the run that wrote it diverged, use an earlier checkpoint',
    );
  }
}
