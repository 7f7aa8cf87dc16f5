/**
 * What the PyTorch engine's tests share: the Python with torch they use (or why there is none), the text
 * and tiny model they train, and how two checkpoints' weights are compared.
 */
import { join } from 'node:path';
import { tensorData } from '../../src/checkpoint/format.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { findTorchPython } from '../../src/train/python.js';

export const ISHMAEL =
  `Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse,
and nothing particular to interest me on shore, I thought I would sail about a little and see the watery part
of the world. It is a way I have of driving off the spleen and regulating the circulation.
`.repeat(8);

/** Tiny and quick; batch 5 splits unevenly (3 + 2) over 2 processes; no dropout (the engines draw different masks). */
export const TINY = ['--hidden', '16', '--layers', '2', '--seq', '12', '--batch', '5', '--dropout', '0', '--seed', '7'];

/** The Python with torch these tests use, or why there is none. */
export function torchPython(): string | Error {
  try {
    return findTorchPython({ environment: process.env }).path;
  } catch (error) {
    return error as Error;
  }
}

/** The flags that train on PyTorch's CPU with `python`. */
export const onTorch = (python: string): string[] => ['--engine', 'torch', '--python', python, '--device', 'cpu'];

/** The largest difference over the largest magnitude, per tensor, worst over the model, of two checkpoints in `dir`. */
export function relativeDifference(dir: string, pathA: string, pathB: string): number {
  const a = tensorData(loadCheckpoint(join(dir, pathA)));
  const b = tensorData(loadCheckpoint(join(dir, pathB)));
  let worst = 0;
  for (const [name, x] of Object.entries(a)) {
    const y = b[name]!;
    let difference = 0;
    let magnitude = 0;
    for (let i = 0; i < x.length; i++) {
      difference = Math.max(difference, Math.abs(x[i]! - y[i]!));
      magnitude = Math.max(magnitude, Math.abs(x[i]!));
    }
    worst = Math.max(worst, difference / magnitude);
  }
  return worst;
}
