/*
 * Every kernel of the contract (src/core/kernels.ts), written once over the vector layer of simd.h and
 * compiled once per instruction set (scripts/build-native.mjs); each build exports one KernelTable.
 * Pointers arrive as byte offsets from the memory's base, as the WebAssembly kernels take them; the
 * algorithms follow src/core/wasm/kernels.as.ts, whose comments say why they are shaped so.
 *
 * Determinism: each output element of a product is one multiply-add chain over the depth within each
 * block of KC, the blocks added to out in order, whichever micro-kernel or path computes it; elementwise
 * kernels compute each element alone (tails through a zero-padded vector, so in the same lanes' code).
 * So a row's result does not depend on how many rows a call has, and threads compute the same bits.
 */
#include <stddef.h>
#include <string.h>

#include "kernels.h"
#include "simd.h"

#define INLINE static inline __attribute__((always_inline))
#define AT(offset) ((float *)(base + (offset)))
#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* The first `count` (< W) floats at `from`, the other lanes 0 (a masked load where the ISA has one). */
INLINE vf loadPartial(const float *from, int count) {
#ifdef vloadFirst
  return vloadFirst(from, count);
#else
  float lanes[W] = {0};
  memcpy(lanes, from, (size_t)count * 4);
  return vload(lanes);
#endif
}

/* Stores the first `count` (< W) lanes of `value`, and nothing past them. */
INLINE void storePartial(float *to, vf value, int count) {
#ifdef vstoreFirst
  vstoreFirst(to, value, count);
#else
  float lanes[W];
  vstore(lanes, value);
  memcpy(to, lanes, (size_t)count * 4);
#endif
}

/* ------------------------------------------------------------------------------------------------
 * Matrix products: B packed in panels of NR = 2W columns (zero-padded past n), A read in place
 * through (aRow, aStep): A(i, p) = a[i·aRow + p·aStep]. Micro-kernels of up to MR rows × NR columns.
 */

enum { A_ROWS, A_COLS };
enum { B_ROWS, B_COLS };

#define NR (2 * W)
/* Rows of A per block (an MC × KC block of A stays in L2). */
#define MC 192
/* Columns of B per packed block: KC × NC floats = 512 KiB, in L2. A multiple of NR. */
#define NC ((512 * 1024) / (KC * 4))
#define PACKED_B_FLOATS (KC * NC)
#define TILE_FLOATS (MR * NR)
/* Up to this many columns, row-major B is read in place (its rows stream well; wider ones alias in L1). */
#define B_IN_PLACE_MAX_COLUMNS 256

static int32_t workspaceBytes(void) { return (PACKED_B_FLOATS + TILE_FLOATS) * 4; }

INLINE void storeSum(float *to, vf sum, int add) {
  if (add) sum = vload(to) + sum;
  vstore(to, sum);
}

/* out[rows, NR] (+)= A(rows) · B panel (kc rows of NR floats, bStep floats apart). */
INLINE void microKernel(int rows, float *out, size_t ldc, const float *a, size_t aRow, size_t aStep,
                        const float *b, size_t bStep, int kc, int add) {
  vf c0[MR], c1[MR];
#pragma GCC unroll 16
  for (int i = 0; i < rows; i++) c0[i] = c1[i] = vzero();
  for (int p = 0; p < kc; p++) {
    const vf b0 = vload(b);
    const vf b1 = vload(b + W);
#pragma GCC unroll 16
    for (int i = 0; i < rows; i++) {
      const vf x = vset1(a[i * aRow]);
      c0[i] = vmadd(x, b0, c0[i]);
      c1[i] = vmadd(x, b1, c1[i]);
    }
    a += aStep;
    b += bStep;
  }
#pragma GCC unroll 16
  for (int i = 0; i < rows; i++) {
    storeSum(out + i * ldc, c0[i], add);
    storeSum(out + i * ldc + W, c1[i], add);
  }
}

typedef void (*MicroKernel)(float *, size_t, const float *, size_t, size_t, const float *, size_t, int, int);

#define MICRO(R)                                                                                             \
  static void micro##R(float *out, size_t ldc, const float *a, size_t aRow, size_t aStep, const float *b,    \
                       size_t bStep, int kc, int add) {                                                      \
    microKernel(R, out, ldc, a, aRow, aStep, b, bStep, kc, add);                                             \
  }
MICRO(1)
MICRO(2)
MICRO(3)
MICRO(4)
#if MR > 4
MICRO(5)
MICRO(6)
#endif
#if MR > 6
MICRO(7)
MICRO(8)
#endif
#if MR > 8
MICRO(9)
MICRO(10)
MICRO(11)
MICRO(12)
#endif

/* The micro-kernel for each row count up to MR, each with its accumulators in registers. */
static const MicroKernel MICRO_KERNELS[MR + 1] = {
    NULL, micro1, micro2, micro3, micro4,
#if MR > 4
    micro5, micro6,
#endif
#if MR > 6
    micro7, micro8,
#endif
#if MR > 8
    micro9, micro10, micro11, micro12,
#endif
};

