/*
 * The Node-API face of the native kernels (charrnn-kernels.node). Exports:
 *   isas()           the instruction sets this CPU runs, fastest first ("avx512", "avx2", "baseline";
 *                    "neon" on arm64), found by cpuid;
 *   bind(isa, view)  an object of that instruction set's kernels over the memory `view` (a typed array at
 *                    the start of a SharedArrayBuffer, such as a shared WebAssembly.Memory's) lives in.
 * The bound kernels take byte offsets into that memory, the WebAssembly exports' signatures: the memory
 * must never move, which holds for a shared WebAssembly.Memory (V8 reserves its maximum up front).
 * Numbers only cross the boundary, so a call costs one Node-API call and its argument reads.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

/* The instruction sets this build holds, fastest first. */
static const KernelTable *const BUILT[] = {
#if defined(__x86_64__)
    &charrnn_kernels_avx512,
    &charrnn_kernels_avx2,
#endif
    &charrnn_kernels_baseline,
};
#define BUILT_COUNT (sizeof BUILT / sizeof BUILT[0])

static int cpuRuns(const KernelTable *table) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (table == &charrnn_kernels_avx512) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma");
  }
  if (table == &charrnn_kernels_avx2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  (void)table;
  return 1;
}

/* What a bound function reads: its kernels, and the memory's base. */
typedef struct Binding {
  const KernelTable *table;
  Base base;
} Binding;

#define MAX_ARGS 12

/* Reads `count` numeric arguments; false (with a TypeError thrown) when one is missing or not a number. */
static int readNumbers(napi_env env, napi_callback_info info, size_t count, double *numbers, Binding **binding) {
  napi_value args[MAX_ARGS];
  size_t given = MAX_ARGS;
  if (napi_get_cb_info(env, info, &given, args, NULL, (void **)binding) != napi_ok) return 0;
  if (given < count) {
    napi_throw_type_error(env, NULL, "native kernel: too few arguments");
    return 0;
  }
  for (size_t i = 0; i < count; i++) {
    if (napi_get_value_double(env, args[i], &numbers[i]) != napi_ok) {
      napi_throw_type_error(env, NULL, "native kernel: arguments must be numbers");
      return 0;
    }
  }
  return 1;
}

static napi_value integer(napi_env env, int32_t value) {
  napi_value result;
  napi_create_int32(env, value, &result);
  return result;
}

#define O(i) ((Offset)v[i])
#define I(i) ((int32_t)v[i])
/* Defines the callback of kernel `name`, reading `count` numbers into v and returning `result`. */
#define KERNEL(name, count, call, result)                                    \
  static napi_value call_##name(napi_env env, napi_callback_info info) {     \
    double v[MAX_ARGS];                                                      \
    Binding *binding;                                                        \
    if (!readNumbers(env, info, count, v, &binding)) return NULL;            \
    const KernelTable *t = binding->table;                                   \
    Base base = binding->base;                                               \
    (void)v;                                                                 \
    call;                                                                    \
    return result;                                                           \
  }

KERNEL(workspaceBytes, 0, (void)base, integer(env, t->workspaceBytes()))
KERNEL(rowsScratchBytes, 2, (void)base, integer(env, t->rowsScratchBytes(I(0), I(1))))
KERNEL(matmulAB, 8, t->matmulAB(base, O(0), O(1), O(2), I(3), I(4), I(5), I(6), O(7)), NULL)
KERNEL(matmulAtB, 8, t->matmulAtB(base, O(0), O(1), O(2), I(3), I(4), I(5), I(6), O(7)), NULL)
KERNEL(matmulABt, 8, t->matmulABt(base, O(0), O(1), O(2), I(3), I(4), I(5), I(6), O(7)), NULL)
KERNEL(matmulAtBRows, 10,
       t->matmulAtBRows(base, O(0), O(1), I(2), O(3), I(4), I(5), I(6), I(7), O(8), O(9)), NULL)
KERNEL(sumRowsOf, 6, t->sumRowsOf(base, O(0), O(1), I(2), I(3), I(4), I(5)), NULL)
KERNEL(scatterColumnsAddRows, 8,
       t->scatterColumnsAddRows(base, O(0), O(1), I(2), O(3), I(4), I(5), I(6), O(7)), NULL)
