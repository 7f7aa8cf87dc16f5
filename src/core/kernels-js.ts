/**
 * Plain-JS kernels: the reference every faster backend is tested against, and the fallback where
 * WebAssembly SIMD is unavailable (`--kernel js`). Sums run in double precision (JS numbers). The
 * generic kernels are here; the cells' fused steps come from their layer files.
 */
import type { Kernels, RowTable } from './kernels.js';
import { gruBackwardReference, gruForwardReference } from './layers/gru.js';
import { lstmBackwardReference, lstmForwardReference } from './layers/lstm.js';
import { tanhBackwardReference, tanhForwardReference } from './layers/rnn.js';

/** Calls `visit` for each row p of the table in order: the row is values[start, start + width). */
function eachRow(table: RowTable, visit: (values: Float32Array, start: number, p: number) => void): void {
  let p = 0;
  for (let t = 0; t < table.steps; t++) {
    for (const { values, streams } of table.parts) {
      for (let r = 0; r < streams; r++) visit(values, (t * streams + r) * table.width, p++);
    }
  }
}

/** Where row p of the table is: its buffer, and its start there. */
function locateRow(table: RowTable, p: number): [Float32Array, number] {
  const batch = table.parts.reduce((sum, part) => sum + part.streams, 0);
  const t = Math.floor(p / batch);
  let stream = p - t * batch;
  for (const { values, streams } of table.parts) {
    if (stream < streams) return [values, (t * streams + stream) * table.width];
    stream -= streams;
  }
  throw new Error(`row ${p} is beyond the table`);
}

export function createJsKernels(): Kernels {
  return {
    name: 'js',
    alloc: (length) => new Float32Array(length),
    allocInt32: (length) => new Int32Array(length),

    matmulABt(out, a, b, m, n, k, accumulate) {
      for (let i = 0; i < m; i++) {
        const aRow = i * k;
        for (let j = 0; j < n; j++) {
          const bRow = j * k;
          let sum = accumulate ? out[i * n + j] : 0;
          for (let p = 0; p < k; p++) sum += a[aRow + p] * b[bRow + p];
          out[i * n + j] = sum;
        }
      }
    },

    matmulAB(out, a, b, m, n, k, accumulate) {
      if (!accumulate) out.fill(0, 0, m * n);
      for (let i = 0; i < m; i++) {
        const outRow = i * n;
        for (let p = 0; p < k; p++) {
          const scale = a[i * k + p];
          if (scale === 0) continue;
          const bRow = p * n;
          for (let j = 0; j < n; j++) out[outRow + j] += scale * b[bRow + j];
        }
      }
    },

    matmulAtB(out, a, b, m, n, k, accumulate) {
      if (!accumulate) out.fill(0, 0, m * n);
      for (let p = 0; p < k; p++) {
        const aRow = p * m;
        const bRow = p * n;
        for (let i = 0; i < m; i++) {
          const scale = a[aRow + i];
          if (scale === 0) continue;
          const outRow = i * n;
          for (let j = 0; j < n; j++) out[outRow + j] += scale * b[bRow + j];
        }
      }
    },

    rowTable: (parts, width, steps) => ({ parts, width, steps }),

    matmulAtBRows(out, aRows, first, bRows, m, n, accumulate) {
      if (!accumulate) out.fill(0, 0, m * n);
      eachRow(aRows, (a, aStart, p) => {
        const [b, bStart] = locateRow(bRows, p);
        for (let i = 0; i < m; i++) {
          const scale = a[aStart + first + i];
          if (scale === 0) continue;
          const outRow = i * n;
          for (let j = 0; j < n; j++) out[outRow + j] += scale * b[bStart + j];
        }
      });
    },

    sumRowsOf(out, rows, first, width, accumulate) {
      if (!accumulate) out.fill(0, 0, width);
      eachRow(rows, (values, start) => {
        for (let j = 0; j < width; j++) out[j] += values[start + first + j];
      });
    },

    scatterColumnsAddRows(gradWeight, dRows, first, ids, width, columns) {
      eachRow(dRows, (values, start, p) => {
        const column = ids[p];
        for (let g = 0; g < width; g++) gradWeight[g * columns + column] += values[start + first + g];
      });
    },

    transpose(out, a, rows, cols) {
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
    },

    broadcastRows(out, bias, rows, width) {
      for (let r = 0; r < rows; r++) out.set(bias.subarray(0, width), r * width);
    },

    sumRows(out, a, rows, width, accumulate) {
      if (!accumulate) out.fill(0, 0, width);
      for (let r = 0; r < rows; r++) {
        const row = r * width;
        for (let j = 0; j < width; j++) out[j] += a[row + j];
      }
    },

    gatherColumnsAdd(out, weight, ids, rows, width, columns) {
      for (let r = 0; r < rows; r++) {
        const column = ids[r];
        const outRow = r * width;
        for (let g = 0; g < width; g++) out[outRow + g] += weight[g * columns + column];
      }
    },

    gatherRowsAdd(out, table, ids, rows, width) {
      for (let r = 0; r < rows; r++) {
        const tableRow = ids[r] * width;
        const outRow = r * width;
        for (let g = 0; g < width; g++) out[outRow + g] += table[tableRow + g];
      }
    },

    scatterColumnsAdd(gradWeight, dOut, ids, rows, width, columns) {
      for (let r = 0; r < rows; r++) {
        const column = ids[r];
        const dRow = r * width;
        for (let g = 0; g < width; g++) gradWeight[g * columns + column] += dOut[dRow + g];
      }
    },

    // The cells' fused steps: their reference math sits beside each cell, with its derivation.
    tanhForward: tanhForwardReference,
    tanhBackward: tanhBackwardReference,
    lstmForward: lstmForwardReference,
    lstmBackward: lstmBackwardReference,
    gruForward: gruForwardReference,
    gruBackward: gruBackwardReference,

    softmaxCrossEntropy(logits, targets, dLogits, rows, vocab, scale, rowLosses) {
      let loss = 0;
      for (let r = 0; r < rows; r++) {
        const row = r * vocab;
        let max = -Infinity;
        for (let v = 0; v < vocab; v++) if (logits[row + v] > max) max = logits[row + v];
        let sum = 0;
        for (let v = 0; v < vocab; v++) sum += Math.exp(logits[row + v] - max);
        const target = targets[r];
        const rowLoss = Math.log(sum) - (logits[row + target] - max);
        if (rowLosses) rowLosses[r] = rowLoss;
        loss += rowLoss;
        const inverse = 1 / sum;
        for (let v = 0; v < vocab; v++) dLogits[row + v] = Math.exp(logits[row + v] - max) * inverse * scale;
        dLogits[row + target] -= scale;
      }
      return loss;
    },
  };
}