/* Packs B(pc .. pc+kc, jc .. jc+nc) into panels of NR columns × kc rows, zero-padding the last one. */
static void packB(float *to, const float *b, int layout, int n, int k, int pc, int kc, int jc, int nc) {
  for (int q = 0; q < nc; q += NR, to += (size_t)kc * NR) {
    const int cols = MIN(NR, nc - q);
    if (layout == B_ROWS) {
      const float *from = b + (size_t)pc * n + jc + q;
      for (int p = 0; p < kc; p++, from += n) {
        float *row = to + (size_t)p * NR;
        if (cols == NR) {
          vstore(row, vload(from));
          vstore(row + W, vload(from + W));
        } else {
          memset(row, 0, NR * 4);
          memcpy(row, from, (size_t)cols * 4);
        }
      }
    } else {
      // Column j of B is row j of b: read each row of b along the depth.
      if (cols < NR) memset(to, 0, (size_t)kc * NR * 4);
      for (int c = 0; c < cols; c++) {
        const float *from = b + (size_t)(jc + q + c) * k + pc;
        for (int p = 0; p < kc; p++) to[(size_t)p * NR + c] = from[p];
      }
    }
  }
}

/* Adds (or copies) the first `cols` columns of `rows` rows of an NR-wide tile into out. */
static void mergeTile(float *out, size_t ldc, const float *tile, int rows, int cols, int add) {
  for (int r = 0; r < rows; r++, out += ldc, tile += NR) {
    for (int c = 0; c < cols; c++) out[c] = add ? out[c] + tile[c] : tile[c];
  }
}

/* out[mc, panels·NR] (+)= A(mc rows) · `panels` full panels of B, `panelStride` floats apart. */
static void fullPanels(float *out, size_t ldc, const float *a, size_t aRow, size_t aStep, int mc,
                       const float *b, size_t panelStride, size_t bStep, int panels, int kc, int add) {
  for (int q = 0; q < panels; q++, b += panelStride, out += NR) {
    // One B panel stays in L1 while the rows of A stream past it.
    for (int i = 0; i < mc; i += MR) {
      const int rows = MIN(MR, mc - i);
      MICRO_KERNELS[rows](out + i * ldc, ldc, a + i * aRow, aRow, aStep, b, bStep, kc, add);
    }
  }
}

/* out[mc, cols] (+)= A(mc rows) · one zero-padded packed panel, through the tile. */
static void partialPanel(float *out, size_t ldc, const float *a, size_t aRow, size_t aStep, int mc,
                         const float *panel, int cols, int kc, int add, float *tile) {
  for (int i = 0; i < mc; i += MR) {
    const int rows = MIN(MR, mc - i);
    MICRO_KERNELS[rows](tile, NR, a + i * aRow, aRow, aStep, panel, NR, kc, 0);
    mergeTile(out + i * ldc, ldc, tile, rows, cols, add);
  }
}

/* out[n] (+)= Σp sums: from `sums` into out, or copied for the first depth block. */
static void addInto(float *out, const float *from, int count) {
  int j = 0;
  for (; j + W <= count; j += W) vstore(out + j, vload(out + j) + vload(from + j));
  if (j < count) storePartial(out + j, loadPartial(out + j, count - j) + loadPartial(from + j, count - j), count - j);
}

/*
 * out[1, vectors·W] (+)= A(1 row) · B read in place (rows n floats apart), the last vector holding
 * `lastLanes` columns: one accumulator per vector, all in registers, so up to 8 chains hide the
 * multiply-add latency while B streams past (the bound of a one-row product is reading B).
 */
INLINE void rowKernel(int vectors, float *out, const float *a, size_t aStep, const float *b, size_t n, int kc,
                      int lastLanes, int add) {
  vf c[8];
#pragma GCC unroll 8
  for (int v = 0; v < vectors; v++) c[v] = vzero();
  for (int p = 0; p < kc; p++, a += aStep, b += n) {
    const vf x = vset1(a[0]);
#pragma GCC unroll 8
    for (int v = 0; v < vectors - 1; v++) c[v] = vmadd(x, vload(b + v * W), c[v]);
    const float *last = b + (vectors - 1) * W;
    c[vectors - 1] = vmadd(x, lastLanes == W ? vload(last) : loadPartial(last, lastLanes), c[vectors - 1]);
  }
#pragma GCC unroll 8
  for (int v = 0; v < vectors - 1; v++) storeSum(out + v * W, c[v], add);
  float *last = out + (vectors - 1) * W;
  if (lastLanes == W) storeSum(last, c[vectors - 1], add);
  else {
    vf sum = c[vectors - 1];
    if (add) sum = loadPartial(last, lastLanes) + sum;
    storePartial(last, sum, lastLanes);
  }
}

typedef void (*RowKernel)(float *, const float *, size_t, const float *, size_t, int, int, int);

#define ROW(V)                                                                                               \
  static void row##V(float *out, const float *a, size_t aStep, const float *b, size_t n, int kc, int lastLanes, \
                     int add) {                                                                              \
    rowKernel(V, out, a, aStep, b, n, kc, lastLanes, add);                                                   \
  }
