// WebAssembly SIMD kernels (AssemblyScript), compiled by scripts/build-wasm.mjs into two variants:
// relaxed-SIMD fused multiply-add and plain SIMD multiply + add. Every pointer is a byte offset into
// the shared memory the JS side allocates from; matrices are row-major with packed rows.
// Semantics match src/core/kernels.ts (see src/core/kernels-js.ts for the reference).

// The build replaces this body for the plain-SIMD variant.
@inline function madd(a: v128, b: v128, c: v128): v128 {
  return f32x4.relaxed_madd(a, b, c);
}

const COLUMN_BLOCK: i32 = 8; // two f32x4 accumulators per row
const ROW_BLOCK: i32 = 4; // 4 × 8 = 8 vector accumulators: no register spills on x86-64
const DEPTH_BLOCK: i32 = 256; // the B panel (256 × 8 floats) stays in L1

/**
 * out[m,n] (+)= Σp A(i,p)·b[p,n], where A(i,p) = a[i·rowStride + p·depthStride]. This covers a·b
 * (rowStride k, depthStride 1) and aᵀ·b (rowStride 1, depthStride m) with one micro-kernel.
 */
function gemmStrided(out: usize, a: usize, rowStride: i32, depthStride: i32, b: usize, m: i32, n: i32, k: i32, accumulate: bool): void {
  if (!accumulate) memory.fill(out, 0, <usize>(m * n) << 2);
  for (let p0 = 0; p0 < k; p0 += DEPTH_BLOCK) {
    const depth = min(DEPTH_BLOCK, k - p0);
    let j = 0;
    for (; j + COLUMN_BLOCK <= n; j += COLUMN_BLOCK) {
      let i = 0;
      for (; i + ROW_BLOCK <= m; i += ROW_BLOCK) block4x8(out, a, rowStride, depthStride, b, n, i, j, p0, depth);
      for (; i < m; i++) block1x8(out, a, rowStride, depthStride, b, n, i, j, p0, depth);
    }
    for (; j + 4 <= n; j += 4) {
      for (let i = 0; i < m; i++) block1x4(out, a, rowStride, depthStride, b, n, i, j, p0, depth);
    }
    for (; j < n; j++) {
      for (let i = 0; i < m; i++) {
        let sum: f32 = 0;
        for (let p = p0; p < p0 + depth; p++) {
          sum += load<f32>(a + ((<usize>(i * rowStride + p * depthStride)) << 2)) * load<f32>(b + ((<usize>(p * n + j)) << 2));
        }
        const at = out + ((<usize>(i * n + j)) << 2);
        store<f32>(at, load<f32>(at) + sum);
      }
    }
  }
}

@inline function block4x8(out: usize, a: usize, rowStride: i32, depthStride: i32, b: usize, n: i32, i: i32, j: i32, p0: i32, depth: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  const rowBytes = <usize>rowStride << 2;
  let aPtr = a + ((<usize>(i * rowStride + p0 * depthStride)) << 2);
  const aStep = <usize>depthStride << 2;
  let bPtr = b + ((<usize>(p0 * n + j)) << 2);
  const bStep = <usize>n << 2;
  for (let p = 0; p < depth; p++) {
    const b0 = v128.load(bPtr);
    const b1 = v128.load(bPtr, 16);
    const a0 = f32x4.splat(load<f32>(aPtr));
    const a1 = f32x4.splat(load<f32>(aPtr + rowBytes));
    const a2 = f32x4.splat(load<f32>(aPtr + 2 * rowBytes));
    const a3 = f32x4.splat(load<f32>(aPtr + 3 * rowBytes));
    c00 = madd(a0, b0, c00);
    c01 = madd(a0, b1, c01);
    c10 = madd(a1, b0, c10);
    c11 = madd(a1, b1, c11);
    c20 = madd(a2, b0, c20);
    c21 = madd(a2, b1, c21);
    c30 = madd(a3, b0, c30);
    c31 = madd(a3, b1, c31);
    aPtr += aStep;
    bPtr += bStep;
  }
  const outRow = <usize>n << 2;
  let o = out + ((<usize>(i * n + j)) << 2);
  v128.store(o, f32x4.add(v128.load(o), c00));
  v128.store(o, f32x4.add(v128.load(o, 16), c01), 16);
  o += outRow;
  v128.store(o, f32x4.add(v128.load(o), c10));
  v128.store(o, f32x4.add(v128.load(o, 16), c11), 16);
  o += outRow;
  v128.store(o, f32x4.add(v128.load(o), c20));
  v128.store(o, f32x4.add(v128.load(o, 16), c21), 16);
  o += outRow;
  v128.store(o, f32x4.add(v128.load(o), c30));
  v128.store(o, f32x4.add(v128.load(o, 16), c31), 16);
}

