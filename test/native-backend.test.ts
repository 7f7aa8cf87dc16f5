/**
 * Choosing the native kernels through the built binary: auto takes them where they load, the instruction
 * set can be forced (CHARRNN_NATIVE_ISA), and a copy of the bundle without the addon, or with one that
 * does not load, falls back to WebAssembly under auto and refuses --kernel native in one line.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { nativeIsas } from '../src/core/native/kernels-native.js';
import { reportNativeSkip } from './helpers/backends.js';

const DIST = resolve(import.meta.dirname, '..', 'dist');
const TRAIN = ['train', 'corpus.txt', '--hidden', '8', '--seq', '8', '--batch', '2', '--iters', '1', '--json', '-q'];

let dir: string;

function charrnn(cli: string, args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [cli, ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, CI: 'true', ...env },
  });
}

const startKernel = (stdout: string): string => JSON.parse(stdout.split('\n')[0]!).kernel;

/** A copy of the bundle's scripts in `name`, with `addon` as its native/charrnn-kernels.node when given. */
function bundleCopy(name: string, addon?: string): string {
  const copy = join(dir, name);
  mkdirSync(join(copy, 'native'), { recursive: true });
  for (const file of readdirSync(DIST).filter((entry) => entry.endsWith('.js'))) {
    copyFileSync(join(DIST, file), join(copy, file));
  }
  if (addon !== undefined) writeFileSync(join(copy, 'native', 'charrnn-kernels.node'), addon);
  return join(copy, 'cli.js');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-native-'));
  writeFileSync(join(dir, 'corpus.txt'), 'the cat sat on the mat. '.repeat(40));
});

describe('choosing the native kernels', () => {
  reportNativeSkip();

  it.runIf(nativeIsas().length > 0)('auto takes the fastest instruction set; CHARRNN_NATIVE_ISA forces one', () => {
    const cli = join(DIST, 'cli.js');
    const auto = charrnn(cli, [...TRAIN, '-o', 'auto.json']);
    expect(auto.status).toBe(0);
    expect(startKernel(auto.stdout)).toBe(`native-${nativeIsas()[0]}`);
    for (const isa of nativeIsas()) {
      const forced = charrnn(cli, [...TRAIN, '-o', `${isa}.json`], { CHARRNN_NATIVE_ISA: isa });
      expect(startKernel(forced.stdout)).toBe(`native-${isa}`);
    }
    const unknown = charrnn(cli, [...TRAIN, '--kernel', 'native', '-o', 'x.json'], { CHARRNN_NATIVE_ISA: 'sse9' });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(
      /^charrnn: CHARRNN_NATIVE_ISA=sse9: this CPU runs the native kernels as [a-z0-9, ]+\n$/,
    );
  });

  it.runIf(nativeIsas().length > 0)('a run resumes on another backend: it continues, not bit for bit', () => {
    const cli = join(DIST, 'cli.js');
    const base = ['train', 'corpus.txt', '--hidden', '8', '--seq', '8', '--batch', '2', '--json', '-q'];
    const trained = charrnn(cli, [...base, '--iters', '4', '--kernel', 'native', '-o', 'across.json']);
    expect(trained.status).toBe(0);
    for (const kernel of ['wasm', 'js', 'native']) {
      const resumed = charrnn(cli, ['resume', 'across.json', '--iters', '8', '--kernel', kernel, '--json', '-q']);
      expect(resumed.status).toBe(0);
      const lines = resumed.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(lines[0]).toMatchObject({ event: 'start', iteration: 4, resumed: true });
      expect(lines[0].kernel).toMatch(new RegExp(`^${kernel}`));
      expect(lines.at(-1)).toMatchObject({ event: 'done', iterations: 8 });
      // Back to where it stopped, for the next backend.
      expect(charrnn(cli, [...base, '--iters', '4', '--kernel', 'native', '-o', 'across.json']).status).toBe(0);
    }
  });

  for (const [name, addon, reason] of [
    ['not built', undefined, 'the native kernels are not built'],
    ['not loadable', 'not a shared object', 'the native kernels did not load \\(.*\\)'],
  ] as const) {
    it(`${name}: auto falls back to WebAssembly, saying why in train only; --kernel native is one line, exit 2`, () => {
      const cli = bundleCopy(name.replace(' ', '-'), addon);
      const auto = charrnn(cli, [...TRAIN, '-o', `${name}.json`]);
      expect(auto.stderr).toBe('');
      expect(startKernel(auto.stdout)).toMatch(/^wasm-/);
      const told = charrnn(cli, [...TRAIN.filter((word) => word !== '-q'), '-o', `${name}-told.json`]);
      expect(told.stderr.split('\n')[0]).toMatch(
        new RegExp(`^note: ${reason}, so this run computes with wasm-[a-z-]+, about 2-4x slower; .*npm run build$`),
      );
      const sampled = charrnn(cli, ['sample', '-c', `${name}-told.json`, '-l', '5']);
      expect([sampled.status, sampled.stderr]).toEqual([0, '']);
      const forcedWasm = charrnn(cli, [...TRAIN.filter((word) => word !== '-q'), '--kernel', 'wasm', '-o', 'w.json']);
      expect(forcedWasm.stderr).not.toMatch(/note:/);
      const forced = charrnn(cli, [...TRAIN, '--kernel', 'native', '-o', `${name}-native.json`]);
      expect(forced.status).toBe(2);
      expect(forced.stderr).toMatch(
        new RegExp(
          `^charrnn: --kernel native: ${reason}; build them with \`npm run build\` \\(needs a C compiler\\)\\n$`,
        ),
      );
    });
  }
});
