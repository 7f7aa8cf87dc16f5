/** `charrnn export --web CHECKPOINT DIR`: a model, the browser module and a demo page, for a web page. */
import { CharrnnError, EXIT } from '../errors.js';
import { checkExportOptions, EXPORT_OPTIONS, type ExportedFile, exportWeb, type WebExport } from '../index.js';
import { BOOLEAN, flagNamer } from '../settings.js';
import { flagsOf, settingsFromArgs, type Command } from './flags.js';
import { createTerminal, escapeControls, shellQuote, StdoutWriter } from './terminal.js';

interface ExportArgs {
  checkpoint: string;
  dir: string;
  web: boolean;
  json: boolean;
  quiet: boolean;
  color: boolean;
  [flag: string]: unknown;
}

/** export's options named by their flags in the library's messages. */
const exportFlagOf = flagNamer(EXPORT_OPTIONS);

const bytes = (count: number): string => `${count.toLocaleString('en-US')} bytes`;

/** What was written, sizes and --half's cost, for a person: one line each. */
function reportLines(result: WebExport, checkpoint: string): string[] {
  const { cell, layers, hidden, vocab } = result.model;
  const nameWidth = Math.max(...result.files.map((file) => file.name.length));
  const sizeWidth = Math.max(...result.files.map((file) => bytes(file.bytes).length));
  const detail = (file: ExportedFile): string =>
    file.name === 'model.bin'
      ? `${result.dtype}${result.dtype === 'float16' ? `; float32 would be ${bytes(result.float32Bytes)}` : ''}`
      : `${bytes(file.gzipBytes)} gzipped`;
  return [
    `exported ${escapeControls(checkpoint)} (${cell} ${layers}×${hidden}, ${vocab} characters) ` +
      `to ${escapeControls(result.dir)}:`,
    ...result.files.map(
      (file) => `  ${file.name.padEnd(nameWidth)}  ${bytes(file.bytes).padStart(sizeWidth)}  (${detail(file)})`,
    ),
    ...halfCostLines(result.halfCost),
    `serve it with any static server and open its address, e.g.: python3 -m http.server -d ${shellQuote(result.dir)} 8000`,
  ];
}

function halfCostLines(cost: WebExport['halfCost']): string[] {
  if (cost === null) return [];
  if ('unmeasured' in cost) return [`--half's cost in validation loss was not measured: ${cost.unmeasured}`];
  const change = cost.float16Loss - cost.float32Loss;
  const sign = change >= 0 ? '+' : '';
  return [
    `--half costs ${sign}${change.toPrecision(2)} nats/char of validation loss ` +
      `(${cost.float32Loss.toFixed(4)} → ${cost.float16Loss.toFixed(4)}, ` +
      `${sign}${((change / cost.float32Loss) * 100).toPrecision(2)}%), ` +
      `over ${cost.chars.toLocaleString('en-US')} characters of ${escapeControls(cost.source)}`,
  ];
}

export const exportCommand: Command<ExportArgs> = {
  command: 'export <checkpoint> <dir>',
  describe: 'Write a model, the browser module and a demo page into a directory, for a web page',
  positionals: {
    checkpoint: 'A checkpoint file',
    dir: 'Where to write model.bin, charrnn.js and index.html: a new directory, an empty one, or an earlier export',
  },
  flags: [
    { name: 'web', kind: BOOLEAN, default: false, help: 'Export for web pages (the one form export writes)' },
    ...flagsOf(EXPORT_OPTIONS),
    { name: 'json', kind: BOOLEAN, default: false, help: 'Print what was written as one JSON object on stdout' },
  ],
  examples: [
    ['charrnn export --web checkpoints/moby-dick.best.json site', 'then serve site/ and open its index.html'],
    ['charrnn export --web --half checkpoints/moby-dick.json site', 'float16 weights: half the download'],
  ],
  handler: async (argv: ExportArgs) => {
    const options = settingsFromArgs(EXPORT_OPTIONS, argv);
    if (!argv.web) {
      // Bad values first, as every command: the library's check (exportWeb's own), before the form is asked for.
      checkExportOptions(options, exportFlagOf);
      throw new CharrnnError('export needs --web, the form to write (the only one so far: a web page)', EXIT.usage);
    }
    const result = await exportWeb(argv.checkpoint, argv.dir, options, exportFlagOf);
    if (argv.json) {
      const stdout = new StdoutWriter();
      await stdout.write(`${JSON.stringify(result)}\n`);
      stdout.throwIfFailed();
      return;
    }
    const terminal = createTerminal({ quiet: argv.quiet, color: argv.color });
    for (const line of reportLines(result, argv.checkpoint)) terminal.info(line);
  },
};