ROW(1)
ROW(2)
ROW(3)
ROW(4)
ROW(5)
ROW(6)
ROW(7)
ROW(8)

static const RowKernel ROW_KERNELS[9] = {NULL, row1, row2, row3, row4, row5, row6, row7, row8};

/* out[1,n] (+)= A(1 row)·B with row-major B read in place, 8 vectors of columns at a time. */
static void singleRow(float *out, const float *a, size_t aStep, const float *b, int n, int k, int accumulate) {
  for (int pc = 0; pc < k; pc += KC) {
    const int kc = MIN(KC, k - pc);
    const int add = accumulate || pc > 0;
    const float *aBlock = a + pc * aStep;
    const float *bBlock = b + (size_t)pc * n;
    for (int j = 0; j < n; j += 8 * W) {
      const int columns = MIN(8 * W, n - j);
      const int vectors = (columns + W - 1) / W;
      ROW_KERNELS[vectors](out + j, aBlock, aStep, bBlock + j, (size_t)n, kc, columns - (vectors - 1) * W, add);
    }
  }
}

/* out[m,n] (+)= A·B, A and B each read through their layout. */
static void gemm(float *out, const float *a, int aLayout, const float *b, int bLayout, int m, int n, int k,
                 int accumulate, float *work) {
  const size_t aRow = aLayout == A_ROWS ? (size_t)k : 1;
  const size_t aStep = aLayout == A_ROWS ? 1 : (size_t)m;
  if (m == 1 && bLayout == B_ROWS) {
    singleRow(out, a, aStep, b, n, k, accumulate);
    return;
  }
  float *packed = work;
  float *tile = work + PACKED_B_FLOATS;
  const size_t ldc = (size_t)n;
  // Packing B costs as much as a product of few rows, and narrow B streams well in place.
  const int inPlace = bLayout == B_ROWS && ((n <= B_IN_PLACE_MAX_COLUMNS && m <= MC) || m < 4);
  for (int pc = 0; pc < k; pc += KC) {
    const int kc = MIN(KC, k - pc);
    const int add = accumulate || pc > 0;
    const float *aBlock = a + pc * aStep;
    for (int jc = 0; jc < n; jc += NC) {
      const int nc = MIN(NC, n - jc);
      const int panels = nc / NR;
      const int cols = nc - panels * NR;
      const float *panelsAt;
      size_t panelStride, bStep;
      if (inPlace) {
        panelsAt = b + (size_t)pc * n + jc;
        panelStride = NR;
        bStep = (size_t)n;
        if (cols) packB(packed, b, bLayout, n, k, pc, kc, jc + panels * NR, cols);
      } else {
        packB(packed, b, bLayout, n, k, pc, kc, jc, nc);
        panelsAt = packed;
        panelStride = (size_t)kc * NR;
        bStep = NR;
      }
      const float *partial = inPlace ? packed : packed + (size_t)panels * kc * NR;
      for (int ic = 0; ic < m; ic += MC) {
        const int mc = MIN(MC, m - ic);
        float *outBlock = out + ic * ldc + jc;
        const float *aRows = aBlock + ic * aRow;
        fullPanels(outBlock, ldc, aRows, aRow, aStep, mc, panelsAt, panelStride, bStep, panels, kc, add);
        if (cols) partialPanel(outBlock + panels * NR, ldc, aRows, aRow, aStep, mc, partial, cols, kc, add, tile);
      }
    }
  }
}

/* The degenerate sizes; returns 1 when nothing is left to compute. */
static int trivialProduct(float *out, int m, int n, int k, int accumulate) {
  if (m <= 0 || n <= 0) return 1;
  if (k <= 0) {
    if (!accumulate) memset(out, 0, (size_t)m * n * 4);
    return 1;
  }
  return 0;
}

static void matmulAB(Base base, Offset out, Offset a, Offset b, int32_t m, int32_t n, int32_t k, int32_t accumulate,
                     Offset work) {
  if (trivialProduct(AT(out), m, n, k, accumulate)) return;
  gemm(AT(out), AT(a), A_ROWS, AT(b), B_ROWS, m, n, k, accumulate, AT(work));
}

static void matmulAtB(Base base, Offset out, Offset a, Offset b, int32_t m, int32_t n, int32_t k, int32_t accumulate,
                      Offset work) {
  if (trivialProduct(AT(out), m, n, k, accumulate)) return;
  gemm(AT(out), AT(a), A_COLS, AT(b), B_ROWS, m, n, k, accumulate, AT(work));
}

static void matmulABt(Base base, Offset out, Offset a, Offset b, int32_t m, int32_t n, int32_t k, int32_t accumulate,
                      Offset work) {
  if (trivialProduct(AT(out), m, n, k, accumulate)) return;
  gemm(AT(out), AT(a), A_ROWS, AT(b), B_COLS, m, n, k, accumulate, AT(work));
}

/* ------------------------------------------------------------------------------------------------
 * Gathered rows. A row table is an i32 array: the batch's stream count, then per stream the byte offset
 * of its row at step 0 and the bytes from one step's row to the next; row p is stream p mod streams at
 * step p / streams.
 */

