/* xgemm_avx512.c — AVX-512 micro-kernels of our GEMM (xgemm.h): 12 x 32 register tiles. */
#include "xgemm.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/*
 * Compiled for AVX-512F by attribute, not by flag, so the library still loads on CPUs without
 * it; xgemm.c calls in here only after __builtin_cpu_supports("avx512f").
 *
 * The tile: 12 rows x 2 zmm = 24 accumulators, two B loads and twelve broadcasts of A per k
 * step, leaving registers for B and the broadcast (32 zmm, no spills: check with objdump -d).
 * On Zen 4 a zmm FMA issues once per cycle, so 24 independent chains hide its 4-cycle latency
 * with room to spare; the loads (14 per 24 FMAs) are far from the 2-3 per cycle the core
 * sustains, so A is broadcast straight from the caller's rows, unpacked.  Row and column
 * edges are separate instantiations (constant row count) and masked loads/stores of C.
 */
#define NTG_AVX512 __attribute__((target("avx512f,fma")))
/* The register tiles start on a cache line, so that their k loops' alignment does not move
 * with unrelated code (see xgemm_avx2.c). */
#define NTG_HOT __attribute__((aligned(64)))

#if defined(__clang__)
#define NTG_UNROLL_K _Pragma("unroll 2")
#elif defined(__GNUC__)
#define NTG_UNROLL_K _Pragma("GCC unroll 2")
#else
#define NTG_UNROLL_K
#endif

enum { NR = NTG_XGEMM_NR, MR = NTG_XGEMM_MR };

/* C row = relu((C row if load_c) + acc + bias) on the first `m0`/`m1` lanes of each half. */
static inline __attribute__((always_inline)) NTG_AVX512 void
store_row(float *cr, __m512 xa, __m512 xb, int wide, int full, __mmask16 m0, __mmask16 m1,
          int load_c, const float *bias, int relu)
{
    if (full) {
        if (load_c) {
            xa = _mm512_add_ps(_mm512_loadu_ps(cr), xa);
            if (wide) xb = _mm512_add_ps(_mm512_loadu_ps(cr + 16), xb);
        }
        if (bias) {
            xa = _mm512_add_ps(xa, _mm512_loadu_ps(bias));
            if (wide) xb = _mm512_add_ps(xb, _mm512_loadu_ps(bias + 16));
        }
        if (relu) {
            /* max(0, x) returns its second operand when one is NaN: NaN stays NaN. */
            xa = _mm512_max_ps(_mm512_setzero_ps(), xa);
            if (wide) xb = _mm512_max_ps(_mm512_setzero_ps(), xb);
        }
        _mm512_storeu_ps(cr, xa);
        if (wide) _mm512_storeu_ps(cr + 16, xb);
        return;
    }
    if (load_c) {
        xa = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cr), xa);
        if (wide) xb = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cr + 16), xb);
    }
    if (bias) {
        xa = _mm512_add_ps(xa, _mm512_maskz_loadu_ps(m0, bias));
        if (wide) xb = _mm512_add_ps(xb, _mm512_maskz_loadu_ps(m1, bias + 16));
    }
    if (relu) {
        xa = _mm512_max_ps(_mm512_setzero_ps(), xa);
        if (wide) xb = _mm512_max_ps(_mm512_setzero_ps(), xb);
    }
    _mm512_mask_storeu_ps(cr, m0, xa);
    if (wide) _mm512_mask_storeu_ps(cr + 16, m1, xb);
}

/* The accumulators are named variables, one pair per row, so that the register allocator sees
 * 24 scalars rather than an array it might keep in memory. */
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define ACC_DECL(i)                                                                                \
    __m512 c##i##a = _mm512_setzero_ps(), c##i##b = _mm512_setzero_ps();                           \
    __m256 c##i##h = _mm256_setzero_ps();                                                          \
    const float *a##i = a + (mr > i ? i : 0) * lda;
