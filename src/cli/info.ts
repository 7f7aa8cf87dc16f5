/** `charrnn info CHECKPOINT`: model, vocabulary, training progress and a loss curve in the terminal. */
import * as asciichart from 'asciichart';
import { readWholeText } from '../files/read.js';
import { BOOLEAN, PATH, wholeNumber } from '../settings.js';
import type { HistoryPoint, Origin } from '../train/state.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { historyFromLog, summarizeCheckpoint, type CheckpointSummary } from '../train/summary.js';
import type { Command } from './flags.js';
import { colorAllowed, escapeControls, formatCount, formatDuration, StdoutWriter } from './terminal.js';

interface InfoArgs {
  checkpoint: string;
  json: boolean;
  log?: string;
  width: number;
  color: boolean;
}

const CHART_HEIGHT = 12;

/** Symbols as they would be typed: control characters escaped, the rest as themselves. */
export function printableVocabulary(vocab: string[]): string {
  return vocab.map(escapeControls).join(' ');
}

/** Mean train loss per column and the latest validation loss, both in bits per character. */
function resample(history: HistoryPoint[], width: number): { train: number[]; val: number[] } {
  const first = history[0]!.iteration;
  const last = history[history.length - 1]!.iteration;
  const columns = Math.max(2, Math.min(width, history.length));
  const sums = new Array<number>(columns).fill(0);
  const counts = new Array<number>(columns).fill(0);
  const val = new Array<number>(columns).fill(NaN);
  for (const point of history) {
    const column =
      last === first ? 0 : Math.min(columns - 1, Math.floor(((point.iteration - first) / (last - first)) * columns));
    if (Number.isFinite(point.trainLoss)) {
      sums[column] += point.trainLoss / Math.LN2;
      counts[column]++;
    }
    if (point.valLoss !== undefined) val[column] = point.valLoss / Math.LN2;
  }
  const means = carryForward(sums.map((sum, i) => (counts[i] ? sum / counts[i]! : NaN)));
  const train = means.map((value) => (Number.isFinite(value) ? value : (means.find(Number.isFinite) ?? 0)));
  // Before the first evaluation the validation line lies on the train line, which is drawn over it.
  const lastVal = carryForward(val);
  return {
    train,
    val: val.some(Number.isFinite) ? lastVal.map((value, i) => (Number.isFinite(value) ? value : train[i]!)) : [],
  };
}

/** Fills each gap with the last value before it; a leading gap stays NaN. */
function carryForward(series: number[]): number[] {
  let last = NaN;
  return series.map((value) => (last = Number.isFinite(value) ? value : last));
}

export function renderChart(history: HistoryPoint[], width: number, color: boolean): string {
  if (history.length < 2) return '';
  const { train, val } = resample(history, width);
  // Validation first, so that where the two coincide the train line is the one seen.
  const series = val.length ? [val, train] : [train];
  const colors = color ? (val.length ? [asciichart.green, asciichart.blue] : [asciichart.blue]) : undefined;
  const chart = asciichart.plot(series, {
    height: CHART_HEIGHT,
    colors,
    format: (x: number) => x.toFixed(2).padStart(6),
  });
  const legend =
    `bits/char over iterations ${history[0]!.iteration}–${history[history.length - 1]!.iteration}: ` +
    (!val.length
      ? 'train'
      : color
        ? `${asciichart.blue}train${asciichart.reset}, ${asciichart.green}validation${asciichart.reset}`
        : 'train, and validation where it leaves the train line (from its first evaluation)');
  return `${chart}\n${legend}`;
}

function renderText(summary: CheckpointSummary, path: string, width: number, color: boolean): string {
  const { model, training } = summary;
  const lines = [
    `checkpoint  ${escapeControls(path)}`,
    `model       ${model.cell}, ${model.layers} layer${model.layers > 1 ? 's' : ''} × ${model.hidden} hidden, ` +
      `dropout ${model.dropout}`,
    `parameters  ${summary.parameters.toLocaleString('en-US')}`,
    `vocabulary  ${summary.vocab.length} symbols: ${printableVocabulary(summary.vocab)}`,
  ];
  if (training) {
    const options = training.options as Record<string, number | string>;
    lines.push(
      `training    iteration ${training.iteration}, epoch ${training.epoch.toFixed(2)}, ` +
        `${formatCount(training.chars)} chars in ${formatDuration(training.seconds)}`,
      `recipe      ${options.optimizer} lr ${options.learningRate}, ` +
        `batch ${options.batch} × seq ${options.seqLength}, clip ${options.clip}, seed ${options.seed}`,
      `corpus      ${escapeControls(training.corpus ?? 'stdin')} ` +
        `(${training.corpusChars.toLocaleString('en-US')} characters)`,
      ...(training.origin ? [`from        ${describeOrigin(training.origin)}`] : []),
      `engine      ${training.engine}${training.device === null ? '' : ` on ${escapeControls(training.device)}`}`,
      `validation  last ${training.lastValBpc?.toFixed(3) ?? '-'} bpc, ` +
        `best ${training.bestValBpc?.toFixed(3) ?? '-'} bpc`,
    );
  } else if (summary.trainingDamage) lines.push(`training    damaged: ${summary.trainingDamage}`);
  else lines.push('training    none recorded (a checkpoint for sampling only)');
  const chart = renderChart(summary.history, width, color);
  return `${lines.join('\n')}${chart ? `\n\n${chart}` : ''}\n`;
}

/** A fine-tuned run's source: `base.json (iteration 3000, corpora/moby-dick.txt)`. */
function describeOrigin({ checkpoint, iteration, corpus }: Origin): string {
  if (iteration === null) return `${escapeControls(checkpoint)} (no training recorded)`;
  return `${escapeControls(checkpoint)} (iteration ${iteration}, ${escapeControls(corpus ?? 'stdin')})`;
}

export const infoCommand: Command<InfoArgs> = {
  command: 'info <checkpoint>',
  describe: 'Describe a checkpoint: model, vocabulary, training progress, loss curve',
  positionals: { checkpoint: 'A checkpoint file' },
  flags: [
    { name: 'json', kind: BOOLEAN, default: false, help: 'Print everything as one JSON object' },
    { name: 'log', kind: PATH, help: 'Draw the curve from a --log file of the run instead of the checkpoint history' },
    { name: 'width', kind: wholeNumber(10, 1000), default: 72, help: 'Chart width in columns' },
  ],
  examples: [['charrnn info checkpoints/moby-dick.json', 'summary and loss curve']],
  handler: async (argv: InfoArgs) => {
    const checkpoint = loadCheckpoint(argv.checkpoint);
    const summary = summarizeCheckpoint(checkpoint);
    if (argv.log !== undefined) {
      summary.history = historyFromLog(readWholeText(argv.log, '--log'));
    }
    const color = colorAllowed(process.stdout, argv.color);
    const stdout = new StdoutWriter();
    await stdout.write(
      argv.json ? `${JSON.stringify(summary)}\n` : renderText(summary, argv.checkpoint, argv.width, color),
    );
    stdout.throwIfFailed();
  },
};
