/*
 * The vector layer kernels.c is written over: one vector type `vf` of W floats and a few operations,
 * for the instruction set this compilation targets (chosen by the CHARRNN_ISA_* macro the build
 * defines). Arithmetic (+ - * /) uses GCC's vector operators; the build passes -ffp-contract=off, so
 * the only fused multiply-adds are the explicit vmadd, and every result is the same for any caller.
 */
#ifndef CHARRNN_SIMD_H
#define CHARRNN_SIMD_H

#include <stdint.h>

#if defined(CHARRNN_ISA_AVX512)
#include <immintrin.h>
#define W 16
#define ISA_TABLE charrnn_kernels_avx512
/* 12 rows × 2 vectors: 24 of the 32 zmm registers accumulate. */
#define MR 12
/* A packed B panel (KC × 2W floats, 16 KiB) stays in L1 while A streams past. */
#define KC 128
typedef __m512 vf;
#define vload(p) _mm512_loadu_ps(p)
#define vstore(p, v) _mm512_storeu_ps(p, v)
#define vset1(x) _mm512_set1_ps(x)
#define vzero() _mm512_setzero_ps()
#define vmadd(a, b, c) _mm512_fmadd_ps(a, b, c)
#define vmax(a, b) _mm512_max_ps(a, b)
#define vmin(a, b) _mm512_min_ps(a, b)
/* The first `count` (< W) lanes; the others read as 0 and are not written. */
#define vloadFirst(p, count) _mm512_maskz_loadu_ps((__mmask16)((1u << (count)) - 1), p)
#define vstoreFirst(p, v, count) _mm512_mask_storeu_ps(p, (__mmask16)((1u << (count)) - 1), v)
#elif defined(CHARRNN_ISA_AVX2)
#include <immintrin.h>
#define W 8
#define ISA_TABLE charrnn_kernels_avx2
/* 6 rows × 2 vectors: 12 of the 16 ymm registers accumulate. */
#define MR 6
#define KC 256
typedef __m256 vf;
#define vload(p) _mm256_loadu_ps(p)
#define vstore(p, v) _mm256_storeu_ps(p, v)
#define vset1(x) _mm256_set1_ps(x)
#define vzero() _mm256_setzero_ps()
#define vmadd(a, b, c) _mm256_fmadd_ps(a, b, c)
#define vmax(a, b) _mm256_max_ps(a, b)
#define vmin(a, b) _mm256_min_ps(a, b)
#define firstLanes(count) _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define vloadFirst(p, count) _mm256_maskload_ps(p, firstLanes(count))
#define vstoreFirst(p, v, count) _mm256_maskstore_ps(p, firstLanes(count), v)
#elif defined(CHARRNN_ISA_BASELINE) && defined(__aarch64__)
#include <arm_neon.h>
#define W 4
#define ISA_TABLE charrnn_kernels_baseline
#define MR 8
#define KC 256
typedef float32x4_t vf;
#define vload(p) vld1q_f32(p)
#define vstore(p, v) vst1q_f32(p, v)
#define vset1(x) vdupq_n_f32(x)
#define vzero() vdupq_n_f32(0)
#define vmadd(a, b, c) vfmaq_f32(c, a, b)
/* max(a, b) = a > b ? a : b, as the x86 instruction: a NaN in b comes through (see vclamp). */
#define vmax(a, b) vbslq_f32(vcgtq_f32(a, b), a, b)
#define vmin(a, b) vbslq_f32(vcltq_f32(a, b), a, b)
#elif defined(CHARRNN_ISA_BASELINE) && defined(__x86_64__)
#include <emmintrin.h>
#define W 4
#define ISA_TABLE charrnn_kernels_baseline
/* SSE2 has no fused multiply-add: 4 rows × 2 vectors leave registers for the products. */
#define MR 4
#define KC 256
typedef __m128 vf;
#define vload(p) _mm_loadu_ps(p)
#define vstore(p, v) _mm_storeu_ps(p, v)
#define vset1(x) _mm_set1_ps(x)
#define vzero() _mm_setzero_ps()
#define vmadd(a, b, c) _mm_add_ps(_mm_mul_ps(a, b), c)
#define vmax(a, b) _mm_max_ps(a, b)
#define vmin(a, b) _mm_min_ps(a, b)
#else
#error "define CHARRNN_ISA_AVX512, CHARRNN_ISA_AVX2 or CHARRNN_ISA_BASELINE (x86-64 or arm64)"
#endif

/* The same bits as 32-bit integers (for the exponent tricks and the sign bit). */
typedef int32_t vi __attribute__((vector_size(W * 4)));
#define asInt(v) ((vi)(v))
#define asFloat(v) ((vf)(v))

#endif
