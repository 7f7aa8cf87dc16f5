#!/usr/bin/env node
// Kernel micro-benchmark on one thread: GFLOP/s of each matrix product at the shapes training uses
// (native and wasm vs the plain-JS reference), and ns per element of the gates and the small kernels.
// Bundles the TypeScript sources with esbuild into a temp file in dist/ (beside dist/native/, where the
// native addon is found), so it needs no build first; it does use the committed
// src/core/wasm/kernels-binary.ts (run `node scripts/build-wasm.mjs` after editing the kernels) and the
// built addon (`node scripts/build-native.mjs`; without it the native column is left out).
//
//   node bench/kernels.mjs [--seconds 0.3] [--only matmul|gates|small] [--variant relaxed-simd|simd]
//                          [--isa avx512|avx2|baseline] [--no-js] [--json]
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '0.3' },
    only: { type: 'string' },
    variant: { type: 'string' },
    isa: { type: 'string' },
    'no-js': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const seconds = Number(flags.seconds);

const entry = join(root, 'dist', `.kernel-bench-${process.pid}.mjs`);
let kernelModule;
try {
  await build({
    stdin: {
      contents:
        "export { createWasmKernels } from './src/core/wasm/kernels-wasm.ts';" +
        "export { createJsKernels } from './src/core/kernels-js.ts';" +
        "export { createNativeKernels, nativeUnavailableReason } from './src/core/native/kernels-native.ts';",
      resolveDir: root,
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: entry,
    logLevel: 'warning',
  });
  kernelModule = await import(pathToFileURL(entry).href);
} finally {
  rmSync(entry, { force: true });
}
const { createWasmKernels, createJsKernels, createNativeKernels, nativeUnavailableReason } = kernelModule;

// The default model (LSTM 2 × 128, batch 50, seq 50, vocab 83) on one thread, its shapes when two
// threads split the batch's streams, 25 each, and the 3 × 512 model.
const PRODUCTS = [
  ['recurrent step', 'matmulAB', 50, 512, 128],
  ['recurrent step backward', 'matmulAB', 50, 128, 512],
  ['input projection', 'matmulABt', 2500, 512, 128],
  ['input gradient', 'matmulAB', 2500, 128, 512],
  ['decoder', 'matmulABt', 2500, 83, 128],
  ['decoder backward', 'matmulAB', 2500, 128, 83],
  ['weight gradient', 'matmulAtB', 512, 128, 2500],
  ['decoder weight gradient', 'matmulAtB', 83, 128, 2500],
  ['recurrent step, ABt form', 'matmulABt', 50, 512, 128],
  ['25 streams: recurrent step', 'matmulAB', 25, 512, 128],
  ['25 streams: recurrent step backward', 'matmulAB', 25, 128, 512],
  ['25 streams: input projection', 'matmulABt', 1250, 512, 128],
  ['25 streams: weight gradient', 'matmulAtB', 512, 128, 1250],
  ['sampling: recurrent step', 'matmulAB', 1, 512, 128],
  ['sampling: input projection', 'matmulABt', 1, 512, 128],
  ['sampling: decoder', 'matmulABt', 1, 83, 128],
  // A thread's own group of batch streams can have any row count: the leftover-row kernels.
  ['13 rows: recurrent step', 'matmulAB', 13, 512, 128],
  ['13 rows: recurrent step backward', 'matmulAB', 13, 128, 512],
  ['3 rows: recurrent step', 'matmulAB', 3, 512, 128],
  ['3 rows: input projection', 'matmulABt', 3, 512, 128],
  ['3x512: recurrent step', 'matmulAB', 50, 2048, 512],
  ['3x512: recurrent step backward', 'matmulAB', 50, 512, 2048],
  ['3x512: input projection', 'matmulABt', 2500, 2048, 512],
  ['3x512: input gradient', 'matmulAB', 2500, 512, 2048],
  ['3x512: weight gradient', 'matmulAtB', 2048, 512, 2500],
  // Weight gradients over rows gathered from the threads' buffers (m rows of out from `first`).
  ['gathered: weight gradient', 'matmulAtBRows', 512, 128, 2500],
  ['gathered: half of it', 'matmulAtBRows', 256, 128, 2500],
  ['gathered: decoder weight gradient', 'matmulAtBRows', 83, 128, 2500],
];

function filled(kernels, length, scale = 1) {
  const values = kernels.alloc(length);
  for (let i = 0; i < length; i++) values[i] = (Math.random() - 0.5) * scale;
  return values;
}

/** Calls per second of `call`: warm up, then the best of three timed runs of `seconds` / 3 each. */
function rate(call) {
  const warmUntil = performance.now() + Math.min(100, seconds * 300);
  do call();
  while (performance.now() < warmUntil);
  let best = 0;
  for (let run = 0; run < 3; run++) {
    let calls = 0;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < (seconds * 1000) / 3) {
      call();
      calls++;
      elapsed = performance.now() - start;
    }
    best = Math.max(best, calls / (elapsed / 1000));
  }
  return best;
}

