/** The commands of charrnn, each from its own file, and the words around them in --help. */
import { evalCommand } from './eval.js';
import { exportCommand } from './export.js';
import type { Program } from './flags.js';
import { infoCommand } from './info.js';
import { resumeCommand } from './resume.js';
import { sampleCommand } from './sample.js';
import { trainCommand } from './train.js';

/** `charrnn completion` is yargs' own command, declared with the parser (flags.ts). */
export const PROGRAM: Program = {
  name: 'charrnn',
  summary: 'Character-level RNN/LSTM/GRU language models: train on any text, sample, resume, take to a web page.',
  commands: [trainCommand, sampleCommand, resumeCommand, evalCommand, infoCommand, exportCommand],
  epilogue: 'Exit codes: 0 ok, 1 runtime error, 2 usage error, 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP.\nDocs: README.md',
};
