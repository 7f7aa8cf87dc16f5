// WebAssembly SIMD kernels (AssemblyScript), compiled by scripts/build-wasm.mjs into two variants:
// relaxed-SIMD fused multiply-add and plain SIMD multiply + add. Every pointer is a byte offset into
// the shared memory the JS side allocates from; matrices are row-major with packed rows.
// Semantics match src/core/kernels.ts. Each exported kernel names its plain-JS reference: the generic
// ones in src/core/kernels-js.ts, the cells' fused steps beside their layer in src/core/layers/.
//
// Two facts about V8's code for wasm SIMD on x64 shape this file (measured, see bench/kernels.mjs):
// - About 15 xmm registers are allocatable: micro-kernels with 8 or 9 vector accumulators run at the
//   FMA peak, 10 or more spill and run at half speed.
// - A v128 constant used inside a loop is rebuilt at every use (movq imm64, vmovq, vpunpcklqdq), so
//   the transcendental functions broadcast-load their constants from a table in memory instead.

// The build replaces this body for the plain-SIMD variant.
@inline function madd(a: v128, b: v128, c: v128): v128 {
  return f32x4.relaxed_madd(a, b, c);
}

// ---------------------------------------------------------------------------------------------------
// Matrix products: packed GEMM in the BLIS loop order with 8-accumulator micro-kernels.
//
// A(i,p) and B(p,j) are read through one of two layouts each, so one driver serves the three products:
//   matmulAB:  A(i,p) = a[i·k + p] (A_ROWS),  B(p,j) = b[p·n + j] (B_ROWS)
//   matmulAtB: A(i,p) = a[p·m + i] (A_COLS),  B(p,j) = b[p·n + j] (B_ROWS)
//   matmulABt: A(i,p) = a[i·k + p] (A_ROWS),  B(p,j) = b[j·k + p] (B_COLS)
// Packed B: panels of 8 columns, each kc rows of 32 bytes, the last one zero-padded past n. Packed A:
// micro-panels of 4 rows (kc × 16 bytes), then for the m mod 4 rows left one of 2 rows (kc × 8 bytes)
// and/or one of 1 row. The leftover rows run 2 × 16 and 1 × 32 kernels (8 accumulators, full speed).
//
// Row stability: every output element is one sequential multiply-add chain over p within each depth
// block of KC (the same blocks for every m), added to out block by block, whichever kernel and path
// computes it. So a row's result does not depend on m or on its position, and the rows of a product
// can be split over calls (over threads) without changing a bit.

const A_ROWS: i32 = 0;
const A_COLS: i32 = 1;
const B_ROWS: i32 = 0;
const B_COLS: i32 = 1;

// Depth of a packed block: a B micro-panel (KC × 8 floats, 8 KiB) stays in L1 while A streams past.
const KC: i32 = 256;
// Rows of A per packed block (MC × KC floats = 128 KiB, in L2).
const MC: i32 = 128;
// Columns of B per packed block when m > MC (KC × NC floats = 512 KiB, in L2).
const NC: i32 = 512;
// Columns of B packed at a time when m ≤ MC: packed just before use, the panels are still in L1.
const NC_FEW_ROWS: i32 = 16;
// The same for m < 4 (B_COLS only): one row's 1 × 32 kernel has 8 chains; 1 × 16 would be latency-bound.
const NC_ONE_ROW: i32 = 32;
// Up to this many columns, row-major B is read in place when m ≤ MC.
const B_IN_PLACE_MAX_COLUMNS: i32 = 256;

const PACKED_B_BYTES: i32 = KC * NC * 4;
const PACKED_A_BYTES: i32 = MC * KC * 4;
const TILE_BYTES: i32 = 4 * 8 * 4;

/** Bytes of per-thread scratch every matmul call gets as `work` (packed blocks and an edge tile). */
export function workspaceBytes(): i32 {
  return PACKED_B_BYTES + PACKED_A_BYTES + TILE_BYTES;
}

@inline function store4(at: usize, value: v128, add: bool): void {
  v128.store(at, add ? f32x4.add(v128.load(at), value) : value);
}

/** out[4, 8] (+)= packed A micro-panel (kc × 4) · B micro-panel (kc rows of 8, bStep bytes apart). */
function kernel4x8(out: usize, ldc: usize, a: usize, b: usize, bStep: usize, kc: i32, add: bool): void {
  let c00 = f32x4.splat(0),
    c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0),
    c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0),
    c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0),
    c31 = f32x4.splat(0);
  const end = a + ((<usize>kc) << 4);
  do {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    // One broadcast load per row (vbroadcastss), no scalar load + shuffle.
    let x = v128.load32_splat(a);
    c00 = madd(x, b0, c00);
    c01 = madd(x, b1, c01);
    x = v128.load32_splat(a, 4);
    c10 = madd(x, b0, c10);
    c11 = madd(x, b1, c11);
    x = v128.load32_splat(a, 8);
    c20 = madd(x, b0, c20);
    c21 = madd(x, b1, c21);
    x = v128.load32_splat(a, 12);
    c30 = madd(x, b0, c30);
    c31 = madd(x, b1, c31);
    a += 16;
    b += bStep;
  } while (a < end);
  store4(out, c00, add);
  store4(out + 16, c01, add);
  out += ldc;
  store4(out, c10, add);
  store4(out + 16, c11, add);
  out += ldc;
  store4(out, c20, add);
  store4(out + 16, c21, add);
  out += ldc;
  store4(out, c30, add);
  store4(out + 16, c31, add);
}

/**
 * out[2, 16] (+)= A(2 rows) · B(panels b0 and b1). Row 1 of A is `aRow` bytes after row 0 and
 * successive depths `aStep` apart, so this runs on packed tails and on unpacked A alike.
 */
function kernel2x16(
  out: usize,
  ldc: usize,
  a: usize,
  aRow: usize,
  aStep: usize,
  b0: usize,
  b1: usize,
  bStep: usize,
  kc: i32,
  add: bool,
): void {
  let c00 = f32x4.splat(0),
    c01 = f32x4.splat(0),
    c02 = f32x4.splat(0),
    c03 = f32x4.splat(0);
  let c10 = f32x4.splat(0),
    c11 = f32x4.splat(0),
    c12 = f32x4.splat(0),
    c13 = f32x4.splat(0);
  let a1 = a + aRow;
  for (let p = 0; p < kc; p++) {
    const v0 = v128.load(b0);
    const v1 = v128.load(b0, 16);
    const v2 = v128.load(b1);
    const v3 = v128.load(b1, 16);
    let x = v128.load32_splat(a);
    c00 = madd(x, v0, c00);
    c01 = madd(x, v1, c01);
    c02 = madd(x, v2, c02);
    c03 = madd(x, v3, c03);
    x = v128.load32_splat(a1);
    c10 = madd(x, v0, c10);
    c11 = madd(x, v1, c11);
    c12 = madd(x, v2, c12);
    c13 = madd(x, v3, c13);
    a += aStep;
    a1 += aStep;
    b0 += bStep;
    b1 += bStep;
  }
  store4(out, c00, add);
  store4(out + 16, c01, add);
  store4(out + 32, c02, add);
  store4(out + 48, c03, add);
  out += ldc;
  store4(out, c10, add);
  store4(out + 16, c11, add);
  store4(out + 32, c12, add);
  store4(out + 48, c13, add);
}

/**
 * out[2, 8] (+)= A(2 rows) · B(one panel). One accumulator chain per element, like every micro-kernel:
 * an element's sum must not depend on which kernel computed it (so on m or on the row's position).
 * Four chains leave it bound by the FMA latency, at half the peak; it only runs on leftover rows.
 */
function kernel2x8(
  out: usize,
  ldc: usize,
  a: usize,
  aRow: usize,
  aStep: usize,
  b: usize,
  bStep: usize,
  kc: i32,
  add: bool,
): void {
  let c00 = f32x4.splat(0),
    c01 = f32x4.splat(0),
    c10 = f32x4.splat(0),
    c11 = f32x4.splat(0);
  let a1 = a + aRow;
  for (let p = 0; p < kc; p++) {
    const v0 = v128.load(b);
    const v1 = v128.load(b, 16);
    let x = v128.load32_splat(a);
    c00 = madd(x, v0, c00);
    c01 = madd(x, v1, c01);
    x = v128.load32_splat(a1);
    c10 = madd(x, v0, c10);
    c11 = madd(x, v1, c11);
    a += aStep;
    a1 += aStep;
    b += bStep;
  }
  store4(out, c00, add);
  store4(out + 16, c01, add);
  out += ldc;
  store4(out, c10, add);
  store4(out + 16, c11, add);
}

