/**
 * Plain-JS kernels: the reference every faster backend is tested against, and the fallback where
 * WebAssembly SIMD is unavailable (`--kernel js`). Sums run in double precision (JS numbers).
 */
import type { Kernels } from './kernels.js';

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

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

    scatterColumnsAdd(gradWeight, dOut, ids, rows, width, columns) {
      for (let r = 0; r < rows; r++) {
        const column = ids[r];
        const dRow = r * width;
        for (let g = 0; g < width; g++) gradWeight[g * columns + column] += dOut[dRow + g];
      }
    },

    tanhForward(h, pre, n) {
      for (let i = 0; i < n; i++) h[i] = Math.tanh(pre[i]);
    },

    tanhBackward(dPre, dh, h, n) {
      for (let i = 0; i < n; i++) dPre[i] = dh[i] * (1 - h[i] * h[i]);
    },

    lstmForward(gates, cPrev, c, cTanh, h, batch, hidden) {
      for (let b = 0; b < batch; b++) {
        const row = b * 4 * hidden;
        for (let j = 0; j < hidden; j++) {
          const i = sigmoid(gates[row + j]);
          const f = sigmoid(gates[row + hidden + j]);
          const g = Math.tanh(gates[row + 2 * hidden + j]);
          const o = sigmoid(gates[row + 3 * hidden + j]);
          gates[row + j] = i;
          gates[row + hidden + j] = f;
          gates[row + 2 * hidden + j] = g;
          gates[row + 3 * hidden + j] = o;
          const at = b * hidden + j;
          const cell = f * cPrev[at] + i * g;
          c[at] = cell;
          const t = Math.tanh(Math.fround(cell));
          cTanh[at] = t;
          h[at] = o * Math.fround(t);
        }
      }
    },

    lstmBackward(gates, cPrev, cTanh, dh, dc, dGates, batch, hidden) {
      for (let b = 0; b < batch; b++) {
        const row = b * 4 * hidden;
        for (let j = 0; j < hidden; j++) {
          const at = b * hidden + j;
          const i = gates[row + j];
          const f = gates[row + hidden + j];
          const g = gates[row + 2 * hidden + j];
          const o = gates[row + 3 * hidden + j];
          const t = cTanh[at];
          const dcTotal = dc[at] + dh[at] * o * (1 - t * t);
          dGates[row + j] = dcTotal * g * i * (1 - i);
          dGates[row + hidden + j] = dcTotal * cPrev[at] * f * (1 - f);
          dGates[row + 2 * hidden + j] = dcTotal * i * (1 - g * g);
          dGates[row + 3 * hidden + j] = dh[at] * t * o * (1 - o);
          dc[at] = dcTotal * f;
        }
      }
    },

    gruForward(xGates, hGates, hPrev, h, batch, hidden) {
      for (let b = 0; b < batch; b++) {
        const row = b * 3 * hidden;
        for (let j = 0; j < hidden; j++) {
          const r = sigmoid(xGates[row + j] + hGates[row + j]);
          const z = sigmoid(xGates[row + hidden + j] + hGates[row + hidden + j]);
          const n = Math.tanh(xGates[row + 2 * hidden + j] + r * hGates[row + 2 * hidden + j]);
          xGates[row + j] = r;
          xGates[row + hidden + j] = z;
          xGates[row + 2 * hidden + j] = n;
          const at = b * hidden + j;
          h[at] = (1 - z) * Math.fround(n) + z * hPrev[at];
        }
      }
    },

    gruBackward(gates, hGates, hPrev, dh, dxGates, dhGates, dhPrev, batch, hidden) {
      for (let b = 0; b < batch; b++) {
        const row = b * 3 * hidden;
        for (let j = 0; j < hidden; j++) {
          const at = b * hidden + j;
          const r = gates[row + j];
          const z = gates[row + hidden + j];
          const n = gates[row + 2 * hidden + j];
          const grad = dh[at];
          const dnPre = grad * (1 - z) * (1 - n * n);
          const dzPre = grad * (hPrev[at] - n) * z * (1 - z);
          const drPre = dnPre * hGates[row + 2 * hidden + j] * r * (1 - r);
          dxGates[row + j] = drPre;
          dxGates[row + hidden + j] = dzPre;
          dxGates[row + 2 * hidden + j] = dnPre;
          dhGates[row + j] = drPre;
          dhGates[row + hidden + j] = dzPre;
          dhGates[row + 2 * hidden + j] = dnPre * r;
          dhPrev[at] += grad * z;
        }
      }
    },

    softmaxCrossEntropy(logits, targets, dLogits, rows, vocab, scale) {
      let loss = 0;
      for (let r = 0; r < rows; r++) {
        const row = r * vocab;
        let max = -Infinity;
        for (let v = 0; v < vocab; v++) if (logits[row + v] > max) max = logits[row + v];
        let sum = 0;
        for (let v = 0; v < vocab; v++) sum += Math.exp(logits[row + v] - max);
        const target = targets[r];
        loss += Math.log(sum) - (logits[row + target] - max);
        const inverse = 1 / sum;
        for (let v = 0; v < vocab; v++) dLogits[row + v] = Math.exp(logits[row + v] - max) * inverse * scale;
        dLogits[row + target] -= scale;
      }
      return loss;
    },
  };
}