INLINE const float *streamRow(Base base, const int32_t *table, int stream, int step) {
  return AT((size_t)(uint32_t)table[1 + 2 * stream] + (size_t)step * (uint32_t)table[2 + 2 * stream]);
}

/* Walks the rows of a table in order from row `from`. */
typedef struct RowCursor {
  const int32_t *table;
  int streams, stream, step;
} RowCursor;

INLINE RowCursor rowCursor(const int32_t *table, int from) {
  const int streams = table[0];
  return (RowCursor){table, streams, from % streams, from / streams};
}

INLINE void advance(RowCursor *cursor) {
  if (++cursor->stream == cursor->streams) {
    cursor->stream = 0;
    cursor->step++;
  }
}

static int32_t rowsScratchBytes(int32_t m, int32_t n) { return KC * (MIN(m, MC) + n) * 4; }

/*
 * Each depth block of KC rows is gathered into scratch ([kc, n] of B, then [kc, mc] of A for each MC rows
 * of out) and multiplied as matmulAtB would: row-stable products, so any slice from `first` equals the
 * same rows of the whole.
 */
static void matmulAtBRows(Base base, Offset out, Offset aRows, int32_t first, Offset bRows, int32_t count,
                          int32_t m, int32_t n, int32_t accumulate, Offset work, Offset scratch) {
  if (trivialProduct(AT(out), m, n, count, accumulate)) return;
  const int32_t *aTable = (const int32_t *)(base + aRows);
  const int32_t *bTable = (const int32_t *)(base + bRows);
  float *gatheredB = AT(scratch);
  float *gatheredA = gatheredB + (size_t)KC * n;
  for (int pc = 0; pc < count; pc += KC) {
    const int kc = MIN(KC, count - pc);
    RowCursor rows = rowCursor(bTable, pc);
    for (int p = 0; p < kc; p++, advance(&rows)) {
      memcpy(gatheredB + (size_t)p * n, streamRow(base, bTable, rows.stream, rows.step), (size_t)n * 4);
    }
    const int add = accumulate || pc > 0;
    for (int ic = 0; ic < m; ic += MC) {
      const int mc = MIN(MC, m - ic);
      rows = rowCursor(aTable, pc);
      for (int p = 0; p < kc; p++, advance(&rows)) {
        const float *from = streamRow(base, aTable, rows.stream, rows.step) + first + ic;
        memcpy(gatheredA + (size_t)p * mc, from, (size_t)mc * 4);
      }
      gemm(AT(out) + (size_t)ic * n, gatheredA, A_COLS, gatheredB, B_ROWS, mc, n, kc, add, AT(work));
    }
  }
}

static void sumRowsOf(Base base, Offset out, Offset rows, int32_t first, int32_t width, int32_t count,
                      int32_t accumulate) {
  float *to = AT(out);
  const int32_t *table = (const int32_t *)(base + rows);
  if (!accumulate) memset(to, 0, (size_t)width * 4);
  RowCursor cursor = rowCursor(table, 0);
  for (int p = 0; p < count; p++, advance(&cursor)) {
    addInto(to, streamRow(base, table, cursor.stream, cursor.step) + first, width);
  }
}

static void transposeFloats(float *out, const float *a, int rows, int cols) {
  // 8 × 8 tiles: each read and written line is used eight times while in L1.
  for (int r0 = 0; r0 < rows; r0 += 8) {
    const int r1 = MIN(r0 + 8, rows);
    for (int c0 = 0; c0 < cols; c0 += 8) {
      const int c1 = MIN(c0 + 8, cols);
      for (int r = r0; r < r1; r++) {
        for (int c = c0; c < c1; c++) out[(size_t)c * rows + r] = a[(size_t)r * cols + c];
      }
    }
  }
}

static void transpose(Base base, Offset out, Offset a, int32_t rows, int32_t cols) {
  transposeFloats(AT(out), AT(a), rows, cols);
}

/*
 * gradWeight[g, ids[p]] += dRows_p[first + g], rows in order. With many rows the weight is transposed
 * into scratch, the rows added there contiguously, and transposed back: the same f32 additions in the
 * same order per element as the reference.
 */
static void scatterColumnsAddRows(Base base, Offset gradWeight, Offset dRows, int32_t first, Offset ids,
                                  int32_t width, int32_t columns, int32_t count, Offset scratch) {
  float *weight = AT(gradWeight);
  const int32_t *table = (const int32_t *)(base + dRows);
  const int32_t *column = (const int32_t *)(base + ids);
  RowCursor cursor = rowCursor(table, 0);
  if (count * 4 < columns) {
    for (int p = 0; p < count; p++, advance(&cursor)) {
      const float *from = streamRow(base, table, cursor.stream, cursor.step) + first;
      for (int g = 0; g < width; g++) weight[(size_t)g * columns + column[p]] += from[g];
    }
    return;
  }
  float *transposed = AT(scratch);
  transposeFloats(transposed, weight, width, columns);
  for (int p = 0; p < count; p++, advance(&cursor)) {
    addInto(transposed + (size_t)column[p] * width, streamRow(base, table, cursor.stream, cursor.step) + first,
            width);
  }
  transposeFloats(weight, transposed, columns, width);
}

