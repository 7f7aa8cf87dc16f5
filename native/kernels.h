/*
 * The kernel table each instruction-set build of kernels.c fills, and addon.c dispatches through.
 * Every pointer argument is a byte offset into one memory (the shared WebAssembly.Memory of the JS
 * side) starting at `base`; signatures and semantics are those of the WebAssembly exports
 * (src/core/wasm/kernels.as.ts), documented in src/core/kernels.ts.
 */
#ifndef CHARRNN_KERNELS_H
#define CHARRNN_KERNELS_H

#include <stdint.h>

typedef uint8_t *Base;
typedef uint32_t Offset;

typedef struct KernelTable {
  const char *isa;
  int32_t (*workspaceBytes)(void);
  int32_t (*rowsScratchBytes)(int32_t m, int32_t n);
  void (*matmulAB)(Base, Offset out, Offset a, Offset b, int32_t m, int32_t n, int32_t k, int32_t accumulate,
                   Offset work);
  void (*matmulAtB)(Base, Offset out, Offset a, Offset b, int32_t m, int32_t n, int32_t k, int32_t accumulate,
                    Offset work);
  void (*matmulABt)(Base, Offset out, Offset a, Offset b, int32_t m, int32_t n, int32_t k, int32_t accumulate,
                    Offset work);
  void (*matmulAtBRows)(Base, Offset out, Offset aRows, int32_t first, Offset bRows, int32_t count, int32_t m,
                        int32_t n, int32_t accumulate, Offset work, Offset scratch);
  void (*sumRowsOf)(Base, Offset out, Offset rows, int32_t first, int32_t width, int32_t count, int32_t accumulate);
  void (*scatterColumnsAddRows)(Base, Offset gradWeight, Offset dRows, int32_t first, Offset ids, int32_t width,
                                int32_t columns, int32_t count, Offset scratch);
  void (*transpose)(Base, Offset out, Offset a, int32_t rows, int32_t cols);
  void (*broadcastRows)(Base, Offset out, Offset bias, int32_t rows, int32_t width);
  void (*sumRows)(Base, Offset out, Offset a, int32_t rows, int32_t width, int32_t accumulate);
  void (*gatherColumnsAdd)(Base, Offset out, Offset weight, Offset ids, int32_t rows, int32_t width,
                           int32_t columns, Offset scratch);
  void (*gatherRowsAdd)(Base, Offset out, Offset table, Offset ids, int32_t rows, int32_t width);
  void (*scatterColumnsAdd)(Base, Offset gradWeight, Offset dOut, Offset ids, int32_t rows, int32_t width,
                            int32_t columns, Offset scratch);
  void (*tanhForward)(Base, Offset h, Offset pre, int32_t n);
  void (*tanhBackward)(Base, Offset dPre, Offset dh, Offset h, int32_t n);
  void (*lstmForward)(Base, Offset gates, Offset cPrev, Offset c, Offset cTanh, Offset h, int32_t batch,
                      int32_t hidden);
  void (*lstmBackward)(Base, Offset gates, Offset cPrev, Offset cTanh, Offset dh, Offset dc, Offset dGates,
                       int32_t batch, int32_t hidden);
  void (*gruForward)(Base, Offset xGates, Offset hGates, Offset hPrev, Offset h, int32_t batch, int32_t hidden);
  void (*gruBackward)(Base, Offset gates, Offset hGates, Offset hPrev, Offset dh, Offset dxGates, Offset dhGates,
                      Offset dhPrev, int32_t batch, int32_t hidden);
  double (*softmaxCrossEntropy)(Base, Offset logits, Offset targets, Offset dLogits, int32_t rows, int32_t vocab,
                                float scale, Offset rowLosses);
} KernelTable;

extern const KernelTable charrnn_kernels_avx512;
extern const KernelTable charrnn_kernels_avx2;
extern const KernelTable charrnn_kernels_baseline;

#endif
