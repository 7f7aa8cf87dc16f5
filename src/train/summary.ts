/** What `charrnn info` shows: a checkpoint's model, vocabulary and training progress, as plain data. */
import { parameterCount, type ModelConfig } from '../core/config.js';
import type { Checkpoint } from './checkpoint.js';
import type { EngineKind } from './options.js';
import type { HistoryPoint, Origin } from './state.js';

export interface CheckpointSummary {
  model: ModelConfig;
  parameters: number;
  vocab: string[];
  training: {
    iteration: number;
    epoch: number;
    chars: number;
    seconds: number;
    corpus: string | null;
    corpusChars: number;
    /** Where a fine-tuned run's first weights came from; null for a run from fresh weights. */
    origin: Origin | null;
    /** The engine that trained the latest iterations, and its device or kernels (null when not recorded). */
    engine: EngineKind;
    device: string | null;
    options: Record<string, unknown>;
    lastValBpc: number | null;
    bestValBpc: number | null;
  } | null;
  /** Why the training section cannot be used, when it is damaged (the weights are fine). */
  trainingDamage?: string;
  /** Loss over training (nats/char), from the checkpoint or a --log file. */
  history: HistoryPoint[];
}

const toBpc = (nats: number | null) => (nats === null ? null : nats / Math.LN2);

export function summarizeCheckpoint(checkpoint: Checkpoint): CheckpointSummary {
  const base = { model: checkpoint.model, parameters: parameterCount(checkpoint.model), vocab: checkpoint.vocab };
  const state = checkpoint.training;
  if (!state) {
    const damage = checkpoint.trainingDamage;
    return { ...base, training: null, ...(damage === undefined ? {} : { trainingDamage: damage }), history: [] };
  }
  const lastEpoch = state.history.length > 0 ? state.history[state.history.length - 1]!.epoch : state.epoch;
  return {
    ...base,
    training: {
      iteration: state.iteration,
      epoch: Math.max(state.epoch, lastEpoch),
      chars: state.charsTrained,
      seconds: state.elapsedSeconds,
      corpus: state.corpus.path,
      corpusChars: state.corpus.chars,
      origin: state.origin ?? null,
      engine: state.engine,
      device: state.device,
      options: { ...state.options },
      lastValBpc: toBpc(state.lastValLoss),
      bestValBpc: toBpc(state.bestValLoss),
    },
    history: state.history,
  };
}

/** Reads the history from `--log` JSON lines (progress and eval events). */
export function historyFromLog(text: string): HistoryPoint[] {
  const points: HistoryPoint[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(line);
    } catch {
      continue;
    }
    if (event.event === 'progress' && typeof event.trainLoss === 'number') {
      points.push({ iteration: event.iteration as number, epoch: event.epoch as number, trainLoss: event.trainLoss });
    } else if (event.event === 'eval' && typeof event.valLoss === 'number') {
      const last = points[points.length - 1];
      if (last?.iteration === event.iteration) last.valLoss = event.valLoss;
      else
        points.push({
          iteration: event.iteration as number,
          epoch: event.epoch as number,
          trainLoss: NaN,
          valLoss: event.valLoss,
        });
    }
  }
  return points;
}