/* ------------------------------------------------------------------------------------------------
 * Small kernels: bias broadcast and sum, one-hot projection and its gradient.
 */

static void broadcastRows(Base base, Offset out, Offset bias, int32_t rows, int32_t width) {
  float *to = AT(out);
  for (int r = 0; r < rows; r++, to += width) memcpy(to, AT(bias), (size_t)width * 4);
}

/* Each column summed in row order in f32, as the reference; 4 vectors of columns at a time. */
static void sumRows(Base base, Offset out, Offset a, int32_t rows, int32_t width, int32_t accumulate) {
  float *to = AT(out);
  const float *from = AT(a);
  int j = 0;
  for (; j + 4 * W <= width; j += 4 * W) {
    vf s0 = accumulate ? vload(to + j) : vzero(), s1 = accumulate ? vload(to + j + W) : vzero();
    vf s2 = accumulate ? vload(to + j + 2 * W) : vzero(), s3 = accumulate ? vload(to + j + 3 * W) : vzero();
    const float *row = from + j;
    for (int r = 0; r < rows; r++, row += width) {
      s0 = s0 + vload(row);
      s1 = s1 + vload(row + W);
      s2 = s2 + vload(row + 2 * W);
      s3 = s3 + vload(row + 3 * W);
    }
    vstore(to + j, s0);
    vstore(to + j + W, s1);
    vstore(to + j + 2 * W, s2);
    vstore(to + j + 3 * W, s3);
  }
  for (; j < width; j += W) {
    const int lanes = MIN(W, width - j);
    vf s = accumulate ? loadPartial(to + j, lanes) : vzero();
    const float *row = from + j;
    for (int r = 0; r < rows; r++, row += width) s = s + loadPartial(row, lanes);
    storePartial(to + j, s, lanes);
  }
}

/* out[r,:] += table[ids[r], :]: an embedding lookup, one add per element. */
static void gatherRowsAdd(Base base, Offset out, Offset table, Offset ids, int32_t rows, int32_t width) {
  float *to = AT(out);
  const float *from = AT(table);
  const int32_t *row = (const int32_t *)(base + ids);
  for (int r = 0; r < rows; r++, to += width) addInto(to, from + (size_t)row[r] * width, width);
}

/* out[r,:] += weight[:, ids[r]]: gathered down a column for few rows, else from a transposed copy. */
static void gatherColumnsAdd(Base base, Offset out, Offset weight, Offset ids, int32_t rows, int32_t width,
                             int32_t columns, Offset scratch) {
  float *to = AT(out);
  const float *from = AT(weight);
  const int32_t *column = (const int32_t *)(base + ids);
  if (rows * 4 < columns) {
    for (int r = 0; r < rows; r++, to += width) {
      for (int g = 0; g < width; g++) to[g] += from[(size_t)g * columns + column[r]];
    }
    return;
  }
  transposeFloats(AT(scratch), from, width, columns);
  gatherRowsAdd(base, out, scratch, ids, rows, width);
}

/* gradWeight[:, ids[r]] += dOut[r,:] in row order (through a transposed copy when the rows are many). */
static void scatterColumnsAdd(Base base, Offset gradWeight, Offset dOut, Offset ids, int32_t rows, int32_t width,
                              int32_t columns, Offset scratch) {
  float *weight = AT(gradWeight);
  const float *from = AT(dOut);
  const int32_t *column = (const int32_t *)(base + ids);
  if (rows * 4 < columns) {
    for (int r = 0; r < rows; r++, from += width) {
      for (int g = 0; g < width; g++) weight[(size_t)g * columns + column[r]] += from[g];
    }
    return;
  }
  float *transposed = AT(scratch);
  transposeFloats(transposed, weight, width, columns);
  for (int r = 0; r < rows; r++, from += width) addInto(transposed + (size_t)column[r] * width, from, width);
  transposeFloats(weight, transposed, columns, width);
}

/* ------------------------------------------------------------------------------------------------
 * Vectorized exp, sigmoid and tanh (Cephes expf: range reduction by ln 2, degree-5 polynomial, about
 * 1 ulp), as in kernels.as.ts, and the fused gates built on them.
 */

#define EXP_LOW (-87.3f)
#define EXP_HIGH 88.3f
#define ROUNDER 12582912.0f /* 1.5·2²³: adding it rounds to an integer held in the low mantissa bits */
#define EXPONENT_OFFSET 0x4b3fff81 /* ROUNDER's bits minus the exponent bias 127 */
#define SIGN_BIT ((int32_t)0x80000000)

/* x·log2 e + ROUNDER: n sits in the low mantissa bits, and (this − ROUNDER) is n as a float. */
INLINE vf expShifted(vf x) { return vmadd(x, vset1(1.44269504088896341f), vset1(ROUNDER)); }