/** out[1, 32] (+)= A(1 row) · B(four panels `panel` bytes apart). */
function kernel1x32(
  out: usize,
  a: usize,
  aStep: usize,
  b: usize,
  panel: usize,
  bStep: usize,
  kc: i32,
  add: bool,
): void {
  let c0 = f32x4.splat(0),
    c1 = f32x4.splat(0),
    c2 = f32x4.splat(0),
    c3 = f32x4.splat(0);
  let c4 = f32x4.splat(0),
    c5 = f32x4.splat(0),
    c6 = f32x4.splat(0),
    c7 = f32x4.splat(0);
  let b1 = b + panel;
  let b2 = b1 + panel;
  let b3 = b2 + panel;
  for (let p = 0; p < kc; p++) {
    const x = v128.load32_splat(a);
    c0 = madd(x, v128.load(b), c0);
    c1 = madd(x, v128.load(b, 16), c1);
    c2 = madd(x, v128.load(b1), c2);
    c3 = madd(x, v128.load(b1, 16), c3);
    c4 = madd(x, v128.load(b2), c4);
    c5 = madd(x, v128.load(b2, 16), c5);
    c6 = madd(x, v128.load(b3), c6);
    c7 = madd(x, v128.load(b3, 16), c7);
    a += aStep;
    b += bStep;
    b1 += bStep;
    b2 += bStep;
    b3 += bStep;
  }
  store4(out, c0, add);
  store4(out + 16, c1, add);
  store4(out + 32, c2, add);
  store4(out + 48, c3, add);
  store4(out + 64, c4, add);
  store4(out + 80, c5, add);
  store4(out + 96, c6, add);
  store4(out + 112, c7, add);
}

/** out[1, 16] (+)= A(1 row) · B(panels b0 and b1), one chain per element (latency-bound, see kernel2x8). */
function kernel1x16(out: usize, a: usize, aStep: usize, b0: usize, b1: usize, bStep: usize, kc: i32, add: bool): void {
  let c0 = f32x4.splat(0),
    c1 = f32x4.splat(0),
    c2 = f32x4.splat(0),
    c3 = f32x4.splat(0);
  for (let p = 0; p < kc; p++) {
    const x = v128.load32_splat(a);
    c0 = madd(x, v128.load(b0), c0);
    c1 = madd(x, v128.load(b0, 16), c1);
    c2 = madd(x, v128.load(b1), c2);
    c3 = madd(x, v128.load(b1, 16), c3);
    a += aStep;
    b0 += bStep;
    b1 += bStep;
  }
  store4(out, c0, add);
  store4(out + 16, c1, add);
  store4(out + 32, c2, add);
  store4(out + 48, c3, add);
}

/** out[1, 8] (+)= A(1 row) · B(one panel), one chain per element (latency-bound, see kernel2x8). */
function kernel1x8(out: usize, a: usize, aStep: usize, b: usize, bStep: usize, kc: i32, add: bool): void {
  let c0 = f32x4.splat(0),
    c1 = f32x4.splat(0);
  for (let p = 0; p < kc; p++) {
    const x = v128.load32_splat(a);
    c0 = madd(x, v128.load(b), c0);
    c1 = madd(x, v128.load(b, 16), c1);
    a += aStep;
    b += bStep;
  }
  store4(out, c0, add);
  store4(out + 16, c1, add);
}

/** Adds (or copies) the first `cols` columns of `rows` rows of an 8-wide tile into out. */
function mergeTile(out: usize, ldc: usize, tile: usize, rows: i32, cols: i32, add: bool): void {
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const at = out + ((<usize>c) << 2);
      const value = load<f32>(tile + ((<usize>c) << 2));
      store<f32>(at, add ? load<f32>(at) + value : value);
    }
    out += ldc;
    tile += 32;
  }
}

/** Two rows of A against `panels` full panels from b (`panel` bytes apart, rows bStep apart). */
function rowPair(
  out: usize,
  ldc: usize,
  a: usize,
  aRow: usize,
  aStep: usize,
  b: usize,
  panel: usize,
  bStep: usize,
  panels: i32,
  kc: i32,
  add: bool,
): void {
  let q = 0;
  for (; q + 2 <= panels; q += 2) {
    kernel2x16(out, ldc, a, aRow, aStep, b, b + panel, bStep, kc, add);
    out += 64;
    b += panel << 1;
  }
  if (q < panels) kernel2x8(out, ldc, a, aRow, aStep, b, bStep, kc, add);
}

/** One row of A against `panels` full panels: 1 × 32 blocks, then 1 × 16 and 1 × 8 for the rest. */
function singleRow(
  out: usize,
  a: usize,
  aStep: usize,
  b: usize,
  panel: usize,
  bStep: usize,
  panels: i32,
  kc: i32,
  add: bool,
): void {
  let q = 0;
  for (; q + 4 <= panels; q += 4) {
    kernel1x32(out, a, aStep, b, panel, bStep, kc, add);
    out += 128;
    b += panel << 2;
  }
  if (q + 2 <= panels) {
    kernel1x16(out, a, aStep, b, b + panel, bStep, kc, add);
    out += 64;
    b += panel << 1;
    q += 2;
  }
  if (q < panels) kernel1x8(out, a, aStep, b, bStep, kc, add);
}

/**
 * out block [mc, nc] (+)= packed A block · B block, depth kc. B's 8-column panels start `panel` bytes
 * apart with rows `bStep` apart: packed (kc·32, 32) or B read in place (32, n·4; nc a multiple of 8).
 */
function macroKernel(
  out: usize,
  ldc: usize,
  packedA: usize,
  packedB: usize,
  panel: usize,
  bStep: usize,
  mc: i32,
  nc: i32,
  kc: i32,
  add: bool,
  tile: usize,
): void {
  const panels = nc >> 3;
  const partialCols = nc & 7;
  const rows4 = mc & ~3;
  const aPanel = (<usize>kc) << 4;
  const outRows4 = ldc << 2;
  // B micro-panel outer, A micro-panels inner: the B panel stays in L1 while A streams from L2.
  let b = packedB;
  let outColumn = out;
  for (let q = 0; q < panels; q++) {
    let a = packedA;
    let o = outColumn;
    for (let i = 0; i < rows4; i += 4) {
      kernel4x8(o, ldc, a, b, bStep, kc, add);
      a += aPanel;
      o += outRows4;
    }
    b += panel;
    outColumn += 32;
  }
  if (partialCols) {
    // The zero-padded last panel runs the same kernel into a tile; only its valid columns are kept.
    let a = packedA;
    let o = outColumn;
    for (let i = 0; i < rows4; i += 4) {
      kernel4x8(tile, 32, a, b, 32, kc, false);
      mergeTile(o, ldc, tile, 4, partialCols, add);
      a += aPanel;
      o += outRows4;
    }
  }
  let a = packedA + ((<usize>rows4 * <usize>kc) << 2);
  let o = out + <usize>rows4 * ldc;
  if (mc & 2) {
    rowPair(o, ldc, a, 4, 8, packedB, panel, bStep, panels, kc, add);
    if (partialCols) {
      kernel2x8(tile, 32, a, 4, 8, b, 32, kc, false);
      mergeTile(o + ((<usize>panels) << 5), ldc, tile, 2, partialCols, add);
    }
    a += (<usize>kc) << 3;
    o += ldc << 1;
  }
  if (mc & 1) {
    singleRow(o, a, 4, packedB, panel, bStep, panels, kc, add);
    if (partialCols) {
      kernel1x8(tile, a, 4, b, 32, kc, false);
      mergeTile(o + ((<usize>panels) << 5), ldc, tile, 1, partialCols, add);
    }
  }
}

/** Stores the 4 × 4 transpose of rows x0..x3: column c goes to `to + c·stride`. */
@inline function transpose4(to: usize, x0: v128, x1: v128, x2: v128, x3: v128, stride: usize): void {
  const t0 = i32x4.shuffle(x0, x1, 0, 4, 1, 5);
  const t1 = i32x4.shuffle(x2, x3, 0, 4, 1, 5);
  const t2 = i32x4.shuffle(x0, x1, 2, 6, 3, 7);
  const t3 = i32x4.shuffle(x2, x3, 2, 6, 3, 7);
  v128.store(to, i64x2.shuffle(t0, t1, 0, 2));
  v128.store(to + stride, i64x2.shuffle(t0, t1, 1, 3));
  v128.store(to + 2 * stride, i64x2.shuffle(t2, t3, 0, 2));
  v128.store(to + 3 * stride, i64x2.shuffle(t2, t3, 1, 3));
}