@inline function block1x8(out: usize, a: usize, rowStride: i32, depthStride: i32, b: usize, n: i32, i: i32, j: i32, p0: i32, depth: i32): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0);
  let aPtr = a + ((<usize>(i * rowStride + p0 * depthStride)) << 2);
  const aStep = <usize>depthStride << 2;
  let bPtr = b + ((<usize>(p0 * n + j)) << 2);
  const bStep = <usize>n << 2;
  for (let p = 0; p < depth; p++) {
    const a0 = f32x4.splat(load<f32>(aPtr));
    c0 = madd(a0, v128.load(bPtr), c0);
    c1 = madd(a0, v128.load(bPtr, 16), c1);
    aPtr += aStep;
    bPtr += bStep;
  }
  const o = out + ((<usize>(i * n + j)) << 2);
  v128.store(o, f32x4.add(v128.load(o), c0));
  v128.store(o, f32x4.add(v128.load(o, 16), c1), 16);
}

@inline function block1x4(out: usize, a: usize, rowStride: i32, depthStride: i32, b: usize, n: i32, i: i32, j: i32, p0: i32, depth: i32): void {
  let c0 = f32x4.splat(0);
  let aPtr = a + ((<usize>(i * rowStride + p0 * depthStride)) << 2);
  const aStep = <usize>depthStride << 2;
  let bPtr = b + ((<usize>(p0 * n + j)) << 2);
  const bStep = <usize>n << 2;
  for (let p = 0; p < depth; p++) {
    c0 = madd(f32x4.splat(load<f32>(aPtr)), v128.load(bPtr), c0);
    aPtr += aStep;
    bPtr += bStep;
  }
  const o = out + ((<usize>(i * n + j)) << 2);
  v128.store(o, f32x4.add(v128.load(o), c0));
}

/** out[m,n] (+)= a[m,k]·b[k,n] */
export function matmulAB(out: usize, a: usize, b: usize, m: i32, n: i32, k: i32, accumulate: bool): void {
  gemmStrided(out, a, k, 1, b, m, n, k, accumulate);
}

/** out[m,n] (+)= a[k,m]ᵀ·b[k,n] */
export function matmulAtB(out: usize, a: usize, b: usize, m: i32, n: i32, k: i32, accumulate: bool): void {
  gemmStrided(out, a, 1, m, b, m, n, k, accumulate);
}

/** out[cols, rows] = a[rows, cols]ᵀ, in 4 × 4 tiles. */
export function transpose(out: usize, a: usize, rows: i32, cols: i32): void {
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const src = a + ((<usize>(r * cols + c)) << 2);
      const rowBytes = <usize>cols << 2;
      const x0 = v128.load(src);
      const x1 = v128.load(src + rowBytes);
      const x2 = v128.load(src + 2 * rowBytes);
      const x3 = v128.load(src + 3 * rowBytes);
      const t0 = i32x4.shuffle(x0, x1, 0, 4, 1, 5);
      const t1 = i32x4.shuffle(x2, x3, 0, 4, 1, 5);
      const t2 = i32x4.shuffle(x0, x1, 2, 6, 3, 7);
      const t3 = i32x4.shuffle(x2, x3, 2, 6, 3, 7);
      const dst = out + ((<usize>(c * rows + r)) << 2);
      const outBytes = <usize>rows << 2;
      v128.store(dst, i64x2.shuffle(t0, t1, 0, 2));
      v128.store(dst + outBytes, i64x2.shuffle(t0, t1, 1, 3));
      v128.store(dst + 2 * outBytes, i64x2.shuffle(t2, t3, 0, 2));
      v128.store(dst + 3 * outBytes, i64x2.shuffle(t2, t3, 1, 3));
    }
    for (; c < cols; c++) {
      for (let rr = r; rr < r + 4; rr++) store<f32>(out + ((<usize>(c * rows + rr)) << 2), load<f32>(a + ((<usize>(rr * cols + c)) << 2)));
    }
  }
  for (; r < rows; r++) {
    for (let c = 0; c < cols; c++) store<f32>(out + ((<usize>(c * rows + r)) << 2), load<f32>(a + ((<usize>(r * cols + c)) << 2)));
  }
}