/* 2^n from expShifted: n moved into the exponent field. */
INLINE vf expScale(vf shifted) { return asFloat((asInt(shifted) - EXPONENT_OFFSET) << 23); }

/* e^r − 1 for the reduced r = x − n·ln 2. */
INLINE vf expm1Reduced(vf x, vf shifted) {
  const vf n = shifted - vset1(ROUNDER);
  vf r = vmadd(n, vset1(-0.693359375f), x);
  r = vmadd(n, vset1(2.1219444e-4f), r);
  vf y = vmadd(vset1(1.98756915e-4f), r, vset1(1.3981999507e-3f));
  y = vmadd(y, r, vset1(8.3334519073e-3f));
  y = vmadd(y, r, vset1(4.1665795894e-2f));
  y = vmadd(y, r, vset1(1.6666665459e-1f));
  y = vmadd(y, r, vset1(5.0000001201e-1f));
  return vmadd(y * r, r, r);
}

/* e^x, x clamped to where the result is a finite normal float (the clamps let a NaN through). */
INLINE vf expV(vf x) {
  x = vmin(vset1(EXP_HIGH), vmax(vset1(EXP_LOW), x));
  const vf shifted = expShifted(x);
  return (expm1Reduced(x, shifted) + vset1(1.0f)) * expScale(shifted);
}

INLINE vf sigmoidV(vf x) {
  const vf e = expV(x);
  return e / (e + vset1(1.0f));
}

/* tanh(x) = −expm1(−2|x|) / (2 + expm1(−2|x|)) with the sign of x: no cancellation near 0. */
INLINE vf tanhV(vf x) {
  const vf y = vmax(vset1(EXP_LOW), asFloat(asInt(x) | SIGN_BIT) * vset1(2.0f));
  const vf shifted = expShifted(y);
  const vf scale = expScale(shifted);
  const vf em = vmadd(scale, expm1Reduced(y, shifted), scale - vset1(1.0f));
  // Clearing the sign: em/(em + 2) ≤ 0, but at x = 0 it may be +0 and tanh(+0) must stay +0.
  const vf magnitude = asFloat(asInt(em / (em + vset1(2.0f))) & ~SIGN_BIT);
  return asFloat(asInt(magnitude) | (asInt(x) & SIGN_BIT));
}

/* x = sigmoid(x) in place over n floats. */
static void sigmoidBlock(float *x, int n) {
  int at = 0;
  for (; at + W <= n; at += W) vstore(x + at, sigmoidV(vload(x + at)));
  if (at < n) storePartial(x + at, sigmoidV(loadPartial(x + at, n - at)), n - at);
}

/* x = sigmoid(x + y) in place over n floats. */
static void sigmoidSumBlock(float *x, const float *y, int n) {
  int at = 0;
  for (; at + W <= n; at += W) vstore(x + at, sigmoidV(vload(x + at) + vload(y + at)));
  if (at < n) storePartial(x + at, sigmoidV(loadPartial(x + at, n - at) + loadPartial(y + at, n - at)), n - at);
}

/* out = tanh(x) over n floats (out may be x). */
static void tanhBlock(float *out, const float *x, int n) {
  int at = 0;
  for (; at + W <= n; at += W) vstore(out + at, tanhV(vload(x + at)));
  if (at < n) storePartial(out + at, tanhV(loadPartial(x + at, n - at)), n - at);
}

static void tanhForward(Base base, Offset h, Offset pre, int32_t n) { tanhBlock(AT(h), AT(pre), n); }

/* A loop over `hidden` values in vectors, the last one partial: `lanes` of `W` are valid. */
#define EACH_VECTOR(at, lanes, hidden) \
  for (int at = 0, lanes = MIN(W, hidden); at < (hidden); at += W, lanes = MIN(W, (hidden) - at))

INLINE vf loadN(const float *from, int lanes) { return lanes == W ? vload(from) : loadPartial(from, lanes); }

INLINE void storeN(float *to, vf value, int lanes) {
  if (lanes == W) vstore(to, value);
  else storePartial(to, value, lanes);
}

/* Implements tanhBackwardReference (src/core/layers/rnn.ts): dPre = dh · (1 − h²). */
static void tanhBackward(Base base, Offset dPre, Offset dh, Offset h, int32_t n) {
  float *to = AT(dPre);
  const float *grad = AT(dh), *value = AT(h);
  EACH_VECTOR(at, lanes, n) {
    const vf v = loadN(value + at, lanes);
    storeN(to + at, loadN(grad + at, lanes) * (vset1(1.0f) - v * v), lanes);
  }
}

