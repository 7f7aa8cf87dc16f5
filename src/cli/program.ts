/** The commands of charrnn, each from its own file, and the words around them in --help. */
import { evalCommand } from './eval.js';
import { completionScript, type Command, type Program } from './flags.js';
import { infoCommand } from './info.js';
import { resumeCommand } from './resume.js';
import { sampleCommand } from './sample.js';
import { trainCommand } from './train.js';

const completionCommand: Command<Record<string, never>> = {
  command: 'completion',
  describe: 'Print a bash/zsh completion script (charrnn completion >> ~/.bashrc)',
  flags: [],
  handler: () => {
    process.stdout.write(completionScript('charrnn'));
  },
};

export const PROGRAM: Program = {
  name: 'charrnn',
  summary: 'Character-level RNN/LSTM/GRU language models: train on any text, sample, resume.',
  commands: [trainCommand, sampleCommand, resumeCommand, evalCommand, infoCommand, completionCommand],
  epilogue: 'Exit codes: 0 ok, 1 runtime error, 2 usage error, 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP.\nDocs: README.md',
};