#define ACC_FMA(i)                                                                                 \
    if (mr > i) {                                                                                  \
        __m512 av = _mm512_set1_ps(a##i[p]);                                                       \
        c##i##a = _mm512_fmadd_ps(av, b0, c##i##a);                                                \
        if (wide == W32) c##i##b = _mm512_fmadd_ps(av, b1, c##i##b);                               \
        if (wide == W24) c##i##h = _mm256_fmadd_ps(_mm512_castps512_ps256(av), bh, c##i##h);       \
    }
#define ACC_STORE(i)                                                                               \
    if (mr > i)                                                                                    \
        store_row(c + i * ldc, c##i##a, wide == W24 ? _mm512_zextps256_ps512(c##i##h) : c##i##b,   \
                  wide != W16, full, m0, m1, load_c, bias, relu);

/*
 * Tile widths.  Zen 4 runs a zmm FMA on both of its 256-bit FMA pipes and a ymm FMA on one,
 * so a tile of 17..24 columns does its last 8 with ymm FMAs: 18 cycles per k step instead of
 * 24 (the 24-wide output heads, and the last panel of n = 600 or 504).
 */
enum { W16 = 0, W32 = 1, W24 = 2 };

/* One mr x (16, 24 or 32) tile over kc steps; `mr` and `wide` are constants after inlining. */
static inline __attribute__((always_inline)) NTG_AVX512 void
tile(const int mr, const int wide, int64_t kc, const float *a, int64_t lda, const float *b,
     float *c, int64_t ldc, int64_t nr, int load_c, const float *bias, int relu)
{
    ROWS(ACC_DECL)
    NTG_UNROLL_K
    for (int64_t p = 0; p < kc; p++) {
        __m512 b0 = _mm512_loadu_ps(b + p * NR);
        __m512 b1 = wide == W32 ? _mm512_loadu_ps(b + p * NR + 16) : _mm512_setzero_ps();
        __m256 bh = wide == W24 ? _mm256_loadu_ps(b + p * NR + 16) : _mm256_setzero_ps();
        ROWS(ACC_FMA)
    }
    int full = nr == (wide == W32 ? 32 : 16);
    __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1u);
    __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xffff : nr > 16 ? (1u << (nr - 16)) - 1u : 0u);
    ROWS(ACC_STORE)
}

typedef void (*tile_fn)(int64_t kc, const float *a, int64_t lda, const float *b, float *c,
                        int64_t ldc, int64_t nr, int load_c, const float *bias, int relu);

#define TILE_FN(r, w)                                                                              \
    static NTG_AVX512 NTG_HOT void tile_##r##_##w(                                                 \
        int64_t kc, const float *a, int64_t lda, const float *b, float *c, int64_t ldc,            \
        int64_t nr, int load_c, const float *bias, int relu)                                       \
    {                                                                                              \
        tile(r, w, kc, a, lda, b, c, ldc, nr, load_c, bias, relu);                                 \
    }
#define TILE_FNS(r) TILE_FN(r, 0) TILE_FN(r, 1) TILE_FN(r, 2)
TILE_FNS(1)
TILE_FNS(2)
TILE_FNS(3)
TILE_FNS(4)
TILE_FNS(5)
TILE_FNS(6)
TILE_FNS(7)
TILE_FNS(8)
TILE_FNS(9)
TILE_FNS(10)
TILE_FNS(11)
TILE_FNS(12)

/* [rows][W16, W32, W24]: rows 1..MR. */
#define TILE_ROW(r)                                                                                \
    {                                                                                              \
        tile_##r##_0, tile_##r##_1, tile_##r##_2                                                   \
    }
static const tile_fn tiles[MR + 1][3] = {
    {NULL, NULL, NULL}, TILE_ROW(1),  TILE_ROW(2), TILE_ROW(3), TILE_ROW(4),
    TILE_ROW(5),        TILE_ROW(6),  TILE_ROW(7), TILE_ROW(8), TILE_ROW(9),
    TILE_ROW(10),       TILE_ROW(11), TILE_ROW(12)};

/* Rows outer, panels inner: an A tile (12 rows x kc) is reused from L1 by every panel. */
NTG_AVX512 void ntg__xgemm_blk_avx512(const ntg__xgemm_blk *k)
{
    for (int64_t i0 = 0; i0 < k->m; i0 += MR) {
        int64_t mr = k->m - i0 < MR ? k->m - i0 : MR;
        const float *a = k->a + i0 * k->lda;
        for (int64_t j0 = 0, jp = 0; j0 < k->n; j0 += NR, jp++) {
            int64_t nr = k->n - j0 < NR ? k->n - j0 : NR;
            float *c = k->c + i0 * k->ldc + j0;
            /* The tile's C lines are fetched while its k loop runs (C rows beyond L2 when m is
             * large: the LSTM input projection). */
            for (int64_t i = 0; i < mr; i++) {
                _mm_prefetch((const char *)(c + i * k->ldc), _MM_HINT_T0);
                _mm_prefetch((const char *)(c + i * k->ldc + 16), _MM_HINT_T0);
            }
            tiles[mr][nr > 24   ? W32
                      : nr > 16 ? W24
                                : W16](k->kc, a, k->lda, k->b + jp * k->b_stride, c, k->ldc, nr,
                                       k->load_c, k->bias ? k->bias + j0 : NULL, k->relu);
        }
    }
}

/* 16 x 16 blocks transposed in registers (unpack, shuffle, then 128-bit lane shuffles); edges
 * by masked loads and stores. */