/** Packs A(ic .. ic+mc, pc .. pc+kc) into 4-row micro-panels, then a 2-row and/or a 1-row one. */
function packA(to: usize, a: usize, layout: i32, m: i32, k: i32, ic: i32, mc: i32, pc: i32, kc: i32): void {
  const rows4 = mc & ~3;
  if (layout == A_ROWS) {
    // Rows of A are contiguous: read 4 rows × 4 depths, transpose, write one 64-byte line.
    const rowBytes = (<usize>k) << 2;
    let i = 0;
    for (; i < rows4; i += 4) {
      const r0 = a + ((<usize>(ic + i) * <usize>k + <usize>pc) << 2);
      let p = 0;
      for (; p + 4 <= kc; p += 4) {
        const at = r0 + ((<usize>p) << 2);
        transpose4(
          to,
          v128.load(at),
          v128.load(at + rowBytes),
          v128.load(at + 2 * rowBytes),
          v128.load(at + 3 * rowBytes),
          16,
        );
        to += 64;
      }
      for (; p < kc; p++) {
        const at = r0 + ((<usize>p) << 2);
        store<f32>(to, load<f32>(at));
        store<f32>(to, load<f32>(at + rowBytes), 4);
        store<f32>(to, load<f32>(at + 2 * rowBytes), 8);
        store<f32>(to, load<f32>(at + 3 * rowBytes), 12);
        to += 16;
      }
    }
    if (mc & 2) {
      const r0 = a + ((<usize>(ic + i) * <usize>k + <usize>pc) << 2);
      let p = 0;
      for (; p + 4 <= kc; p += 4) {
        const at = r0 + ((<usize>p) << 2);
        const x0 = v128.load(at);
        const x1 = v128.load(at + rowBytes);
        v128.store(to, i32x4.shuffle(x0, x1, 0, 4, 1, 5));
        v128.store(to, i32x4.shuffle(x0, x1, 2, 6, 3, 7), 16);
        to += 32;
      }
      for (; p < kc; p++) {
        const at = r0 + ((<usize>p) << 2);
        store<f32>(to, load<f32>(at));
        store<f32>(to, load<f32>(at + rowBytes), 4);
        to += 8;
      }
      i += 2;
    }
    if (mc & 1) memory.copy(to, a + ((<usize>(ic + i) * <usize>k + <usize>pc) << 2), (<usize>kc) << 2);
  } else {
    // Depths of A are contiguous: 4 rows are one 16-byte load; four depths fill a 64-byte line.
    const depthBytes = (<usize>m) << 2;
    const panelBytes = (<usize>kc) << 4;
    const first = a + ((<usize>pc * <usize>m + <usize>ic) << 2);
    let p = 0;
    for (; p + 4 <= kc; p += 4) {
      let from = first + <usize>p * depthBytes;
      let panelTo = to + ((<usize>p) << 4);
      for (let i = 0; i < rows4; i += 4) {
        v128.store(panelTo, v128.load(from));
        v128.store(panelTo, v128.load(from + depthBytes), 16);
        v128.store(panelTo, v128.load(from + 2 * depthBytes), 32);
        v128.store(panelTo, v128.load(from + 3 * depthBytes), 48);
        from += 16;
        panelTo += panelBytes;
      }
    }
    for (; p < kc; p++) {
      let from = first + <usize>p * depthBytes;
      let panelTo = to + ((<usize>p) << 4);
      for (let i = 0; i < rows4; i += 4) {
        v128.store(panelTo, v128.load(from));
        from += 16;
        panelTo += panelBytes;
      }
    }
    to += (<usize>rows4 * <usize>kc) << 2;
    let i = rows4;
    if (mc & 2) {
      let from = first + ((<usize>i) << 2);
      for (let p = 0; p < kc; p++) {
        store<u64>(to, load<u64>(from));
        from += depthBytes;
        to += 8;
      }
      i += 2;
    }
    if (mc & 1) {
      let from = first + ((<usize>i) << 2);
      for (let p = 0; p < kc; p++) {
        store<f32>(to, load<f32>(from));
        from += depthBytes;
        to += 4;
      }
    }
  }
}

/** Packs B(pc .. pc+kc, jc .. jc+nc) into 8-column panels of kc rows, zero-padding the last one. */
function packB(to: usize, b: usize, layout: i32, n: i32, k: i32, pc: i32, kc: i32, jc: i32, nc: i32): void {
  const panelBytes = (<usize>kc) << 5;
  const panels = nc >> 3;
  const partialCols = nc & 7;
  if (layout == B_ROWS) {
    const rowBytes = (<usize>n) << 2;
    const first = b + ((<usize>pc * <usize>n + <usize>jc) << 2);
    let q = 0;
    // Two panels at a time read whole 64-byte lines of B.
    for (; q + 2 <= panels; q += 2) {
      let from = first + ((<usize>q) << 5);
      let to0 = to + <usize>q * panelBytes;
      let to1 = to0 + panelBytes;
      for (let p = 0; p < kc; p++) {
        v128.store(to0, v128.load(from));
        v128.store(to0, v128.load(from, 16), 16);
        v128.store(to1, v128.load(from, 32));
        v128.store(to1, v128.load(from, 48), 16);
        from += rowBytes;
        to0 += 32;
        to1 += 32;
      }
    }
    for (; q < panels; q++) {
      let from = first + ((<usize>q) << 5);
      let to0 = to + <usize>q * panelBytes;
      for (let p = 0; p < kc; p++) {
        v128.store(to0, v128.load(from));
        v128.store(to0, v128.load(from, 16), 16);
        from += rowBytes;
        to0 += 32;
      }
    }
    if (partialCols) {
      let from = first + ((<usize>panels) << 5);
      let to0 = to + <usize>panels * panelBytes;
      for (let p = 0; p < kc; p++) {
        v128.store(to0, f32x4.splat(0));
        v128.store(to0, f32x4.splat(0), 16);
        for (let c = 0; c < partialCols; c++) store<f32>(to0 + ((<usize>c) << 2), load<f32>(from + ((<usize>c) << 2)));
        from += rowBytes;
        to0 += 32;
      }
    }
  } else {
    // Column j of B is row j of b: read 8 rows × 4 depths, transpose as two 4 × 4 blocks.
    const rowBytes = (<usize>k) << 2;
    for (let q = 0; q < panels; q++) {
      const r0 = b + ((<usize>(jc + (q << 3)) * <usize>k + <usize>pc) << 2);
      const r4 = r0 + 4 * rowBytes;
      let to0 = to + <usize>q * panelBytes;
      let p = 0;
      for (; p + 4 <= kc; p += 4) {
        const offset = (<usize>p) << 2;
        const at = r0 + offset;
        transpose4(
          to0,
          v128.load(at),
          v128.load(at + rowBytes),
          v128.load(at + 2 * rowBytes),
          v128.load(at + 3 * rowBytes),
          32,
        );
        const at4 = r4 + offset;
        transpose4(
          to0 + 16,
          v128.load(at4),
          v128.load(at4 + rowBytes),
          v128.load(at4 + 2 * rowBytes),
          v128.load(at4 + 3 * rowBytes),
          32,
        );
        to0 += 128;
      }
      for (; p < kc; p++) {
        const at = r0 + ((<usize>p) << 2);
        for (let c: usize = 0; c < 8; c++) store<f32>(to0 + (c << 2), load<f32>(at + c * rowBytes));
        to0 += 32;
      }
    }
    if (partialCols) {
      const r0 = b + ((<usize>(jc + (panels << 3)) * <usize>k + <usize>pc) << 2);
      let to0 = to + <usize>panels * panelBytes;
      for (let p = 0; p < kc; p++) {
        const at = r0 + ((<usize>p) << 2);
        v128.store(to0, f32x4.splat(0));
        v128.store(to0, f32x4.splat(0), 16);
        for (let c = 0; c < partialCols; c++) store<f32>(to0 + ((<usize>c) << 2), load<f32>(at + <usize>c * rowBytes));
        to0 += 32;
      }
    }
  }
}

/** out[m,n] (+)= A·B through packed blocks. */
function gemmPacked(
  out: usize,
  a: usize,
  aLayout: i32,
  b: usize,
  bLayout: i32,
  m: i32,
  n: i32,
  k: i32,
  accumulate: bool,
  work: usize,
): void {
  const packedB = work;
  const packedA = work + PACKED_B_BYTES;
  const tile = packedA + PACKED_A_BYTES;
  const ldc = (<usize>n) << 2;
  if (m <= MC) {
    // At most MC rows (a recurrent step): A is packed once per depth block, B two panels at a time.
    // Narrow row-major B is read in place instead: its rows, at most 1 KiB apart, stream well, while
    // wider power-of-two rows alias in L1 sets and TLB entries (measured: n = 128 +3%, 2048 −30%).
    const inPlaceColumns = bLayout == B_ROWS && n <= B_IN_PLACE_MAX_COLUMNS ? n & ~7 : 0;
    const chunk = m < 4 ? NC_ONE_ROW : NC_FEW_ROWS;
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      packA(packedA, a, aLayout, m, k, 0, m, pc, kc);
      const add = accumulate || pc > 0;
      const panel = (<usize>kc) << 5;
      if (inPlaceColumns)
        macroKernel(out, ldc, packedA, b + ((<usize>pc * <usize>n) << 2), 32, ldc, m, inPlaceColumns, kc, add, tile);
      for (let jc = inPlaceColumns; jc < n; jc += chunk) {
        const nc = min(chunk, n - jc);
        packB(packedB, b, bLayout, n, k, pc, kc, jc, nc);
        macroKernel(out + ((<usize>jc) << 2), ldc, packedA, packedB, panel, 32, m, nc, kc, add, tile);
      }
    }
    return;
  }
  for (let jc = 0; jc < n; jc += NC) {
    const nc = min(NC, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      packB(packedB, b, bLayout, n, k, pc, kc, jc, nc);
      const add = accumulate || pc > 0;
      for (let ic = 0; ic < m; ic += MC) {
        const mc = min(MC, m - ic);
        packA(packedA, a, aLayout, m, k, ic, mc, pc, kc);
        macroKernel(
          out + ((<usize>ic * <usize>n + <usize>jc) << 2),
          ldc,
          packedA,
          packedB,
          (<usize>kc) << 5,
          32,
          mc,
          nc,
          kc,
          add,
          tile,
        );
      }
    }
  }
}

