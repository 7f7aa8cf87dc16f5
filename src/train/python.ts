/**
 * Finding a Python that imports torch, for the PyTorch engine, and the engine's module beside the package:
 * `--python PATH`, else `$CHARRNN_PYTHON`, else each `python3` on PATH in order, then /usr/bin/python3.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CharrnnError } from '../errors.js';

export interface TorchPython {
  /** The interpreter, as given or found. */
  path: string;
  /** torch.__version__. */
  torchVersion: string;
}

/** Where a Python was asked for: by --python, by $CHARRNN_PYTHON, or not at all (PATH is searched). */
export interface PythonRequest {
  python?: string;
  environment: NodeJS.ProcessEnv;
  /** Said after the advice when nothing is found (a resumed torch run: how to go on without torch). */
  otherwise?: string;
}

const HOW_TO_INSTALL =
  'install it (apt-get install python3-torch, or pip install torch) or name one with --python PATH';
/** Seconds importing torch may take (a cold disk, a loaded machine). */
const IMPORT_TIMEOUT_SECONDS = 120;

/** The first candidate whose torch imports; else one line naming each tried and why it failed. */
export function findTorchPython(request: PythonRequest): TorchPython {
  const { python, environment } = request;
  const named = python !== undefined ? `--python ${python}` : environment.CHARRNN_PYTHON ? '$CHARRNN_PYTHON' : null;
  const candidates = python !== undefined ? [python] : environment.CHARRNN_PYTHON ? [environment.CHARRNN_PYTHON] : [];
  if (named === null) candidates.push(...pathCandidates(environment.PATH ?? ''), '/usr/bin/python3');
  const failures: string[] = [];
  for (const path of new Set(candidates)) {
    const found = importTorch(path);
    if (typeof found !== 'string') return found;
    failures.push(`${path}: ${found}`);
  }
  const otherwise = request.otherwise ? `; ${request.otherwise}` : '';
  if (named !== null) {
    throw new CharrnnError(
      `--engine torch: ${named} cannot import torch (${failures[0]}); ${HOW_TO_INSTALL}${otherwise}`,
    );
  }
  throw new CharrnnError(
    `--engine torch: no Python with torch found (tried ${failures.join('; ')}); ${HOW_TO_INSTALL}${otherwise}`,
  );
}

/** Each `python3` on PATH, in order. */
function pathCandidates(searchPath: string): string[] {
  return searchPath
    .split(delimiter)
    .filter((directory) => directory !== '')
    .map((directory) => join(directory, 'python3'))
    .filter((path) => existsSync(path));
}

/** The interpreter with its torch version, or why it has none (its last line of stderr, or how it ended). */
function importTorch(path: string): TorchPython | string {
  const result = spawnSync(path, ['-c', 'import sys, torch; sys.stdout.write(torch.__version__)'], {
    encoding: 'utf8',
    timeout: IMPORT_TIMEOUT_SECONDS * 1000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (result.error) {
    const code = (result.error as NodeJS.ErrnoException).code ?? result.error.message;
    return code === 'ETIMEDOUT' ? `import torch took over ${IMPORT_TIMEOUT_SECONDS} s` : `cannot run it (${code})`;
  }
  if (result.status === 0 && result.stdout.trim() !== '') return { path, torchVersion: result.stdout.trim() };
  const lastLine = lastLineOf(result.stderr);
  return lastLine || (result.signal ? `killed by ${result.signal}` : `exit status ${result.status}`);
}

/** The last non-blank line of a process's output. */
export function lastLineOf(text: string): string {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  return lines.length > 0 ? lines[lines.length - 1]!.trim() : '';
}

/** torch-engine/charrnn_torch.py at the package's root: above dist/ in a bundle, above src/train/ in sources. */
export function torchEngineScript(): string {
  const candidates = ['../torch-engine/charrnn_torch.py', '../../torch-engine/charrnn_torch.py'].map((relative) =>
    fileURLToPath(new URL(relative, import.meta.url)),
  );
  const script = candidates.find((path) => existsSync(path));
  if (!script) throw new CharrnnError(`the PyTorch engine's module is missing (looked for ${candidates.join(', ')})`);
  return script;
}