/** out[m,n] (+)= a[m,k]·b[n,k]ᵀ as dot products of rows: the small-m case (sampling). */
export function matmulABtDots(out: usize, a: usize, b: usize, m: i32, n: i32, k: i32, accumulate: bool): void {
  for (let i = 0; i < m; i++) {
    const aRow = a + ((<usize>(i * k)) << 2);
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
      const b0 = b + ((<usize>(j * k)) << 2);
      const rowBytes = <usize>k << 2;
      let p = 0;
      for (; p + 4 <= k; p += 4) {
        const offset = <usize>p << 2;
        const x = v128.load(aRow + offset);
        s0 = madd(x, v128.load(b0 + offset), s0);
        s1 = madd(x, v128.load(b0 + rowBytes + offset), s1);
        s2 = madd(x, v128.load(b0 + 2 * rowBytes + offset), s2);
        s3 = madd(x, v128.load(b0 + 3 * rowBytes + offset), s3);
      }
      let r0 = horizontalSum(s0), r1 = horizontalSum(s1), r2 = horizontalSum(s2), r3 = horizontalSum(s3);
      for (; p < k; p++) {
        const x = load<f32>(aRow + ((<usize>p) << 2));
        r0 += x * load<f32>(b0 + ((<usize>p) << 2));
        r1 += x * load<f32>(b0 + rowBytes + ((<usize>p) << 2));
        r2 += x * load<f32>(b0 + 2 * rowBytes + ((<usize>p) << 2));
        r3 += x * load<f32>(b0 + 3 * rowBytes + ((<usize>p) << 2));
      }
      const o = out + ((<usize>(i * n + j)) << 2);
      store<f32>(o, accumulate ? load<f32>(o) + r0 : r0);
      store<f32>(o + 4, accumulate ? load<f32>(o + 4) + r1 : r1);
      store<f32>(o + 8, accumulate ? load<f32>(o + 8) + r2 : r2);
      store<f32>(o + 12, accumulate ? load<f32>(o + 12) + r3 : r3);
    }
    for (; j < n; j++) {
      const bRow = b + ((<usize>(j * k)) << 2);
      let s = f32x4.splat(0);
      let p = 0;
      for (; p + 4 <= k; p += 4) s = madd(v128.load(aRow + ((<usize>p) << 2)), v128.load(bRow + ((<usize>p) << 2)), s);
      let r = horizontalSum(s);
      for (; p < k; p++) r += load<f32>(aRow + ((<usize>p) << 2)) * load<f32>(bRow + ((<usize>p) << 2));
      const o = out + ((<usize>(i * n + j)) << 2);
      store<f32>(o, accumulate ? load<f32>(o) + r : r);
    }
  }
}

@inline function horizontalSum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

// ---- Vectorized transcendental functions (Cephes-style expf: range reduction + degree-5 polynomial).

@inline function expVector(x: v128): v128 {
  x = f32x4.min(f32x4.max(x, f32x4.splat(-87.3)), f32x4.splat(88.3));
  const n = f32x4.nearest(f32x4.mul(x, f32x4.splat(1.44269504088896341)));
  // x − n·ln2 in two parts for accuracy
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let y = f32x4.splat(1.9875691500e-4);
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(1.3981999507e-3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(8.3334519073e-3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(4.1665795894e-2));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(1.6666665459e-1));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(5.0000001201e-1));
  y = f32x4.add(f32x4.mul(f32x4.mul(y, r), r), f32x4.add(r, f32x4.splat(1)));
  // scale by 2^n through the exponent bits
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return f32x4.mul(y, scale);
}