/**
 * out[m,n] (+)= A·B for m = 2 or 3 with row-major B read in place (row p at b + p·n): packing would
 * cost as much as the product. Rows of A are `aRow` bytes apart, successive depths
 * `aStep`. Bit for bit what gemmPacked computes: the same depth blocks and kernels, and the n mod 8
 * columns left through a zero-padded packed panel as there.
 */
function gemmUnpacked(
  out: usize,
  a: usize,
  aRow: usize,
  aStep: usize,
  b: usize,
  m: i32,
  n: i32,
  k: i32,
  accumulate: bool,
  work: usize,
): void {
  const ldc = (<usize>n) << 2;
  const panels = n >> 3;
  const partialCols = n & 7;
  const tile = work + PACKED_B_BYTES + PACKED_A_BYTES;
  const outPartial = out + ((<usize>panels) << 5);
  for (let pc = 0; pc < k; pc += KC) {
    const kc = min(KC, k - pc);
    const add = accumulate || pc > 0;
    const aBlock = a + <usize>pc * aStep;
    const bBlock = b + <usize>pc * ldc;
    if (partialCols) packB(work, b, B_ROWS, n, k, pc, kc, panels << 3, partialCols);
    let i = 0;
    if (m >= 2) {
      rowPair(out, ldc, aBlock, aRow, aStep, bBlock, 32, ldc, panels, kc, add);
      if (partialCols) {
        kernel2x8(tile, 32, aBlock, aRow, aStep, work, 32, kc, false);
        mergeTile(outPartial, ldc, tile, 2, partialCols, add);
      }
      i = 2;
    }
    if (m & 1) {
      const aLast = aBlock + <usize>i * aRow;
      singleRow(out + <usize>i * ldc, aLast, aStep, bBlock, 32, ldc, panels, kc, add);
      if (partialCols) {
        kernel1x8(tile, aLast, aStep, work, 32, kc, false);
        mergeTile(outPartial + <usize>i * ldc, ldc, tile, 1, partialCols, add);
      }
    }
  }
}

/**
 * out[1,n] (+)= A(1 row)·B with row-major B streamed row by row: the row's sums stay in `sums` (n floats,
 * in L1) while 4 rows of B at a time are read contiguously, so one row runs at the speed B can be read
 * (strided 1 × 32 kernels over rows 2 KiB apart measured half of it). Each element is still one chain
 * over p per depth block, held in a register across the 4 depths: the same value as the kernels'.
 */
function rowStreamed(
  out: usize,
  a: usize,
  aStep: usize,
  b: usize,
  n: i32,
  k: i32,
  accumulate: bool,
  sums: usize,
): void {
  const ldc = (<usize>n) << 2;
  const vectorBytes = ldc & ~15;
  for (let pc = 0; pc < k; pc += KC) {
    const kc = min(KC, k - pc);
    let from = a + <usize>pc * aStep;
    let row = b + <usize>pc * ldc;
    memory.fill(sums, 0, ldc);
    let p = 0;
    for (; p + 4 <= kc; p += 4) {
      const x0 = v128.load32_splat(from);
      const x1 = v128.load32_splat(from + aStep);
      const x2 = v128.load32_splat(from + 2 * aStep);
      const x3 = v128.load32_splat(from + 3 * aStep);
      const row1 = row + ldc;
      const row2 = row1 + ldc;
      const row3 = row2 + ldc;
      let j: usize = 0;
      for (; j < vectorBytes; j += 16) {
        let c = madd(x0, v128.load(row + j), v128.load(sums + j));
        c = madd(x1, v128.load(row1 + j), c);
        c = madd(x2, v128.load(row2 + j), c);
        v128.store(sums + j, madd(x3, v128.load(row3 + j), c));
      }
      // The n mod 4 columns left: lane 0 of the same instruction.
      for (; j < ldc; j += 4) {
        let c = madd(x0, v128.load32_splat(row + j), v128.load32_splat(sums + j));
        c = madd(x1, v128.load32_splat(row1 + j), c);
        c = madd(x2, v128.load32_splat(row2 + j), c);
        store<f32>(sums + j, f32x4.extract_lane(madd(x3, v128.load32_splat(row3 + j), c), 0));
      }
      from += aStep << 2;
      row += ldc << 2;
    }
    for (; p < kc; p++) {
      const x = v128.load32_splat(from);
      let j: usize = 0;
      for (; j < vectorBytes; j += 16) v128.store(sums + j, madd(x, v128.load(row + j), v128.load(sums + j)));
      for (; j < ldc; j += 4)
        store<f32>(sums + j, f32x4.extract_lane(madd(x, v128.load32_splat(row + j), v128.load32_splat(sums + j)), 0));
      from += aStep;
      row += ldc;
    }
    if (accumulate || pc > 0) addInto(out, sums, ldc);
    else memory.copy(out, sums, ldc);
  }
}

/** out[m,n] (+)= A·B; with fewer than 4 rows (a sampling step), row-major B is read in place. */
function gemm(
  out: usize,
  a: usize,
  aLayout: i32,
  b: usize,
  bLayout: i32,
  m: i32,
  n: i32,
  k: i32,
  accumulate: bool,
  work: usize,
): void {
  if (m == 1 && bLayout == B_ROWS && n <= PACKED_B_BYTES >> 2) {
    // One row's depths are contiguous in either layout.
    rowStreamed(out, a, 4, b, n, k, accumulate, work);
  } else if (m < 4 && bLayout == B_ROWS) {
    const rowBytes: usize = aLayout == A_ROWS ? (<usize>k) << 2 : 4;
    const depthBytes: usize = aLayout == A_ROWS ? 4 : (<usize>m) << 2;
    gemmUnpacked(out, a, rowBytes, depthBytes, b, m, n, k, accumulate, work);
  } else gemmPacked(out, a, aLayout, b, bLayout, m, n, k, accumulate, work);
}

@inline function horizontalSum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/** The degenerate sizes; returns true when nothing is left to compute. */
function trivialProduct(out: usize, m: i32, n: i32, k: i32, accumulate: bool): bool {
  if (m <= 0 || n <= 0) return true;
  if (k <= 0) {
    if (!accumulate) memory.fill(out, 0, (<usize>m * <usize>n) << 2);
    return true;
  }
  return false;
}

/** out[m,n] (+)= a[m,k]·b[k,n]. Implements matmulAB of src/core/kernels-js.ts. */
export function matmulAB(out: usize, a: usize, b: usize, m: i32, n: i32, k: i32, accumulate: bool, work: usize): void {
  if (trivialProduct(out, m, n, k, accumulate)) return;
  gemm(out, a, A_ROWS, b, B_ROWS, m, n, k, accumulate, work);
}

/** out[m,n] (+)= a[k,m]ᵀ·b[k,n]. Implements matmulAtB of src/core/kernels-js.ts. */
export function matmulAtB(out: usize, a: usize, b: usize, m: i32, n: i32, k: i32, accumulate: bool, work: usize): void {
  if (trivialProduct(out, m, n, k, accumulate)) return;
  gemm(out, a, A_COLS, b, B_ROWS, m, n, k, accumulate, work);
}

/** out[m,n] (+)= a[m,k]·b[n,k]ᵀ. Implements matmulABt of src/core/kernels-js.ts. */
export function matmulABt(out: usize, a: usize, b: usize, m: i32, n: i32, k: i32, accumulate: bool, work: usize): void {
  if (trivialProduct(out, m, n, k, accumulate)) return;
  // Few rows too: dot products of a's and b's rows would sum in another order than the packed path.
  gemm(out, a, A_ROWS, b, B_COLS, m, n, k, accumulate, work);
}

// ---------------------------------------------------------------------------------------------------
// Gathered rows: the weight gradients summed over rows spread over many buffers (one per thread).
// A row table is an i32 array: the batch's stream count, then per stream the byte offset of its row at
// step 0 and the bytes from one step's row to the next. Row p is stream p mod streams at step
// p / streams: the rows are summed step by step, stream by stream.

/** The byte offset of the row of `stream` at `step`. */
@inline function streamRow(table: usize, stream: i32, step: i32): usize {
  const at = table + 4 + ((<usize>stream) << 3);
  return <usize>load<i32>(at) + <usize>step * <usize>load<i32>(at, 4);
}

/** to[0..bytes) = from[0..bytes), vectors then floats (a call to memory.copy costs more for a short row). */
@inline function copyFloats(to: usize, from: usize, bytes: usize): void {
  const vectorBytes = bytes & ~15;
  let at: usize = 0;
  for (; at < vectorBytes; at += 16) v128.store(to + at, v128.load(from + at));
  for (; at < bytes; at += 4) store<f32>(to + at, load<f32>(from + at));
}

