/* xgemm_avx2.c — AVX2 + FMA micro-kernels of our GEMM (xgemm.h): 6 x 16 register tiles. */
#include "xgemm.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/*
 * Compiled for AVX2 + FMA by attribute (the library still loads without them); xgemm.c calls
 * in here only after __builtin_cpu_supports("avx2") and ("fma").
 *
 * 16 ymm registers: 6 rows x 2 ymm = 12 accumulators, two B loads and six broadcasts per
 * k step, the classic Haswell/Zen shape (two FMA pipes, 5-cycle latency: 12 chains in
 * flight).  A 32-column packed panel is done as two 16-column halves, row stride NR.
 */
#define NTG_AVX2 __attribute__((target("avx2,fma")))

#if defined(__clang__)
#define NTG_UNROLL_K _Pragma("unroll 2")
#elif defined(__GNUC__)
#define NTG_UNROLL_K _Pragma("GCC unroll 2")
#else
#define NTG_UNROLL_K
#endif

enum { NR = NTG_XGEMM_NR, MR2 = 6 };

/* Lanes [0, cnt) set, as maskload/maskstore want them (sign bits). */
static inline __attribute__((always_inline)) NTG_AVX2 __m256i lanes(int64_t cnt)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)cnt),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline __attribute__((always_inline)) NTG_AVX2 void
store_row(float *cr, __m256 xa, __m256 xb, int wide, int full, __m256i m0, __m256i m1, int load_c,
          const float *bias, int relu)
{
    if (full) {
        if (load_c) {
            xa = _mm256_add_ps(_mm256_loadu_ps(cr), xa);
            if (wide) xb = _mm256_add_ps(_mm256_loadu_ps(cr + 8), xb);
        }
        if (bias) {
            xa = _mm256_add_ps(xa, _mm256_loadu_ps(bias));
            if (wide) xb = _mm256_add_ps(xb, _mm256_loadu_ps(bias + 8));
        }
    } else {
        if (load_c) {
            xa = _mm256_add_ps(_mm256_maskload_ps(cr, m0), xa);
            if (wide) xb = _mm256_add_ps(_mm256_maskload_ps(cr + 8, m1), xb);
        }
        if (bias) {
            xa = _mm256_add_ps(xa, _mm256_maskload_ps(bias, m0));
            if (wide) xb = _mm256_add_ps(xb, _mm256_maskload_ps(bias + 8, m1));
        }
    }
    if (relu) {
        /* max(0, x) returns its second operand when one is NaN: NaN stays NaN. */
        xa = _mm256_max_ps(_mm256_setzero_ps(), xa);
        if (wide) xb = _mm256_max_ps(_mm256_setzero_ps(), xb);
    }
    if (full) {
        _mm256_storeu_ps(cr, xa);
        if (wide) _mm256_storeu_ps(cr + 8, xb);
    } else {
        _mm256_maskstore_ps(cr, m0, xa);
        if (wide) _mm256_maskstore_ps(cr + 8, m1, xb);
    }
}

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define ACC_DECL(i)                                                                                \
    __m256 c##i##a = _mm256_setzero_ps(), c##i##b = _mm256_setzero_ps();                           \
    const float *a##i = a + (mr > i ? i : 0) * lda;
#define ACC_FMA(i)                                                                                 \
    if (mr > i) {                                                                                  \
        __m256 av = _mm256_broadcast_ss(a##i + p);                                                 \
        c##i##a = _mm256_fmadd_ps(av, b0, c##i##a);                                                \
        if (wide) c##i##b = _mm256_fmadd_ps(av, b1, c##i##b);                                      \
    }
#define ACC_STORE(i)                                                                               \
    if (mr > i) store_row(c + i * ldc, c##i##a, c##i##b, wide, full, m0, m1, load_c, bias, relu);

/* One mr x (8 or 16) tile over kc steps; `mr` and `wide` are constants after inlining. */
static inline __attribute__((always_inline)) NTG_AVX2 void
tile(const int mr, const int wide, int64_t kc, const float *a, int64_t lda, const float *b,
     float *c, int64_t ldc, int64_t nr, int load_c, const float *bias, int relu)
{
    ROWS(ACC_DECL)
    NTG_UNROLL_K
    for (int64_t p = 0; p < kc; p++) {
        __m256 b0 = _mm256_loadu_ps(b + p * NR);
        __m256 b1 = wide ? _mm256_loadu_ps(b + p * NR + 8) : _mm256_setzero_ps();
        ROWS(ACC_FMA)
    }
    int full = nr == (wide ? 16 : 8);
    __m256i m0 = lanes(nr), m1 = lanes(nr - 8);
    ROWS(ACC_STORE)
}

typedef void (*tile_fn)(int64_t kc, const float *a, int64_t lda, const float *b, float *c,
                        int64_t ldc, int64_t nr, int load_c, const float *bias, int relu);

#define TILE_FN(r, w)                                                                              \
    static NTG_AVX2 void tile_##r##_##w(int64_t kc, const float *a, int64_t lda, const float *b,   \
                                        float *c, int64_t ldc, int64_t nr, int load_c,             \
                                        const float *bias, int relu)                               \
    {                                                                                              \
        tile(r, w, kc, a, lda, b, c, ldc, nr, load_c, bias, relu);                                 \
    }
#define TILE_FNS(r) TILE_FN(r, 0) TILE_FN(r, 1)
TILE_FNS(1)
TILE_FNS(2)
TILE_FNS(3)
TILE_FNS(4)
TILE_FNS(5)
TILE_FNS(6)

static const tile_fn tiles[MR2 + 1][2] = {
    {NULL, NULL},         {tile_1_0, tile_1_1}, {tile_2_0, tile_2_1}, {tile_3_0, tile_3_1},
    {tile_4_0, tile_4_1}, {tile_5_0, tile_5_1}, {tile_6_0, tile_6_1}};

/* Rows outer, then panels and their halves: a 6-row A tile is reused from L1 by all of them. */
NTG_AVX2 void ntg__xgemm_blk_avx2(const ntg__xgemm_blk *k)
{
    for (int64_t i0 = 0; i0 < k->m; i0 += MR2) {
        int64_t mr = k->m - i0 < MR2 ? k->m - i0 : MR2;
        const float *a = k->a + i0 * k->lda;
        for (int64_t j0 = 0; j0 < k->n; j0 += 16) {
            int64_t nr = k->n - j0 < 16 ? k->n - j0 : 16;
            const float *b = k->b + (j0 / NR) * k->b_stride + j0 % NR;
            tiles[mr][nr > 8](k->kc, a, k->lda, b, k->c + i0 * k->ldc + j0, k->ldc, nr, k->load_c,
                              k->bias ? k->bias + j0 : NULL, k->relu);
        }
    }
}

#else
/* Not x86: xgemm.c never calls this. */
void ntg__xgemm_blk_avx2(const ntg__xgemm_blk *k)
{
    (void)k;
}
#endif