NTG_AVX512 void ntg__xgemm_transpose_avx512(const float *src, int64_t lds, int64_t rows,
                                            int64_t cols, int64_t rows_pad, float *dst, int64_t ldd)
{
    for (int64_t r0 = 0; r0 < rows_pad; r0 += 16) {
        int64_t nr = rows - r0 < 16 ? (rows > r0 ? rows - r0 : 0) : 16;
        int64_t nw = rows_pad - r0 < 16 ? rows_pad - r0 : 16;
        __mmask16 mw = (__mmask16)(nw >= 16 ? 0xffff : (1u << nw) - 1u);
        for (int64_t c0 = 0; c0 < cols; c0 += 16) {
            int64_t nc = cols - c0 < 16 ? cols - c0 : 16;
            __mmask16 mc = (__mmask16)(nc >= 16 ? 0xffff : (1u << nc) - 1u);
            __m512 r[16], t[16];
            /* the rows' lines 256 bytes ahead, as the AVX2 transpose (a training step's x W^T,
             * W packed a panel at a time: +2-15 % on the product's mean, 6 of 6 pairs) */
            if (c0 + 64 < cols)
                for (int64_t j = 0; j < nr; j++)
                    _mm_prefetch((const char *)(src + (r0 + j) * lds + c0 + 64), _MM_HINT_T0);
            for (int j = 0; j < 16; j++)
                r[j] = j < nr ? _mm512_maskz_loadu_ps(mc, src + (r0 + j) * lds + c0)
                              : _mm512_setzero_ps();
            for (int j = 0; j < 16; j += 2) {
                t[j] = _mm512_unpacklo_ps(r[j], r[j + 1]);
                t[j + 1] = _mm512_unpackhi_ps(r[j], r[j + 1]);
            }
            /* r[4q + s], 128-bit lane L: column 4L + s of rows 4q .. 4q+3. */
            for (int j = 0; j < 16; j += 4) {
                r[j] = _mm512_shuffle_ps(t[j], t[j + 2], 0x44);
                r[j + 1] = _mm512_shuffle_ps(t[j], t[j + 2], 0xee);
                r[j + 2] = _mm512_shuffle_ps(t[j + 1], t[j + 3], 0x44);
                r[j + 3] = _mm512_shuffle_ps(t[j + 1], t[j + 3], 0xee);
            }
            for (int s = 0; s < 4; s++) {
                __m512 u = _mm512_shuffle_f32x4(r[s], r[4 + s], 0x44);
                __m512 v = _mm512_shuffle_f32x4(r[s], r[4 + s], 0xee);
                __m512 w = _mm512_shuffle_f32x4(r[8 + s], r[12 + s], 0x44);
                __m512 x = _mm512_shuffle_f32x4(r[8 + s], r[12 + s], 0xee);
                t[s] = _mm512_shuffle_f32x4(u, w, 0x88);
                t[4 + s] = _mm512_shuffle_f32x4(u, w, 0xdd);
                t[8 + s] = _mm512_shuffle_f32x4(v, x, 0x88);
                t[12 + s] = _mm512_shuffle_f32x4(v, x, 0xdd);
            }
            if (nw == 16)
                for (int64_t c = 0; c < nc; c++) _mm512_storeu_ps(dst + (c0 + c) * ldd + r0, t[c]);
            else
                for (int64_t c = 0; c < nc; c++)
                    _mm512_mask_storeu_ps(dst + (c0 + c) * ldd + r0, mw, t[c]);
        }
    }
}

/* kc rows of nr <= NR floats (stride ldb) into a [kc][NR] panel, zero padded. */
NTG_AVX512 void ntg__xgemm_copy_rows_avx512(const float *src, int64_t ldb, int64_t nr, int64_t kc,
                                            float *dst)
{
    __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1u);
    __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xffff : nr > 16 ? (1u << (nr - 16)) - 1u : 0u);
    for (int64_t p = 0; p < kc; p++) {
        _mm512_storeu_ps(dst + p * NR, _mm512_maskz_loadu_ps(m0, src + p * ldb));
        _mm512_storeu_ps(dst + p * NR + 16, _mm512_maskz_loadu_ps(m1, src + p * ldb + 16));
    }
}

#else
/* Not x86: xgemm.c never calls these. */
void ntg__xgemm_blk_avx512(const ntg__xgemm_blk *k)
{
    (void)k;
}
void ntg__xgemm_transpose_avx512(const float *src, int64_t lds, int64_t rows, int64_t cols,
                                 int64_t rows_pad, float *dst, int64_t ldd)
{
    (void)src, (void)lds, (void)rows, (void)cols, (void)rows_pad, (void)dst, (void)ldd;
}
void ntg__xgemm_copy_rows_avx512(const float *src, int64_t ldb, int64_t nr, int64_t kc, float *dst)
{
    (void)src, (void)ldb, (void)nr, (void)kc, (void)dst;
}
#endif