/** Bytes of scratch matmulAtBRows needs for an m × n product. */
export function rowsScratchBytes(m: i32, n: i32): i32 {
  return KC * (min(m, MC) + n) * 4;
}

/**
 * out[m,n] (+)= Σp aRows_p[first + i]·bRows_p[j] over the `count` rows of the tables. Each depth block
 * of KC rows is gathered into `scratch` ([kc, n] of B, then [kc, mc] of A for each MC rows of out: a
 * block that stays in L2) and multiplied as matmulAtB would. The products being row-stable, the result
 * equals matmulAtB over the same rows laid out contiguously, bit for bit, and any slice of rows from
 * `first` equals the same rows of the whole. Implements matmulAtBRows of src/core/kernels-js.ts.
 */
export function matmulAtBRows(
  out: usize,
  aRows: usize,
  first: i32,
  bRows: usize,
  count: i32,
  m: i32,
  n: i32,
  accumulate: bool,
  work: usize,
  scratch: usize,
): void {
  if (trivialProduct(out, m, n, count, accumulate)) return;
  const bBytes = (<usize>n) << 2;
  const gatheredB = scratch;
  const gatheredA = scratch + <usize>KC * bBytes;
  const streams = load<i32>(aRows);
  for (let pc = 0; pc < count; pc += KC) {
    const kc = min(KC, count - pc);
    const firstStep = pc / streams;
    const firstStream = pc - firstStep * streams;
    for (let p = 0, step = firstStep, stream = firstStream; p < kc; p++) {
      copyFloats(gatheredB + <usize>p * bBytes, streamRow(bRows, stream, step), bBytes);
      if (++stream == streams) {
        stream = 0;
        step++;
      }
    }
    const add = accumulate || pc > 0;
    for (let ic = 0; ic < m; ic += MC) {
      const mc = min(MC, m - ic);
      const aBytes = (<usize>mc) << 2;
      const aOffset = (<usize>(first + ic)) << 2;
      for (let p = 0, step = firstStep, stream = firstStream; p < kc; p++) {
        copyFloats(gatheredA + <usize>p * aBytes, streamRow(aRows, stream, step) + aOffset, aBytes);
        if (++stream == streams) {
          stream = 0;
          step++;
        }
      }
      gemm(out + <usize>ic * bBytes, gatheredA, A_COLS, gatheredB, B_ROWS, mc, n, kc, add, work);
    }
  }
}

/** out[cols, rows] = a[rows, cols]ᵀ, in 4 × 4 tiles. Implements transpose of src/core/kernels-js.ts. */
export function transpose(out: usize, a: usize, rows: i32, cols: i32): void {
  const rowBytes = (<usize>cols) << 2;
  const outRowBytes = (<usize>rows) << 2;
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const from = a + ((<usize>r * <usize>cols + <usize>c) << 2);
      transpose4(
        out + ((<usize>c * <usize>rows + <usize>r) << 2),
        v128.load(from),
        v128.load(from + rowBytes),
        v128.load(from + 2 * rowBytes),
        v128.load(from + 3 * rowBytes),
        outRowBytes,
      );
    }
    for (; c < cols; c++) {
      for (let rr = r; rr < r + 4; rr++)
        store<f32>(
          out + ((<usize>c * <usize>rows + <usize>rr) << 2),
          load<f32>(a + ((<usize>rr * <usize>cols + <usize>c) << 2)),
        );
    }
  }
  for (; r < rows; r++) {
    for (let c = 0; c < cols; c++)
      store<f32>(
        out + ((<usize>c * <usize>rows + <usize>r) << 2),
        load<f32>(a + ((<usize>r * <usize>cols + <usize>c) << 2)),
      );
  }
}

// ---------------------------------------------------------------------------------------------------
// Small kernels: bias broadcast and sum, one-hot projection and its gradient.

/** out[r,:] = bias for each of the rows. Implements broadcastRows of src/core/kernels-js.ts. */
export function broadcastRows(out: usize, bias: usize, rows: i32, width: i32): void {
  const bytes = (<usize>width) << 2;
  const vectorBytes = bytes & ~15;
  for (let r = 0; r < rows; r++) {
    let at: usize = 0;
    for (; at < vectorBytes; at += 16) v128.store(out + at, v128.load(bias + at));
    for (; at < bytes; at += 4) store<f32>(out + at, load<f32>(bias + at));
    out += bytes;
  }
}

/**
 * out[:] (+)= Σr a[r,:], 32 columns at a time in 8 accumulators. Each column is summed in row order
 * in f32, exactly as the reference (sumRows of src/core/kernels-js.ts) does.
 */
export function sumRows(out: usize, a: usize, rows: i32, width: i32, accumulate: bool): void {
  const rowBytes = (<usize>width) << 2;
  let j: usize = 0;
  for (; j + 128 <= rowBytes; j += 128) {
    const o = out + j;
    let s0 = f32x4.splat(0),
      s1 = f32x4.splat(0),
      s2 = f32x4.splat(0),
      s3 = f32x4.splat(0);
    let s4 = f32x4.splat(0),
      s5 = f32x4.splat(0),
      s6 = f32x4.splat(0),
      s7 = f32x4.splat(0);
    if (accumulate) {
      s0 = v128.load(o);
      s1 = v128.load(o, 16);
      s2 = v128.load(o, 32);
      s3 = v128.load(o, 48);
      s4 = v128.load(o, 64);
      s5 = v128.load(o, 80);
      s6 = v128.load(o, 96);
      s7 = v128.load(o, 112);
    }
    let from = a + j;
    for (let r = 0; r < rows; r++) {
      s0 = f32x4.add(s0, v128.load(from));
      s1 = f32x4.add(s1, v128.load(from, 16));
      s2 = f32x4.add(s2, v128.load(from, 32));
      s3 = f32x4.add(s3, v128.load(from, 48));
      s4 = f32x4.add(s4, v128.load(from, 64));
      s5 = f32x4.add(s5, v128.load(from, 80));
      s6 = f32x4.add(s6, v128.load(from, 96));
      s7 = f32x4.add(s7, v128.load(from, 112));
      from += rowBytes;
    }
    v128.store(o, s0);
    v128.store(o, s1, 16);
    v128.store(o, s2, 32);
    v128.store(o, s3, 48);
    v128.store(o, s4, 64);
    v128.store(o, s5, 80);
    v128.store(o, s6, 96);
    v128.store(o, s7, 112);
  }
  for (; j + 16 <= rowBytes; j += 16) {
    let s = accumulate ? v128.load(out + j) : f32x4.splat(0);
    let from = a + j;
    for (let r = 0; r < rows; r++) {
      s = f32x4.add(s, v128.load(from));
      from += rowBytes;
    }
    v128.store(out + j, s);
  }
  for (; j < rowBytes; j += 4) {
    let s: f32 = accumulate ? load<f32>(out + j) : 0;
    let from = a + j;
    for (let r = 0; r < rows; r++) {
      s += load<f32>(from);
      from += rowBytes;
    }
    store<f32>(out + j, s);
  }
}

/**
 * out[j] (+)= Σp rows_p[first + j] for j < width over the `count` rows of a table, row by row into out
 * (which stays in L1): each element summed in row order in f32, like sumRows. Implements sumRowsOf of
 * src/core/kernels-js.ts.
 */
export function sumRowsOf(out: usize, rows: usize, first: i32, width: i32, count: i32, accumulate: bool): void {
  const bytes = (<usize>width) << 2;
  const offset = (<usize>first) << 2;
  if (!accumulate) memory.fill(out, 0, bytes);
  const streams = load<i32>(rows);
  for (let p = 0, step = 0, stream = 0; p < count; p++) {
    addInto(out, streamRow(rows, stream, step) + offset, bytes);
    if (++stream == streams) {
      stream = 0;
      step++;
    }
  }
}

/** out[0..bytes) += from[0..bytes), vectors then floats. */
@inline function addInto(out: usize, from: usize, bytes: usize): void {
  const vectorBytes = bytes & ~15;
  let at: usize = 0;
  for (; at < vectorBytes; at += 16) v128.store(out + at, f32x4.add(v128.load(out + at), v128.load(from + at)));
  for (; at < bytes; at += 4) store<f32>(out + at, load<f32>(out + at) + load<f32>(from + at));
}

/**
 * out[r,:] += weight[:, ids[r]] for weight [width, columns]. With many rows, weight is first transposed
 * into `scratch` (columns × width floats) so each row adds one contiguous row; a few rows gather.
 * Implements gatherColumnsAdd of src/core/kernels-js.ts.
 */