const backends = [['wasm', createWasmKernels(undefined, flags.variant)]];
const nativeReason = nativeUnavailableReason();
if (nativeReason === null) backends.unshift(['native', createNativeKernels(undefined, flags.isa)]);
if (!flags.json) {
  console.log(`kernels: ${backends.map(([, kernels]) => kernels.name).join(', ')}`);
  if (nativeReason) console.log(`no native kernels: ${nativeReason}`);
}
if (!flags['no-js']) backends.push(['js', createJsKernels()]);
const rows = [];
const report = (row) => {
  rows.push(row);
  if (flags.json) console.log(JSON.stringify(row));
};

if (!flags.only || flags.only === 'matmul') {
  for (const [label, name, m, n, k] of PRODUCTS) {
    const row = { kind: 'matmul', what: label, kernel: name, m, n, k };
    for (const [backend, kernels] of backends) {
      // The JS reference is ~1 GFLOP/s: time it on the small shapes only.
      if (backend === 'js' && m * n * k > 2e7) continue;
      const aSize = name === 'matmulAtB' ? k * m : m * k;
      const bSize = name === 'matmulABt' ? n * k : k * n;
      const [out, a, b] = [filled(kernels, m * n), filled(kernels, aSize), filled(kernels, bSize)];
      let call = () => kernels[name](out, a, b, m, n, k, true);
      if (name === 'matmulAtBRows') {
        // A batch of 50 streams in two threads' passes of 25 (k / 50 steps); rows of 2m floats, sliced
        // from m/2 as a thread's half of a gradient's rows.
        const steps = k / 50;
        const part = (width) => ({ values: filled(kernels, steps * 25 * width), streams: 25 });
        const aTable = kernels.rowTable([part(2 * m), part(2 * m)], 2 * m, steps);
        const bTable = kernels.rowTable([part(n), part(n)], n, steps);
        call = () => kernels.matmulAtBRows(out, aTable, m >> 1, bTable, m, n, true);
      }
      const perSecond = rate(call);
      row[`${backend}_gflops`] = Number(((2 * m * n * k * perSecond) / 1e9).toFixed(1));
    }
    report(row);
  }
}