@inline function sigmoidVector(x: v128): v128 {
  return f32x4.div(f32x4.splat(1), f32x4.add(f32x4.splat(1), expVector(f32x4.neg(x))));
}

/** tanh(x) = sign(x)·(1 − e^(−2|x|))/(1 + e^(−2|x|)); near 0 a short odd polynomial keeps relative accuracy. */
@inline function tanhVector(x: v128): v128 {
  const ax = f32x4.abs(x);
  const e = expVector(f32x4.mul(ax, f32x4.splat(-2)));
  const big = f32x4.div(f32x4.sub(f32x4.splat(1), e), f32x4.add(f32x4.splat(1), e));
  const x2 = f32x4.mul(x, x);
  // x − x³/3 + 2x⁵/15 − 17x⁷/315 for |x| < 0.0625 (error < 1e-9 relative)
  let p = f32x4.splat(-0.053968254);
  p = f32x4.add(f32x4.mul(p, x2), f32x4.splat(0.13333334));
  p = f32x4.add(f32x4.mul(p, x2), f32x4.splat(-0.33333334));
  const small = f32x4.add(x, f32x4.mul(f32x4.mul(p, x2), x));
  const signedBig = v128.or(big, v128.and(x, f32x4.splat(-0.0)));
  return v128.bitselect(small, signedBig, f32x4.lt(ax, f32x4.splat(0.0625)));
}

@inline function scalarExp(x: f32): f32 {
  return f32x4.extract_lane(expVector(f32x4.splat(x)), 0);
}

@inline function scalarSigmoid(x: f32): f32 {
  return f32x4.extract_lane(sigmoidVector(f32x4.splat(x)), 0);
}

@inline function scalarTanh(x: f32): f32 {
  return f32x4.extract_lane(tanhVector(f32x4.splat(x)), 0);
}

export function tanhForward(h: usize, pre: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = (<usize>i) << 2;
    v128.store(h + offset, tanhVector(v128.load(pre + offset)));
  }
  for (; i < n; i++) store<f32>(h + ((<usize>i) << 2), scalarTanh(load<f32>(pre + ((<usize>i) << 2))));
}

export function tanhBackward(dPre: usize, dh: usize, h: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const offset = (<usize>i) << 2;
    const value = load<f32>(h + offset);
    store<f32>(dPre + offset, load<f32>(dh + offset) * (1 - value * value));
  }
}

export function lstmForward(gates: usize, cPrev: usize, c: usize, cTanh: usize, h: usize, batch: i32, hidden: i32): void {
  const width = <usize>hidden << 2;
  for (let b = 0; b < batch; b++) {
    const row = gates + (<usize>(b * 4 * hidden) << 2);
    const state = <usize>(b * hidden) << 2;
    let j = 0;
    for (; j + 4 <= hidden; j += 4) {
      const at = (<usize>j) << 2;
      const i = sigmoidVector(v128.load(row + at));
      const f = sigmoidVector(v128.load(row + width + at));
      const g = tanhVector(v128.load(row + 2 * width + at));
      const o = sigmoidVector(v128.load(row + 3 * width + at));
      v128.store(row + at, i);
      v128.store(row + width + at, f);
      v128.store(row + 2 * width + at, g);
      v128.store(row + 3 * width + at, o);
      const cell = f32x4.add(f32x4.mul(f, v128.load(cPrev + state + at)), f32x4.mul(i, g));
      v128.store(c + state + at, cell);
      const t = tanhVector(cell);
      v128.store(cTanh + state + at, t);
      v128.store(h + state + at, f32x4.mul(o, t));
    }
    for (; j < hidden; j++) {
      const at = (<usize>j) << 2;
      const i = scalarSigmoid(load<f32>(row + at));
      const f = scalarSigmoid(load<f32>(row + width + at));
      const g = scalarTanh(load<f32>(row + 2 * width + at));
      const o = scalarSigmoid(load<f32>(row + 3 * width + at));
      store<f32>(row + at, i);
      store<f32>(row + width + at, f);
      store<f32>(row + 2 * width + at, g);
      store<f32>(row + 3 * width + at, o);
      const cell = f * load<f32>(cPrev + state + at) + i * g;
      store<f32>(c + state + at, cell);
      const t = scalarTanh(cell);
      store<f32>(cTanh + state + at, t);
      store<f32>(h + state + at, o * t);
    }
  }
}