KERNEL(transpose, 4, t->transpose(base, O(0), O(1), I(2), I(3)), NULL)
KERNEL(broadcastRows, 4, t->broadcastRows(base, O(0), O(1), I(2), I(3)), NULL)
KERNEL(sumRows, 5, t->sumRows(base, O(0), O(1), I(2), I(3), I(4)), NULL)
KERNEL(gatherColumnsAdd, 7, t->gatherColumnsAdd(base, O(0), O(1), O(2), I(3), I(4), I(5), O(6)), NULL)
KERNEL(gatherRowsAdd, 5, t->gatherRowsAdd(base, O(0), O(1), O(2), I(3), I(4)), NULL)
KERNEL(scatterColumnsAdd, 7, t->scatterColumnsAdd(base, O(0), O(1), O(2), I(3), I(4), I(5), O(6)), NULL)
KERNEL(tanhForward, 3, t->tanhForward(base, O(0), O(1), I(2)), NULL)
KERNEL(tanhBackward, 4, t->tanhBackward(base, O(0), O(1), O(2), I(3)), NULL)
KERNEL(lstmForward, 7, t->lstmForward(base, O(0), O(1), O(2), O(3), O(4), I(5), I(6)), NULL)
KERNEL(lstmBackward, 8, t->lstmBackward(base, O(0), O(1), O(2), O(3), O(4), O(5), I(6), I(7)), NULL)
KERNEL(gruForward, 6, t->gruForward(base, O(0), O(1), O(2), O(3), I(4), I(5)), NULL)
KERNEL(gruBackward, 9, t->gruBackward(base, O(0), O(1), O(2), O(3), O(4), O(5), O(6), I(7), I(8)), NULL)

static napi_value call_softmaxCrossEntropy(napi_env env, napi_callback_info info) {
  double v[MAX_ARGS];
  Binding *binding;
  if (!readNumbers(env, info, 7, v, &binding)) return NULL;
  const double loss = binding->table->softmaxCrossEntropy(binding->base, O(0), O(1), O(2), I(3), I(4),
                                                          (float)v[5], O(6));
  napi_value result;
  napi_create_double(env, loss, &result);
  return result;
}

static napi_value isas(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value list;
  napi_create_array(env, &list);
  uint32_t count = 0;
  for (size_t i = 0; i < BUILT_COUNT; i++) {
    if (!cpuRuns(BUILT[i])) continue;
    napi_value name;
    napi_create_string_utf8(env, BUILT[i]->isa, NAPI_AUTO_LENGTH, &name);
    napi_set_element(env, list, count++, name);
  }
  return list;
}

static void freeBinding(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static napi_value bind(napi_env env, napi_callback_info info) {
  napi_value args[2];
  size_t given = 2;
  napi_get_cb_info(env, info, &given, args, NULL, NULL);
  char isa[16] = "";
  size_t length = 0;
  if (given < 2 || napi_get_value_string_utf8(env, args[0], isa, sizeof isa, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "bind(isa, view): isa must be a string");
    return NULL;
  }
  const KernelTable *table = NULL;
  for (size_t i = 0; i < BUILT_COUNT; i++) {
    if (strcmp(BUILT[i]->isa, isa) == 0 && cpuRuns(BUILT[i])) table = BUILT[i];
  }
  if (!table) {
    napi_throw_error(env, NULL, "bind(isa, view): this CPU or build has no such instruction set");
    return NULL;
  }
  void *data = NULL;
  if (napi_get_typedarray_info(env, args[1], NULL, NULL, &data, NULL, NULL) != napi_ok || !data) {
    napi_throw_type_error(env, NULL, "bind(isa, view): view must be a typed array over the kernel memory");
    return NULL;
  }
  Binding *binding = malloc(sizeof *binding);
  if (!binding) {
    napi_throw_error(env, NULL, "bind: out of memory");
    return NULL;
  }
  binding->table = table;
  binding->base = data;
  napi_value kernels;
  napi_create_object(env, &kernels);
  napi_add_finalizer(env, kernels, binding, freeBinding, NULL, NULL);
#define EXPORT(name) {#name, NULL, call_##name, NULL, NULL, NULL, napi_enumerable, binding}
  const napi_property_descriptor properties[] = {
      EXPORT(workspaceBytes),   EXPORT(rowsScratchBytes),      EXPORT(matmulAB),         EXPORT(matmulAtB),
      EXPORT(matmulABt),        EXPORT(matmulAtBRows),         EXPORT(sumRowsOf),        EXPORT(scatterColumnsAddRows),
      EXPORT(transpose),        EXPORT(broadcastRows),         EXPORT(sumRows),          EXPORT(gatherColumnsAdd),
      EXPORT(gatherRowsAdd),    EXPORT(scatterColumnsAdd),     EXPORT(tanhForward),      EXPORT(tanhBackward),
      EXPORT(lstmForward),      EXPORT(lstmBackward),          EXPORT(gruForward),       EXPORT(gruBackward),
      EXPORT(softmaxCrossEntropy),
  };
#undef EXPORT
  napi_define_properties(env, kernels, sizeof properties / sizeof properties[0], properties);
  return kernels;
}

NAPI_MODULE_INIT() {
  const napi_property_descriptor properties[] = {
      {"isas", NULL, isas, NULL, NULL, NULL, napi_enumerable, NULL},
      {"bind", NULL, bind, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, 2, properties);
  return exports;
}