if (!flags.only || flags.only === 'gates') {
  const batch = 50;
  for (const hidden of [128, 512]) {
    for (const [backend, kernels] of backends) {
      const cells = batch * hidden;
      const perCell = (perSecond) => Number((1e9 / perSecond / cells).toFixed(2));
      const gates = filled(kernels, batch * 4 * hidden, 6);
      const [cPrev, c, cTanh, h, dh, dc] = Array.from({ length: 6 }, () => filled(kernels, cells, 2));
      const dGates = kernels.alloc(batch * 4 * hidden);
      const xGates = filled(kernels, batch * 3 * hidden, 6);
      const hGates = filled(kernels, batch * 3 * hidden, 6);
      const dxGates = kernels.alloc(batch * 3 * hidden);
      const dhGates = kernels.alloc(batch * 3 * hidden);
      const pre = filled(kernels, cells, 6);
      const lstmForward = { gates, cPrev, c, cTanh, h };
      const lstmBackward = { gates, cPrev, cTanh, dh, dc, dGates };
      const gruForward = { xGates, hGates, hPrev: cPrev, h };
      const gruBackward = { gates: xGates, hGates, hPrev: cPrev, dh, dxGates, dhGates, dhPrev: dc };
      // The forward kernels overwrite their pre-activations with activations; rerunning on those keeps
      // the inputs in (−1, 1), which costs the same as fresh ones (no data-dependent branches).
      report({
        kind: 'gates',
        backend,
        batch,
        hidden,
        lstm_forward_ns_per_cell: perCell(rate(() => kernels.lstmForward(lstmForward, batch, hidden))),
        lstm_backward_ns_per_cell: perCell(rate(() => kernels.lstmBackward(lstmBackward, batch, hidden))),
        gru_forward_ns_per_cell: perCell(rate(() => kernels.gruForward(gruForward, batch, hidden))),
        gru_backward_ns_per_cell: perCell(rate(() => kernels.gruBackward(gruBackward, batch, hidden))),
        tanh_forward_ns_per_element: perCell(rate(() => kernels.tanhForward({ pre, h }, cells))),
        tanh_backward_ns_per_element: perCell(rate(() => kernels.tanhBackward({ dh: dc, h, dPre: dh }, cells))),
      });
    }
  }
  const [rowsCount, vocab] = [2500, 83];
  for (const [backend, kernels] of backends) {
    const logits = filled(kernels, rowsCount * vocab, 8);
    const dLogits = kernels.alloc(rowsCount * vocab);
    const targets = kernels.allocInt32(rowsCount);
    for (let r = 0; r < rowsCount; r++) targets[r] = r % vocab;
    const perSecond = rate(() =>
      kernels.softmaxCrossEntropy(logits, targets, dLogits, rowsCount, vocab, 1 / rowsCount),
    );
    report({
      kind: 'softmax',
      backend,
      rows: rowsCount,
      vocab,
      ns_per_element: Number((1e9 / perSecond / (rowsCount * vocab)).toFixed(2)),
    });
  }
}

if (!flags.only || flags.only === 'small') {
  const [rowsCount, width, columns] = [2500, 512, 83];
  for (const [backend, kernels] of backends) {
    const perElement = (perSecond) => Number((1e9 / perSecond / (rowsCount * width)).toFixed(3));
    const out = filled(kernels, rowsCount * width);
    const bias = filled(kernels, width);
    const weight = filled(kernels, width * columns);
    const ids = kernels.allocInt32(rowsCount);
    for (let r = 0; r < rowsCount; r++) ids[r] = (r * 7) % columns;
    const sums = kernels.alloc(width);
    report({
      kind: 'small',
      backend,
      rows: rowsCount,
      width,
      columns,
      broadcast_rows_ns_per_element: perElement(rate(() => kernels.broadcastRows(out, bias, rowsCount, width))),
      sum_rows_ns_per_element: perElement(rate(() => kernels.sumRows(sums, out, rowsCount, width, false))),
      gather_columns_ns_per_element: perElement(
        rate(() => kernels.gatherColumnsAdd(out, weight, ids, rowsCount, width, columns)),
      ),
      scatter_columns_ns_per_element: perElement(
        rate(() => kernels.scatterColumnsAdd(weight, out, ids, rowsCount, width, columns)),
      ),
    });
  }
}

if (!flags.json) {
  for (const row of rows) {
    if (row.kind === 'matmul') {
      const shape = `${row.kernel} ${row.m}x${row.n}x${row.k}`;
      const columns = backends
        .map(([backend]) => row[`${backend}_gflops`])
        .map((gflops, i) => (gflops === undefined ? '' : `${backends[i][0]} ${String(gflops).padStart(6)}`));
      console.log(`${row.what.padEnd(34)} ${shape.padEnd(27)} ${columns.join('  ')} GFLOP/s`);
    } else {
      const { kind, backend, ...rest } = row;
      console.log(
        `${kind.padEnd(8)} ${backend.padEnd(6)} ${Object.entries(rest)
          .map(([key, value]) => `${key} ${value}`)
          .join('  ')}`,
      );
    }
  }
}