export function lstmBackward(gates: usize, cPrev: usize, cTanh: usize, dh: usize, dc: usize, dGates: usize, batch: i32, hidden: i32): void {
  const width = <usize>hidden << 2;
  const one = f32x4.splat(1);
  for (let b = 0; b < batch; b++) {
    const row = <usize>(b * 4 * hidden) << 2;
    const state = <usize>(b * hidden) << 2;
    let j = 0;
    for (; j + 4 <= hidden; j += 4) {
      const at = (<usize>j) << 2;
      const i = v128.load(gates + row + at);
      const f = v128.load(gates + row + width + at);
      const g = v128.load(gates + row + 2 * width + at);
      const o = v128.load(gates + row + 3 * width + at);
      const t = v128.load(cTanh + state + at);
      const gradH = v128.load(dh + state + at);
      const dcTotal = f32x4.add(v128.load(dc + state + at), f32x4.mul(f32x4.mul(gradH, o), f32x4.sub(one, f32x4.mul(t, t))));
      v128.store(dGates + row + at, f32x4.mul(f32x4.mul(dcTotal, g), f32x4.mul(i, f32x4.sub(one, i))));
      v128.store(dGates + row + width + at, f32x4.mul(f32x4.mul(dcTotal, v128.load(cPrev + state + at)), f32x4.mul(f, f32x4.sub(one, f))));
      v128.store(dGates + row + 2 * width + at, f32x4.mul(f32x4.mul(dcTotal, i), f32x4.sub(one, f32x4.mul(g, g))));
      v128.store(dGates + row + 3 * width + at, f32x4.mul(f32x4.mul(gradH, t), f32x4.mul(o, f32x4.sub(one, o))));
      v128.store(dc + state + at, f32x4.mul(dcTotal, f));
    }
    for (; j < hidden; j++) {
      const at = (<usize>j) << 2;
      const i = load<f32>(gates + row + at);
      const f = load<f32>(gates + row + width + at);
      const g = load<f32>(gates + row + 2 * width + at);
      const o = load<f32>(gates + row + 3 * width + at);
      const t = load<f32>(cTanh + state + at);
      const gradH = load<f32>(dh + state + at);
      const dcTotal = load<f32>(dc + state + at) + gradH * o * (1 - t * t);
      store<f32>(dGates + row + at, dcTotal * g * i * (1 - i));
      store<f32>(dGates + row + width + at, dcTotal * load<f32>(cPrev + state + at) * f * (1 - f));
      store<f32>(dGates + row + 2 * width + at, dcTotal * i * (1 - g * g));
      store<f32>(dGates + row + 3 * width + at, gradH * t * o * (1 - o));
      store<f32>(dc + state + at, dcTotal * f);
    }
  }
}

export function gruForward(xGates: usize, hGates: usize, hPrev: usize, h: usize, batch: i32, hidden: i32): void {
  const width = <usize>hidden << 2;
  const one = f32x4.splat(1);
  for (let b = 0; b < batch; b++) {
    const row = <usize>(b * 3 * hidden) << 2;
    const state = <usize>(b * hidden) << 2;
    let j = 0;
    for (; j + 4 <= hidden; j += 4) {
      const at = (<usize>j) << 2;
      const r = sigmoidVector(f32x4.add(v128.load(xGates + row + at), v128.load(hGates + row + at)));
      const z = sigmoidVector(f32x4.add(v128.load(xGates + row + width + at), v128.load(hGates + row + width + at)));
      const n = tanhVector(f32x4.add(v128.load(xGates + row + 2 * width + at), f32x4.mul(r, v128.load(hGates + row + 2 * width + at))));
      v128.store(xGates + row + at, r);
      v128.store(xGates + row + width + at, z);
      v128.store(xGates + row + 2 * width + at, n);
      v128.store(h + state + at, f32x4.add(f32x4.mul(f32x4.sub(one, z), n), f32x4.mul(z, v128.load(hPrev + state + at))));
    }
    for (; j < hidden; j++) {
      const at = (<usize>j) << 2;
      const r = scalarSigmoid(load<f32>(xGates + row + at) + load<f32>(hGates + row + at));
      const z = scalarSigmoid(load<f32>(xGates + row + width + at) + load<f32>(hGates + row + width + at));
      const n = scalarTanh(load<f32>(xGates + row + 2 * width + at) + r * load<f32>(hGates + row + 2 * width + at));
      store<f32>(xGates + row + at, r);
      store<f32>(xGates + row + width + at, z);
      store<f32>(xGates + row + 2 * width + at, n);
      store<f32>(h + state + at, (1 - z) * n + z * load<f32>(hPrev + state + at));
    }
  }
}