/* Implements lstmForwardReference (src/core/layers/lstm.ts). */
static void lstmForward(Base base, Offset gates, Offset cPrev, Offset c, Offset cTanh, Offset h, int32_t batch,
                        int32_t hidden) {
  for (int b = 0; b < batch; b++) {
    float *row = AT(gates) + (size_t)b * 4 * hidden;
    const size_t state = (size_t)b * hidden;
    // One activation at a time over contiguous blocks: all five in one loop body spill registers.
    sigmoidBlock(row, 2 * hidden); // i and f
    tanhBlock(row + 2 * hidden, row + 2 * hidden, hidden); // g
    sigmoidBlock(row + 3 * hidden, hidden); // o
    float *cell = AT(c) + state, *cellTanh = AT(cTanh) + state, *out = AT(h) + state;
    const float *previous = AT(cPrev) + state;
    EACH_VECTOR(at, lanes, hidden) {
      const vf i = loadN(row + at, lanes), f = loadN(row + hidden + at, lanes);
      const vf g = loadN(row + 2 * hidden + at, lanes), o = loadN(row + 3 * hidden + at, lanes);
      const vf value = vmadd(f, loadN(previous + at, lanes), i * g);
      const vf t = tanhV(value);
      storeN(cell + at, value, lanes);
      storeN(cellTanh + at, t, lanes);
      storeN(out + at, o * t, lanes);
    }
  }
}

/* Implements lstmBackwardReference (src/core/layers/lstm.ts), whose comments derive each line. */
static void lstmBackward(Base base, Offset gates, Offset cPrev, Offset cTanh, Offset dh, Offset dc, Offset dGates,
                         int32_t batch, int32_t hidden) {
  const vf one = vset1(1.0f);
  for (int b = 0; b < batch; b++) {
    const float *row = AT(gates) + (size_t)b * 4 * hidden;
    float *dRow = AT(dGates) + (size_t)b * 4 * hidden;
    const size_t state = (size_t)b * hidden;
    const float *previous = AT(cPrev) + state, *cellTanh = AT(cTanh) + state, *gradH = AT(dh) + state;
    float *gradC = AT(dc) + state;
    EACH_VECTOR(at, lanes, hidden) {
      const vf i = loadN(row + at, lanes), f = loadN(row + hidden + at, lanes);
      const vf g = loadN(row + 2 * hidden + at, lanes), o = loadN(row + 3 * hidden + at, lanes);
      const vf t = loadN(cellTanh + at, lanes), dH = loadN(gradH + at, lanes);
      const vf dcTotal = loadN(gradC + at, lanes) + (dH * o) * (one - t * t);
      storeN(dRow + at, (dcTotal * g) * (i * (one - i)), lanes);
      storeN(dRow + hidden + at, (dcTotal * loadN(previous + at, lanes)) * (f * (one - f)), lanes);
      storeN(dRow + 2 * hidden + at, (dcTotal * i) * (one - g * g), lanes);
      storeN(dRow + 3 * hidden + at, (dH * t) * (o * (one - o)), lanes);
      storeN(gradC + at, dcTotal * f, lanes);
    }
  }
}

/* Implements gruForwardReference (src/core/layers/gru.ts). */
static void gruForward(Base base, Offset xGates, Offset hGates, Offset hPrev, Offset h, int32_t batch,
                       int32_t hidden) {
  const vf one = vset1(1.0f);
  for (int b = 0; b < batch; b++) {
    float *x = AT(xGates) + (size_t)b * 3 * hidden;
    const float *hg = AT(hGates) + (size_t)b * 3 * hidden;
    const size_t state = (size_t)b * hidden;
    const float *previous = AT(hPrev) + state;
    float *out = AT(h) + state;
    sigmoidSumBlock(x, hg, 2 * hidden); // r and z
    EACH_VECTOR(at, lanes, hidden) {
      const vf r = loadN(x + at, lanes), z = loadN(x + hidden + at, lanes);
      const vf n = tanhV(vmadd(r, loadN(hg + 2 * hidden + at, lanes), loadN(x + 2 * hidden + at, lanes)));
      storeN(x + 2 * hidden + at, n, lanes);
      // h = (1 − z)·n + z·hPrev
      storeN(out + at, (one - z) * n + z * loadN(previous + at, lanes), lanes);
    }
  }
}

/* Implements gruBackwardReference (src/core/layers/gru.ts), whose comments derive each line. */
static void gruBackward(Base base, Offset gates, Offset hGates, Offset hPrev, Offset dh, Offset dxGates,
                        Offset dhGates, Offset dhPrev, int32_t batch, int32_t hidden) {
  const vf one = vset1(1.0f);
  for (int b = 0; b < batch; b++) {
    const size_t row = (size_t)b * 3 * hidden, state = (size_t)b * hidden;
    const float *gate = AT(gates) + row, *hg = AT(hGates) + row;
    float *dx = AT(dxGates) + row, *dhg = AT(dhGates) + row, *dPrevious = AT(dhPrev) + state;
    const float *previous = AT(hPrev) + state, *grads = AT(dh) + state;
    EACH_VECTOR(at, lanes, hidden) {
      const vf r = loadN(gate + at, lanes), z = loadN(gate + hidden + at, lanes);
      const vf n = loadN(gate + 2 * hidden + at, lanes), grad = loadN(grads + at, lanes);
      const vf dnPre = (grad * (one - z)) * (one - n * n);
      const vf dzPre = (grad * (loadN(previous + at, lanes) - n)) * (z * (one - z));
      const vf drPre = (dnPre * loadN(hg + 2 * hidden + at, lanes)) * (r * (one - r));
      storeN(dx + at, drPre, lanes);
      storeN(dx + hidden + at, dzPre, lanes);
      storeN(dx + 2 * hidden + at, dnPre, lanes);
      storeN(dhg + at, drPre, lanes);
      storeN(dhg + hidden + at, dzPre, lanes);
      storeN(dhg + 2 * hidden + at, dnPre * r, lanes);
      storeN(dPrevious + at, loadN(dPrevious + at, lanes) + grad * z, lanes);
    }
  }
}