export function gatherColumnsAdd(
  out: usize,
  weight: usize,
  ids: usize,
  rows: i32,
  width: i32,
  columns: i32,
  scratch: usize,
): void {
  const rowBytes = (<usize>width) << 2;
  if (rows * 4 < columns) {
    const columnBytes = (<usize>columns) << 2;
    for (let r = 0; r < rows; r++) {
      let from = weight + ((<usize>load<i32>(ids + ((<usize>r) << 2))) << 2);
      for (let at: usize = 0; at < rowBytes; at += 4) {
        store<f32>(out + at, load<f32>(out + at) + load<f32>(from));
        from += columnBytes;
      }
      out += rowBytes;
    }
    return;
  }
  transpose(scratch, weight, width, columns);
  gatherRowsAdd(out, scratch, ids, rows, width);
}

/** out[r,:] += table[ids[r], :] for table [?, width]. Implements gatherRowsAdd of src/core/kernels-js.ts. */
export function gatherRowsAdd(out: usize, table: usize, ids: usize, rows: i32, width: i32): void {
  const rowBytes = (<usize>width) << 2;
  for (let r = 0; r < rows; r++) {
    addInto(out, table + <usize>load<i32>(ids + ((<usize>r) << 2)) * rowBytes, rowBytes);
    out += rowBytes;
  }
}

/**
 * gradWeight[:, ids[r]] += dOut[r,:] in row order. gradWeight is transposed into `scratch` (columns ×
 * width floats), the rows added there contiguously, and transposed back: every element sees the same
 * f32 additions in the same order as in the reference (scatterColumnsAdd of src/core/kernels-js.ts).
 */
export function scatterColumnsAdd(
  gradWeight: usize,
  dOut: usize,
  ids: usize,
  rows: i32,
  width: i32,
  columns: i32,
  scratch: usize,
): void {
  const rowBytes = (<usize>width) << 2;
  if (rows * 4 < columns) {
    const columnBytes = (<usize>columns) << 2;
    for (let r = 0; r < rows; r++) {
      let to = gradWeight + ((<usize>load<i32>(ids + ((<usize>r) << 2))) << 2);
      for (let at: usize = 0; at < rowBytes; at += 4) {
        store<f32>(to, load<f32>(to) + load<f32>(dOut + at));
        to += columnBytes;
      }
      dOut += rowBytes;
    }
    return;
  }
  transpose(scratch, gradWeight, width, columns);
  for (let r = 0; r < rows; r++) {
    addInto(scratch + <usize>load<i32>(ids + ((<usize>r) << 2)) * rowBytes, dOut, rowBytes);
    dOut += rowBytes;
  }
  transpose(gradWeight, scratch, columns, width);
}

/**
 * gradWeight[g, ids[p]] += dRows_p[first + g] for g < width over the `count` rows of a table, in row
 * order: scatterColumnsAdd over gathered rows, the same way (transposed through `scratch` when the rows
 * are many), so the same f32 additions in the same order. Implements scatterColumnsAddRows of
 * src/core/kernels-js.ts.
 */
export function scatterColumnsAddRows(
  gradWeight: usize,
  dRows: usize,
  first: i32,
  ids: usize,
  width: i32,
  columns: i32,
  count: i32,
  scratch: usize,
): void {
  const rowBytes = (<usize>width) << 2;
  const offset = (<usize>first) << 2;
  const streams = load<i32>(dRows);
  if (count * 4 < columns) {
    const columnBytes = (<usize>columns) << 2;
    for (let p = 0, step = 0, stream = 0; p < count; p++) {
      let to = gradWeight + ((<usize>load<i32>(ids + ((<usize>p) << 2))) << 2);
      const from = streamRow(dRows, stream, step) + offset;
      for (let at: usize = 0; at < rowBytes; at += 4) {
        store<f32>(to, load<f32>(to) + load<f32>(from + at));
        to += columnBytes;
      }
      if (++stream == streams) {
        stream = 0;
        step++;
      }
    }
    return;
  }
  transpose(scratch, gradWeight, width, columns);
  for (let p = 0, step = 0, stream = 0; p < count; p++) {
    const to = scratch + <usize>load<i32>(ids + ((<usize>p) << 2)) * rowBytes;
    addInto(to, streamRow(dRows, stream, step) + offset, rowBytes);
    if (++stream == streams) {
      stream = 0;
      step++;
    }
  }
  transpose(gradWeight, scratch, columns, width);
}

// ---------------------------------------------------------------------------------------------------
// Vectorized exp, expm1, sigmoid, tanh (Cephes expf: range reduction by ln2, degree-5 polynomial;
// about 1 ulp), and the fused gates built on them.

const EXP_LOW = 0; // below it e^x would leave the normal floats
const EXP_HIGH = 4; // above it e^x would overflow
const LOG2E = 8;
const ROUNDER = 12; // 1.5·2²³: adding it rounds to an integer held in the low mantissa bits
const MINUS_LN2_HIGH = 16; // −ln2 in two parts, the first exact in few bits, for the reduction
const MINUS_LN2_LOW = 20;
const P0 = 24; // expm1(r) ≈ r + r²·(P5 + r·(P4 + ... + r·P0)) on |r| ≤ ln2/2
const P1 = 28;
const P2 = 32;
const P3 = 36;
const P4 = 40;
const P5 = 44;
const ONE = 48;
const TWO = 52;
const SIGN_BIT = 56; // −0
const EXPONENT_OFFSET = 60; // bit pattern 0x4b3fff81: ROUNDER's bits minus the exponent bias 127
const CONSTANTS = memory.data<f32>([
  -87.3, 88.3, 1.44269504088896341, 12582912.0, -0.693359375, 2.1219444e-4, 1.98756915e-4, 1.3981999507e-3,
  8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1, 1.0, 2.0, -0.0, 12582785.0,
]);

/** The constant at byte `offset` of the table, in every lane (one vbroadcastss). */
@inline function k(offset: i32): v128 {
  return v128.load32_splat(CONSTANTS + <usize>offset);
}

// e^x = 2^n · e^r with n = round(x·log2 e) and r = x − n·ln2, |r| ≤ ln2/2.

/** x·log2 e + ROUNDER: n sits in the low mantissa bits, and (this − ROUNDER) is n as a float. */
@inline function expShifted(x: v128): v128 {
  return madd(x, k(LOG2E), k(ROUNDER));
}

/** 2^n from expShifted: n moved into the exponent field. */
@inline function expScale(shifted: v128): v128 {
  return i32x4.shl(i32x4.sub(shifted, k(EXPONENT_OFFSET)), 23);
}

/** e^r − 1 for the reduced r (the polynomial without the final + 1, so it keeps relative accuracy). */
@inline function expm1Reduced(x: v128, shifted: v128): v128 {
  const n = f32x4.sub(shifted, k(ROUNDER));
  let r = madd(n, k(MINUS_LN2_HIGH), x);
  r = madd(n, k(MINUS_LN2_LOW), r);
  let y = madd(k(P0), r, k(P1));
  y = madd(y, r, k(P2));
  y = madd(y, r, k(P3));
  y = madd(y, r, k(P4));
  y = madd(y, r, k(P5));
  return madd(f32x4.mul(y, r), r, r);
}

/** e^x, with x clamped to where the result is a finite normal float. */
@inline function expVector(x: v128): v128 {
  x = f32x4.pmin(f32x4.pmax(x, k(EXP_LOW)), k(EXP_HIGH));
  const shifted = expShifted(x);
  return f32x4.mul(f32x4.add(expm1Reduced(x, shifted), k(ONE)), expScale(shifted));
}

/** e^x / (1 + e^x): saturates to 0 and 1 without NaN (e^x is clamped to the finite range). */
@inline function sigmoidVector(x: v128): v128 {
  const e = expVector(x);
  return f32x4.div(e, f32x4.add(e, k(ONE)));
}

/**
 * tanh(x) = −expm1(−2|x|) / (2 + expm1(−2|x|)) with the sign of x: no cancellation near 0 (expm1 is
 * accurate there), and for large |x| expm1 → −1 so the quotient → 1.
 */
@inline function tanhVector(x: v128): v128 {
  // −2|x|: setting the sign bit (f32x4.abs and neg would each rebuild a mask in 2 instructions).
  const y = f32x4.pmax(f32x4.mul(v128.or(x, k(SIGN_BIT)), k(TWO)), k(EXP_LOW));
  const shifted = expShifted(y);
  const scale = expScale(shifted);
  // e^y − 1 = 2^n·expm1(r) + (2^n − 1)
  const em = madd(scale, expm1Reduced(y, shifted), f32x4.sub(scale, k(ONE)));
  // Clearing the sign: em/(em + 2) ≤ 0, but at x = 0 it may be +0 and tanh(+0) must stay +0.
  const magnitude = v128.andnot(f32x4.div(em, f32x4.add(em, k(TWO))), k(SIGN_BIT));
  return v128.or(magnitude, v128.and(x, k(SIGN_BIT)));
}

@inline function scalarSigmoid(x: f32): f32 {
  return f32x4.extract_lane(sigmoidVector(f32x4.splat(x)), 0);
}

@inline function scalarTanh(x: f32): f32 {
  return f32x4.extract_lane(tanhVector(f32x4.splat(x)), 0);
}

/** Implements tanhForwardReference (src/core/layers/rnn.ts): h = tanh(pre). */
export function tanhForward(h: usize, pre: usize, n: i32): void {
  tanhBlock(h, pre, (<usize>n) << 2);
}

