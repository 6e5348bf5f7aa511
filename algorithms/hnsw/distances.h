/* Distance kernels of the HNSW core: squared L2 and inner product on float32.
 *
 * Also <float, uint8 code> for 8-bit reduced rows.
 *
 * Written with GCC/Clang vector extensions (8 floats, two independent accumulators for
 * instruction-level parallelism) so they need no -march flag: on x86-64 each kernel is
 * compiled twice, for AVX2+FMA and for the baseline, and `fb_init` picks one from the CPU's
 * feature bits at import (not from its model name, which is how `target_clones("arch=...")`
 * dispatches and which sends AMD CPUs to the slow baseline). The built extension thus stays
 * portable to any machine of the same architecture.
 */
#ifndef FB_HNSW_DISTANCES_H
#define FB_HNSW_DISTANCES_H

#include <stddef.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#define fb_prefetch(p) __builtin_prefetch((const void *)(p), 0, 3)

typedef float fb_v8 __attribute__((vector_size(32)));
typedef float fb_v8u __attribute__((vector_size(32), aligned(4), may_alias));

/* Macros, not functions: a vector passed by value to a helper would change ABI. */
#define fb_load(p) (*(const fb_v8u *)(p))
#define fb_hsum(v) (((v)[0] + (v)[4]) + ((v)[1] + (v)[5]) + ((v)[2] + (v)[6]) + ((v)[3] + (v)[7]))

#define FB_L2SQ_BODY                                                  \
    fb_v8 s0 = {0}, s1 = {0};                                         \
    size_t i = 0;                                                     \
    for (; i + 16 <= n; i += 16) {                                    \
        fb_v8 d0 = fb_load(a + i) - fb_load(b + i);                   \
        fb_v8 d1 = fb_load(a + i + 8) - fb_load(b + i + 8);           \
        s0 += d0 * d0;                                                \
        s1 += d1 * d1;                                                \
    }                                                                 \
    if (i + 8 <= n) {                                                 \
        fb_v8 d0 = fb_load(a + i) - fb_load(b + i);                   \
        s0 += d0 * d0;                                                \
        i += 8;                                                       \
    }                                                                 \
    s0 += s1;                                                         \
    float r = fb_hsum(s0);                                            \
    for (; i < n; i++) {                                              \
        float d = a[i] - b[i];                                        \
        r += d * d;                                                   \
    }                                                                 \
    return r;

#define FB_DOT_BODY                                                   \
    fb_v8 s0 = {0}, s1 = {0};                                         \
    size_t i = 0;                                                     \
    for (; i + 16 <= n; i += 16) {                                    \
        s0 += fb_load(a + i) * fb_load(b + i);                        \
        s1 += fb_load(a + i + 8) * fb_load(b + i + 8);                \
    }                                                                 \
    if (i + 8 <= n) {                                                 \
        s0 += fb_load(a + i) * fb_load(b + i);                        \
        i += 8;                                                       \
    }                                                                 \
    s0 += s1;                                                         \
    float r = fb_hsum(s0);                                            \
    for (; i < n; i++) r += a[i] * b[i];                              \
    return r;

/* <a, b> with b as uint8 codes (8-bit reduced rows): 8 codes widened to floats at a time. */
typedef unsigned char fb_u8x8 __attribute__((vector_size(8), aligned(1), may_alias));
#define fb_load_u8(p) __builtin_convertvector(*(const fb_u8x8 *)(p), fb_v8)

#define FB_DOT_U8_BODY                                                \
    fb_v8 s0 = {0}, s1 = {0};                                         \
    size_t i = 0;                                                     \
    for (; i + 16 <= n; i += 16) {                                    \
        s0 += fb_load(a + i) * fb_load_u8(b + i);                     \
        s1 += fb_load(a + i + 8) * fb_load_u8(b + i + 8);             \
    }                                                                 \
    if (i + 8 <= n) {                                                 \
        s0 += fb_load(a + i) * fb_load_u8(b + i);                     \
        i += 8;                                                       \
    }                                                                 \
    s0 += s1;                                                         \
    float r = fb_hsum(s0);                                            \
    for (; i < n; i++) r += a[i] * (float)b[i];                       \
    return r;

static float fb_l2sq_base(const float *a, const float *b, size_t n) { FB_L2SQ_BODY }
static float fb_dot_base(const float *a, const float *b, size_t n) { FB_DOT_BODY }
static float fb_dot_u8_base(const float *a, const unsigned char *b, size_t n) { FB_DOT_U8_BODY }

typedef float (*fb_kernel)(const float *, const float *, size_t);
typedef float (*fb_kernel_u8)(const float *, const unsigned char *, size_t);
static fb_kernel fb_l2sq_impl = fb_l2sq_base;
static fb_kernel fb_dot_impl = fb_dot_base;
static fb_kernel_u8 fb_dot_u8_impl = fb_dot_u8_base;

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2,fma")))
static float fb_l2sq_avx2(const float *a, const float *b, size_t n) { FB_L2SQ_BODY }
__attribute__((target("avx2,fma")))
static float fb_dot_avx2(const float *a, const float *b, size_t n) { FB_DOT_BODY }
/* Intrinsics here: GCC compiles the generic uint8 -> float conversion of FB_DOT_U8_BODY to
 * one scalar convert per byte, these to one vpmovzxbd and one vcvtdq2ps per 8 codes. */
__attribute__((target("avx2,fma")))
static float fb_dot_u8_avx2(const float *a, const unsigned char *b, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i c = _mm_loadu_si128((const __m128i *)(b + i));
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c)),
                             s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8),
                             _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(c, 8))), s1);
    }
    if (i + 8 <= n) {
        __m128i c = _mm_loadl_epi64((const __m128i *)(b + i));
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c)),
                             s0);
        i += 8;
    }
    s0 = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float r = _mm_cvtss_f32(h);
    for (; i < n; i++) r += a[i] * (float)b[i];
    return r;
}
#endif

/* Picks the kernels for this CPU; returns 1 when the AVX2+FMA ones are used. */
static int fb_init(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        fb_l2sq_impl = fb_l2sq_avx2;
        fb_dot_impl = fb_dot_avx2;
        fb_dot_u8_impl = fb_dot_u8_avx2;
        return 1;
    }
#endif
    return 0;
}

static inline float fb_l2sq(const float *a, const float *b, size_t n) {
    return fb_l2sq_impl(a, b, n);
}

static inline float fb_dot(const float *a, const float *b, size_t n) {
    return fb_dot_impl(a, b, n);
}

static inline float fb_dot_u8(const float *a, const unsigned char *b, size_t n) {
    return fb_dot_u8_impl(a, b, n);
}

#endif