export function gruBackward(gates: usize, hGates: usize, hPrev: usize, dh: usize, dxGates: usize, dhGates: usize, dhPrev: usize, batch: i32, hidden: i32): void {
  const width = <usize>hidden << 2;
  for (let b = 0; b < batch; b++) {
    const row = <usize>(b * 3 * hidden) << 2;
    const state = <usize>(b * hidden) << 2;
    for (let j = 0; j < hidden; j++) {
      const at = (<usize>j) << 2;
      const r = load<f32>(gates + row + at);
      const z = load<f32>(gates + row + width + at);
      const n = load<f32>(gates + row + 2 * width + at);
      const grad = load<f32>(dh + state + at);
      const dnPre = grad * (1 - z) * (1 - n * n);
      const dzPre = grad * (load<f32>(hPrev + state + at) - n) * z * (1 - z);
      const drPre = dnPre * load<f32>(hGates + row + 2 * width + at) * r * (1 - r);
      store<f32>(dxGates + row + at, drPre);
      store<f32>(dxGates + row + width + at, dzPre);
      store<f32>(dxGates + row + 2 * width + at, dnPre);
      store<f32>(dhGates + row + at, drPre);
      store<f32>(dhGates + row + width + at, dzPre);
      store<f32>(dhGates + row + 2 * width + at, dnPre * r);
      store<f32>(dhPrev + state + at, load<f32>(dhPrev + state + at) + grad * z);
    }
  }
}

/** Returns the summed loss (f64); dLogits = (softmax − onehot)·scale, may alias logits. */
export function softmaxCrossEntropy(logits: usize, targets: usize, dLogits: usize, rows: i32, vocab: i32, scale: f32): f64 {
  let loss: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const row = <usize>(r * vocab) << 2;
    let largest: f32 = -Infinity;
    for (let v = 0; v < vocab; v++) largest = max(largest, load<f32>(logits + row + ((<usize>v) << 2)));
    const target = load<i32>(targets + ((<usize>r) << 2));
    const targetAt = row + ((<usize>target) << 2);
    // Read before dLogits (which may alias logits) is written.
    loss -= <f64>(load<f32>(logits + targetAt) - largest);
    const maxVector = f32x4.splat(largest);
    let sumVector = f32x4.splat(0);
    let v = 0;
    for (; v + 4 <= vocab; v += 4) {
      const at = row + ((<usize>v) << 2);
      const e = expVector(f32x4.sub(v128.load(logits + at), maxVector));
      v128.store(dLogits + at, e);
      sumVector = f32x4.add(sumVector, e);
    }
    let sum: f64 = <f64>horizontalSum(sumVector);
    for (; v < vocab; v++) {
      const at = row + ((<usize>v) << 2);
      const e = scalarExp(load<f32>(logits + at) - largest);
      store<f32>(dLogits + at, e);
      sum += <f64>e;
    }
    loss += Math.log(sum);
    const factor = f32x4.splat(<f32>(1 / sum) * scale);
    v = 0;
    for (; v + 4 <= vocab; v += 4) {
      const at = row + ((<usize>v) << 2);
      v128.store(dLogits + at, f32x4.mul(v128.load(dLogits + at), factor));
    }
    for (; v < vocab; v++) {
      const at = row + ((<usize>v) << 2);
      store<f32>(dLogits + at, load<f32>(dLogits + at) * f32x4.extract_lane(factor, 0));
    }
    store<f32>(dLogits + targetAt, load<f32>(dLogits + targetAt) - scale);
  }
  return loss;
}