/** Implements tanhBackwardReference (src/core/layers/rnn.ts): dPre = dh · (1 − h²). */
export function tanhBackward(dPre: usize, dh: usize, h: usize, n: i32): void {
  const bytes = (<usize>n) << 2;
  const vectorBytes = bytes & ~15;
  let at: usize = 0;
  for (; at < vectorBytes; at += 16) {
    const value = v128.load(h + at);
    v128.store(dPre + at, f32x4.mul(v128.load(dh + at), f32x4.sub(k(ONE), f32x4.mul(value, value))));
  }
  for (; at < bytes; at += 4) {
    const value = load<f32>(h + at);
    store<f32>(dPre + at, load<f32>(dh + at) * (1 - value * value));
  }
}

// The forward gates run one activation at a time over contiguous blocks, two or four vectors per
// iteration: a single exp chain is ~15 dependent operations, and all five of an LSTM cell in one loop
// body spill registers; separate unrolled loops measured 1.4x faster.

/** x = sigmoid(x) in place over `bytes` bytes. */
function sigmoidBlock(x: usize, bytes: usize): void {
  let at: usize = 0;
  for (; at + 64 <= bytes; at += 64) {
    const a = sigmoidVector(v128.load(x + at));
    const b = sigmoidVector(v128.load(x + at, 16));
    const c = sigmoidVector(v128.load(x + at, 32));
    const d = sigmoidVector(v128.load(x + at, 48));
    v128.store(x + at, a);
    v128.store(x + at, b, 16);
    v128.store(x + at, c, 32);
    v128.store(x + at, d, 48);
  }
  for (; at + 16 <= bytes; at += 16) v128.store(x + at, sigmoidVector(v128.load(x + at)));
  for (; at < bytes; at += 4) store<f32>(x + at, scalarSigmoid(load<f32>(x + at)));
}

/** x = sigmoid(x + y) in place over `bytes` bytes. */
function sigmoidSumBlock(x: usize, y: usize, bytes: usize): void {
  let at: usize = 0;
  for (; at + 64 <= bytes; at += 64) {
    const a = sigmoidVector(f32x4.add(v128.load(x + at), v128.load(y + at)));
    const b = sigmoidVector(f32x4.add(v128.load(x + at, 16), v128.load(y + at, 16)));
    const c = sigmoidVector(f32x4.add(v128.load(x + at, 32), v128.load(y + at, 32)));
    const d = sigmoidVector(f32x4.add(v128.load(x + at, 48), v128.load(y + at, 48)));
    v128.store(x + at, a);
    v128.store(x + at, b, 16);
    v128.store(x + at, c, 32);
    v128.store(x + at, d, 48);
  }
  for (; at + 16 <= bytes; at += 16) v128.store(x + at, sigmoidVector(f32x4.add(v128.load(x + at), v128.load(y + at))));
  for (; at < bytes; at += 4) store<f32>(x + at, scalarSigmoid(load<f32>(x + at) + load<f32>(y + at)));
}

/** out = tanh(x) over `bytes` bytes (out may be x). */
function tanhBlock(out: usize, x: usize, bytes: usize): void {
  let at: usize = 0;
  for (; at + 64 <= bytes; at += 64) {
    const a = tanhVector(v128.load(x + at));
    const b = tanhVector(v128.load(x + at, 16));
    const c = tanhVector(v128.load(x + at, 32));
    const d = tanhVector(v128.load(x + at, 48));
    v128.store(out + at, a);
    v128.store(out + at, b, 16);
    v128.store(out + at, c, 32);
    v128.store(out + at, d, 48);
  }
  for (; at + 16 <= bytes; at += 16) v128.store(out + at, tanhVector(v128.load(x + at)));
  for (; at < bytes; at += 4) store<f32>(out + at, scalarTanh(load<f32>(x + at)));
}

/** Implements lstmForwardReference (src/core/layers/lstm.ts). */
export function lstmForward(
  gates: usize,
  cPrev: usize,
  c: usize,
  cTanh: usize,
  h: usize,
  batch: i32,
  hidden: i32,
): void {
  const width = (<usize>hidden) << 2;
  for (let b = 0; b < batch; b++) {
    const row = gates + <usize>b * (width << 2);
    const state = <usize>b * width;
    sigmoidBlock(row, 2 * width); // i and f
    tanhBlock(row + 2 * width, row + 2 * width, width); // g
    sigmoidBlock(row + 3 * width, width); // o
    let at: usize = 0;
    for (; at + 32 <= width; at += 32) {
      const c0 = madd(
        v128.load(row + width + at),
        v128.load(cPrev + state + at),
        f32x4.mul(v128.load(row + at), v128.load(row + 2 * width + at)),
      );
      const c1 = madd(
        v128.load(row + width + at, 16),
        v128.load(cPrev + state + at, 16),
        f32x4.mul(v128.load(row + at, 16), v128.load(row + 2 * width + at, 16)),
      );
      v128.store(c + state + at, c0);
      v128.store(c + state + at, c1, 16);
      const t0 = tanhVector(c0);
      const t1 = tanhVector(c1);
      v128.store(cTanh + state + at, t0);
      v128.store(cTanh + state + at, t1, 16);
      v128.store(h + state + at, f32x4.mul(v128.load(row + 3 * width + at), t0));
      v128.store(h + state + at, f32x4.mul(v128.load(row + 3 * width + at, 16), t1), 16);
    }
    for (; at + 16 <= width; at += 16) {
      const cell = madd(
        v128.load(row + width + at),
        v128.load(cPrev + state + at),
        f32x4.mul(v128.load(row + at), v128.load(row + 2 * width + at)),
      );
      v128.store(c + state + at, cell);
      const t = tanhVector(cell);
      v128.store(cTanh + state + at, t);
      v128.store(h + state + at, f32x4.mul(v128.load(row + 3 * width + at), t));
    }
    for (; at < width; at += 4) {
      const cell =
        load<f32>(row + width + at) * load<f32>(cPrev + state + at) +
        load<f32>(row + at) * load<f32>(row + 2 * width + at);
      store<f32>(c + state + at, cell);
      const t = scalarTanh(cell);
      store<f32>(cTanh + state + at, t);
      store<f32>(h + state + at, load<f32>(row + 3 * width + at) * t);
    }
  }
}

/** Implements lstmBackwardReference (src/core/layers/lstm.ts), whose comments derive each line. */
export function lstmBackward(
  gates: usize,
  cPrev: usize,
  cTanh: usize,
  dh: usize,
  dc: usize,
  dGates: usize,
  batch: i32,
  hidden: i32,
): void {
  const width = (<usize>hidden) << 2;
  const vectorWidth = width & ~15;
  for (let b = 0; b < batch; b++) {
    const row = <usize>b * (width << 2);
    const state = <usize>b * width;
    let at: usize = 0;
    for (; at < vectorWidth; at += 16) {
      const one = k(ONE);
      const i = v128.load(gates + row + at);
      const f = v128.load(gates + row + width + at);
      const g = v128.load(gates + row + 2 * width + at);
      const o = v128.load(gates + row + 3 * width + at);
      const t = v128.load(cTanh + state + at);
      const gradH = v128.load(dh + state + at);
      const dcTotal = f32x4.add(
        v128.load(dc + state + at),
        f32x4.mul(f32x4.mul(gradH, o), f32x4.sub(one, f32x4.mul(t, t))),
      );
      v128.store(dGates + row + at, f32x4.mul(f32x4.mul(dcTotal, g), f32x4.mul(i, f32x4.sub(one, i))));
      v128.store(
        dGates + row + width + at,
        f32x4.mul(f32x4.mul(dcTotal, v128.load(cPrev + state + at)), f32x4.mul(f, f32x4.sub(one, f))),
      );
      v128.store(dGates + row + 2 * width + at, f32x4.mul(f32x4.mul(dcTotal, i), f32x4.sub(one, f32x4.mul(g, g))));
      v128.store(dGates + row + 3 * width + at, f32x4.mul(f32x4.mul(gradH, t), f32x4.mul(o, f32x4.sub(one, o))));
      v128.store(dc + state + at, f32x4.mul(dcTotal, f));
    }
    for (; at < width; at += 4) {
      const i = load<f32>(gates + row + at);
      const f = load<f32>(gates + row + width + at);
      const g = load<f32>(gates + row + 2 * width + at);
      const o = load<f32>(gates + row + 3 * width + at);
      const t = load<f32>(cTanh + state + at);
      const gradH = load<f32>(dh + state + at);
      const dcTotal = load<f32>(dc + state + at) + gradH * o * (1 - t * t);
      store<f32>(dGates + row + at, dcTotal * g * (i * (1 - i)));
      store<f32>(dGates + row + width + at, dcTotal * load<f32>(cPrev + state + at) * (f * (1 - f)));
      store<f32>(dGates + row + 2 * width + at, dcTotal * i * (1 - g * g));
      store<f32>(dGates + row + 3 * width + at, gradH * t * (o * (1 - o)));
      store<f32>(dc + state + at, dcTotal * f);
    }
  }
}