/* ------------------------------------------------------------------------------------------------
 * Softmax cross-entropy.
 */

/*
 * Natural log of a positive normal double: x = 2^e·m with m in [√½, √2), log m = 2·atanh(s) for
 * s = (m − 1)/(m + 1), by its series to s¹⁹ (error below 1e-16); no libm, the same bits everywhere.
 */
static double logPositive(double x) {
  uint64_t bits;
  memcpy(&bits, &x, 8);
  int exponent = (int)((bits >> 52) & 0x7ff) - 1023;
  const uint64_t mantissaBits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
  double m;
  memcpy(&m, &mantissaBits, 8);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    exponent++;
  }
  const double s = (m - 1) / (m + 1);
  const double s2 = s * s;
  double series = 1.0 / 19;
  for (int odd = 17; odd >= 3; odd -= 2) series = series * s2 + 1.0 / odd;
  return exponent * 0.6931471805599453 + 2 * s * (1 + s2 * series);
}

/*
 * Returns the summed loss; dLogits = (softmax − onehot)·scale, which may alias logits; each row's loss
 * goes to rowLosses (f64) unless it is 0. Implements softmaxCrossEntropy of src/core/kernels-js.ts.
 */
static double softmaxCrossEntropy(Base base, Offset logits, Offset targets, Offset dLogits, int32_t rows,
                                  int32_t vocab, float scale, Offset rowLosses) {
  const int32_t *target = (const int32_t *)(base + targets);
  double loss = 0;
  for (int r = 0; r < rows; r++) {
    const float *from = AT(logits) + (size_t)r * vocab;
    float *to = AT(dLogits) + (size_t)r * vocab;
    vf largestVector = vset1(-__builtin_inff());
    EACH_VECTOR(at, lanes, vocab) {
      const vf value = lanes == W ? vload(from + at) : loadPartial(from + at, lanes);
      // Padding lanes must not raise the maximum: they take the first value instead.
      largestVector = vmax(lanes == W ? value : vmax(value, vset1(from[0])), largestVector);
    }
    float lanesOf[W];
    vstore(lanesOf, largestVector);
    float largest = lanesOf[0];
    for (int l = 1; l < W; l++) largest = lanesOf[l] > largest ? lanesOf[l] : largest;
    // Read before dLogits (which may alias logits) is written.
    const double targetLogit = (double)(from[target[r]] - largest);
    loss -= targetLogit;
    const vf shift = vset1(largest);
    vf sumVector = vzero();
    EACH_VECTOR(at, lanes, vocab) {
      const vf e = expV(loadN(from + at, lanes) - shift);
      storeN(to + at, e, lanes);
      sumVector = sumVector + (vf)(lanes == W ? e : loadPartial(to + at, lanes));
    }
    vstore(lanesOf, sumVector);
    double sum = 0;
    for (int l = 0; l < W; l++) sum += lanesOf[l];
    const double logSum = logPositive(sum);
    // The total keeps its own order of additions (its value must not change with rowLosses).
    loss += logSum;
    if (rowLosses) ((double *)(base + rowLosses))[r] = logSum - targetLogit;
    const float factor = (float)(1 / sum) * scale;
    for (int at = 0; at < vocab; at++) to[at] *= factor;
    to[target[r]] -= scale;
  }
  return loss;
}

const KernelTable ISA_TABLE = {
#if defined(CHARRNN_ISA_AVX512)
    .isa = "avx512",
#elif defined(CHARRNN_ISA_AVX2)
    .isa = "avx2",
#elif defined(__aarch64__)
    .isa = "neon",
#else
    .isa = "baseline",
#endif
    .workspaceBytes = workspaceBytes,
    .rowsScratchBytes = rowsScratchBytes,
    .matmulAB = matmulAB,
    .matmulAtB = matmulAtB,
    .matmulABt = matmulABt,
    .matmulAtBRows = matmulAtBRows,
    .sumRowsOf = sumRowsOf,
    .scatterColumnsAddRows = scatterColumnsAddRows,
    .transpose = transpose,
    .broadcastRows = broadcastRows,
    .sumRows = sumRows,
    .gatherColumnsAdd = gatherColumnsAdd,
    .gatherRowsAdd = gatherRowsAdd,
    .scatterColumnsAdd = scatterColumnsAdd,
    .tanhForward = tanhForward,
    .tanhBackward = tanhBackward,
    .lstmForward = lstmForward,
    .lstmBackward = lstmBackward,
    .gruForward = gruForward,
    .gruBackward = gruBackward,
    .softmaxCrossEntropy = softmaxCrossEntropy,
};