/** Implements gruForwardReference (src/core/layers/gru.ts). */
export function gruForward(xGates: usize, hGates: usize, hPrev: usize, h: usize, batch: i32, hidden: i32): void {
  const width = (<usize>hidden) << 2;
  for (let b = 0; b < batch; b++) {
    const row = <usize>b * 3 * width;
    const state = <usize>b * width;
    const x = xGates + row;
    const hg = hGates + row;
    sigmoidSumBlock(x, hg, 2 * width); // r and z
    let at: usize = 0;
    for (; at + 32 <= width; at += 32) {
      const n0 = tanhVector(madd(v128.load(x + at), v128.load(hg + 2 * width + at), v128.load(x + 2 * width + at)));
      const n1 = tanhVector(
        madd(v128.load(x + at, 16), v128.load(hg + 2 * width + at, 16), v128.load(x + 2 * width + at, 16)),
      );
      v128.store(x + 2 * width + at, n0);
      v128.store(x + 2 * width + at, n1, 16);
      // h = (1 − z)·n + z·hPrev
      const z0 = v128.load(x + width + at);
      const z1 = v128.load(x + width + at, 16);
      v128.store(
        h + state + at,
        f32x4.add(f32x4.mul(f32x4.sub(k(ONE), z0), n0), f32x4.mul(z0, v128.load(hPrev + state + at))),
      );
      v128.store(
        h + state + at,
        f32x4.add(f32x4.mul(f32x4.sub(k(ONE), z1), n1), f32x4.mul(z1, v128.load(hPrev + state + at, 16))),
        16,
      );
    }
    for (; at + 16 <= width; at += 16) {
      const n = tanhVector(madd(v128.load(x + at), v128.load(hg + 2 * width + at), v128.load(x + 2 * width + at)));
      v128.store(x + 2 * width + at, n);
      const z = v128.load(x + width + at);
      v128.store(
        h + state + at,
        f32x4.add(f32x4.mul(f32x4.sub(k(ONE), z), n), f32x4.mul(z, v128.load(hPrev + state + at))),
      );
    }
    for (; at < width; at += 4) {
      const n = scalarTanh(load<f32>(x + 2 * width + at) + load<f32>(x + at) * load<f32>(hg + 2 * width + at));
      store<f32>(x + 2 * width + at, n);
      const z = load<f32>(x + width + at);
      store<f32>(h + state + at, (1 - z) * n + z * load<f32>(hPrev + state + at));
    }
  }
}

/** Implements gruBackwardReference (src/core/layers/gru.ts), whose comments derive each line. */
export function gruBackward(
  gates: usize,
  hGates: usize,
  hPrev: usize,
  dh: usize,
  dxGates: usize,
  dhGates: usize,
  dhPrev: usize,
  batch: i32,
  hidden: i32,
): void {
  const width = (<usize>hidden) << 2;
  const vectorWidth = width & ~15;
  for (let b = 0; b < batch; b++) {
    const row = <usize>b * 3 * width;
    const state = <usize>b * width;
    let at: usize = 0;
    for (; at < vectorWidth; at += 16) {
      const one = k(ONE);
      const r = v128.load(gates + row + at);
      const z = v128.load(gates + row + width + at);
      const n = v128.load(gates + row + 2 * width + at);
      const grad = v128.load(dh + state + at);
      const dnPre = f32x4.mul(f32x4.mul(grad, f32x4.sub(one, z)), f32x4.sub(one, f32x4.mul(n, n)));
      const dzPre = f32x4.mul(
        f32x4.mul(grad, f32x4.sub(v128.load(hPrev + state + at), n)),
        f32x4.mul(z, f32x4.sub(one, z)),
      );
      const drPre = f32x4.mul(
        f32x4.mul(dnPre, v128.load(hGates + row + 2 * width + at)),
        f32x4.mul(r, f32x4.sub(one, r)),
      );
      v128.store(dxGates + row + at, drPre);
      v128.store(dxGates + row + width + at, dzPre);
      v128.store(dxGates + row + 2 * width + at, dnPre);
      v128.store(dhGates + row + at, drPre);
      v128.store(dhGates + row + width + at, dzPre);
      v128.store(dhGates + row + 2 * width + at, f32x4.mul(dnPre, r));
      v128.store(dhPrev + state + at, f32x4.add(v128.load(dhPrev + state + at), f32x4.mul(grad, z)));
    }
    for (; at < width; at += 4) {
      const r = load<f32>(gates + row + at);
      const z = load<f32>(gates + row + width + at);
      const n = load<f32>(gates + row + 2 * width + at);
      const grad = load<f32>(dh + state + at);
      const dnPre = grad * (1 - z) * (1 - n * n);
      const dzPre = grad * (load<f32>(hPrev + state + at) - n) * (z * (1 - z));
      const drPre = dnPre * load<f32>(hGates + row + 2 * width + at) * (r * (1 - r));
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

// ---------------------------------------------------------------------------------------------------
// Softmax cross-entropy.

const LN2: f64 = 0.6931471805599453;
const SQRT2: f64 = 1.4142135623730951;

/**
 * Natural log of a positive normal double: x = 2^e·m with m in [√½, √2), log m = 2·atanh(s) for
 * s = (m − 1)/(m + 1), |s| < 0.172, by its series to s¹⁹ (error below 1e-16). Written here so the
 * module carries no lookup tables.
 */
function logPositive(x: f64): f64 {
  const bits = reinterpret<u64>(x);
  let exponent = <i32>((bits >> 52) & 0x7ff) - 1023;
  let m = reinterpret<f64>((bits & 0x000fffffffffffff) | 0x3ff0000000000000);
  if (m > SQRT2) {
    m *= 0.5;
    exponent++;
  }
  const s = (m - 1) / (m + 1);
  const s2 = s * s;
  let series = 1.0 / 19;
  series = series * s2 + 1.0 / 17;
  series = series * s2 + 1.0 / 15;
  series = series * s2 + 1.0 / 13;
  series = series * s2 + 1.0 / 11;
  series = series * s2 + 1.0 / 9;
  series = series * s2 + 1.0 / 7;
  series = series * s2 + 1.0 / 5;
  series = series * s2 + 1.0 / 3;
  return <f64>exponent * LN2 + 2 * s * (1 + s2 * series);
}

/**
 * Returns the summed loss (f64); dLogits = (softmax − onehot)·scale, which may alias logits; each row's
 * loss (f64) goes to `rowLosses` unless it is 0. Implements softmaxCrossEntropy of src/core/kernels-js.ts.
 */
export function softmaxCrossEntropy(
  logits: usize,
  targets: usize,
  dLogits: usize,
  rows: i32,
  vocab: i32,
  scale: f32,
  rowLosses: usize,
): f64 {
  const bytes = (<usize>vocab) << 2;
  const vectorBytes = bytes & ~15;
  let loss: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const row = <usize>r * bytes;
    const from = logits + row;
    const to = dLogits + row;
    let largestVector = f32x4.splat(-Infinity);
    let at: usize = 0;
    for (; at < vectorBytes; at += 16) largestVector = f32x4.pmax(largestVector, v128.load(from + at));
    let largest = max(
      max(f32x4.extract_lane(largestVector, 0), f32x4.extract_lane(largestVector, 1)),
      max(f32x4.extract_lane(largestVector, 2), f32x4.extract_lane(largestVector, 3)),
    );
    for (; at < bytes; at += 4) largest = max(largest, load<f32>(from + at));
    const targetAt = (<usize>load<i32>(targets + ((<usize>r) << 2))) << 2;
    // Read before dLogits (which may alias logits) is written.
    const targetLogit = <f64>(load<f32>(from + targetAt) - largest);
    loss -= targetLogit;
    const shift = f32x4.splat(largest);
    let sumVector = f32x4.splat(0);
    at = 0;
    for (; at < vectorBytes; at += 16) {
      const e = expVector(f32x4.sub(v128.load(from + at), shift));
      v128.store(to + at, e);
      sumVector = f32x4.add(sumVector, e);
    }
    let sum = <f64>horizontalSum(sumVector);
    for (; at < bytes; at += 4) {
      const e = f32x4.extract_lane(expVector(f32x4.splat(load<f32>(from + at) - largest)), 0);
      store<f32>(to + at, e);
      sum += <f64>e;
    }
    const logSum = logPositive(sum);
    // The total keeps its own order of additions (its value must not change with rowLosses).
    loss += logSum;
    if (rowLosses) store<f64>(rowLosses + ((<usize>r) << 3), logSum - targetLogit);
    const factor = <f32>(1 / sum) * scale;
    const factorVector = f32x4.splat(factor);
    at = 0;
    for (; at < vectorBytes; at += 16) v128.store(to + at, f32x4.mul(v128.load(to + at), factorVector));
    for (; at < bytes; at += 4) store<f32>(to + at, load<f32>(to + at) * factor);
    store<f32>(to + targetAt, load<f32>(to + targetAt) - scale);
  }
  return loss;
}
