/* xgemm_avx2.c — AVX2 + FMA micro-kernels of our GEMM (xgemm.h): 6 x 16 register tiles,
 * blocked for L1/L2. */
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
/* The register tiles start on a cache line: where the linker puts them otherwise depends on
 * unrelated code, and their k loops measured 3-6 % apart between two builds that differed
 * only elsewhere (an N-HiTS training step at one thread, AVX2). */
#define NTG_HOT __attribute__((aligned(64)))

#if defined(__clang__)
#define NTG_UNROLL_K _Pragma("unroll 2")
#elif defined(__GNUC__)
#define NTG_UNROLL_K _Pragma("GCC unroll 2")
#else
#define NTG_UNROLL_K
#endif

enum { NR = NTG_XGEMM_NR, MR2 = 6 };

/*
 * Blocking (measured on the AVX-512 host capped at AVX2, and sized for Zen 3's 32 KiB L1d and
 * 512 KiB L2): the k block xgemm.c hands over (up to 512 deep) is done in slices of KS = 128
 * steps.  Within a slice, for a block of rows, each 32-column panel's slice (128 x 32 floats,
 * 16 KiB) stays in L1 while every 6-row tile of the block runs over it, both halves in turn;
 * the rows' A slice (block x 128 floats) stays in L2 across the panels, and so does the block
 * of C.  The earlier order (an A tile in L1, every panel streamed past it at the full k block)
 * read each B line twice per 6 rows (once per half, 64 KiB apart) from L2, or from L3 where
 * the weights outgrow L2 (Zen 3's 512 KiB, or 1024 x 1024 here): 70 GFLOP/s on 1024^3 against
 * OpenBLAS-Haswell's ~105.  KS 64 / 256 and blocks of 1/2x, 2x and all the rows measured
 * slower on 1024^3 and no faster on the N-HiTS shapes (docs/cpu-backend.md).  The slices add
 * one C round trip per 128 steps (the partial sums go through C, like xgemm.c's k blocks).
 */
enum { KS = 128, MC_FLOATS = 65536, FEW_ROWS = 4 * MR2 };

/* Rows per block: the block's A slice and C rows together ~256 KiB (half of Zen 3's L2), in
 * whole 6-row tiles. */
static int64_t mc_rows(int64_t n)
{
    int64_t mc = MC_FLOATS / (KS + n) / MR2 * MR2;
    return mc < 4 * MR2 ? 4 * MR2 : mc;
}

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
    static NTG_AVX2 NTG_HOT void tile_##r##_##w(int64_t kc, const float *a, int64_t lda,           \
                                                const float *b, float *c, int64_t ldc, int64_t nr, \
                                                int load_c, const float *bias, int relu)           \
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

/* Row tiles [i0, i1) of one 32-column panel's k slice (A from a0, B from b), the two 16-column
 * halves of each 6-row tile in turn; meanwhile the next panel's slice (bnext, or NULL) is
 * prefetched into L2, a share per tile: a new panel otherwise starts on lines no hardware
 * prefetcher has seen (1024^3: 81 -> 92 GFLOP/s; into L1 measured the same, and would crowd
 * a 32 KiB L1). */
static inline __attribute__((always_inline)) NTG_AVX2 void
panel_rows(const ntg__xgemm_blk *k, int64_t i0, int64_t i1, int64_t j0, const float *a0,
           const float *b, const float *bnext, int64_t kc, int load_c, const float *bias, int relu)
{
    int64_t nr = k->n - j0 < NR ? k->n - j0 : NR;
    int64_t lines = kc * (NR * 4 / 64), tiles_n = (i1 - i0 + MR2 - 1) / MR2, done = 0;
    for (int64_t i = i0, t = 1; i < i1; i += MR2, t++) {
        if (bnext)
            for (int64_t upto = lines * t / tiles_n; done < upto; done++)
                _mm_prefetch((const char *)(bnext + done * 16), _MM_HINT_T1);
        int64_t mr = i1 - i < MR2 ? i1 - i : MR2;
        const float *a = a0 + i * k->lda;
        float *c = k->c + i * k->ldc + j0;
        tiles[mr][nr > 8](kc, a, k->lda, b, c, k->ldc, nr < 16 ? nr : 16, load_c,
                          bias ? bias + j0 : NULL, relu);
        if (nr > 16)
            tiles[mr][nr > 24](kc, a, k->lda, b + 16, c + 16, k->ldc, nr - 16, load_c,
                               bias ? bias + j0 + 16 : NULL, relu);
    }
}

/* Row blocks outer, then k slices, then panels (see the blocking above). */
NTG_AVX2 void ntg__xgemm_blk_avx2(const ntg__xgemm_blk *k)
{
    /* A few row tiles (batch-1 inference, bound by streaming B through them once) run as
     * before: no slices, no prefetch (measured 5-30 % slower with them at 1 to 12 rows). */
    int one = k->m < FEW_ROWS;
    int64_t mc = mc_rows(k->n), ks = one ? k->kc : KS;
    for (int64_t r0 = 0; r0 < k->m; r0 += mc) {
        int64_t r1 = k->m - r0 < mc ? k->m : r0 + mc;
        for (int64_t p0 = 0; p0 < k->kc; p0 += ks) {
            int64_t kc = k->kc - p0 < ks ? k->kc - p0 : ks;
            int last = p0 + kc == k->kc;
            const float *bias = last ? k->bias : NULL;
            int load_c = k->load_c || p0 > 0, relu = last && k->relu;
            for (int64_t j0 = 0, jp = 0; j0 < k->n; j0 += NR, jp++) {
                /* what comes next: the next panel's slice, or after the last panel the first
                 * panel's next slice, or the next row block's first (each cold otherwise: a
                 * layer's weights come from L3 in a model; +1-4 % on N-HiTS's 256 x 512 x 512
                 * with 16 weight sets in turn) */
                const float *bn = NULL;
                if (!one && j0 + NR < k->n)
                    bn = k->b + (jp + 1) * k->b_stride + p0 * NR;
                else if (!one && p0 + kc < k->kc)
                    bn = k->b + (p0 + kc) * NR;
                else if (!one && r1 < k->m)
                    bn = k->b;
                panel_rows(k, r0, r1, j0, k->a + p0, k->b + jp * k->b_stride + p0 * NR, bn, kc,
                           load_c, bias, relu);
            }
        }
    }
}

/* 8 x 8 blocks transposed in registers (unpack, shuffle, then 128-bit lane swaps); edges by
 * masked loads and stores.  The portable loop it replaces moved one float at a time: packing
 * a transposed B (every dense layer's W^T in a training step) and a transposed A. */
NTG_AVX2 void ntg__xgemm_transpose_avx2(const float *src, int64_t lds, int64_t rows, int64_t cols,
                                        int64_t rows_pad, float *dst, int64_t ldd)
{
    for (int64_t r0 = 0; r0 < rows_pad; r0 += 8) {
        int64_t nr = rows - r0 < 8 ? (rows > r0 ? rows - r0 : 0) : 8;
        int64_t nw = rows_pad - r0 < 8 ? rows_pad - r0 : 8;
        __m256i mw = lanes(nw);
        for (int64_t c0 = 0; c0 < cols; c0 += 8) {
            int64_t nc = cols - c0 < 8 ? cols - c0 : 8;
            __m256i mc = lanes(nc);
            __m256 r[8], t[8];
            /* the rows' lines 256 bytes ahead: packing a B^T panel otherwise waits on L3 at
             * every new line (a training step's x W^T, 128 x 512 x 512, W packed a panel at a
             * time: 74-80 -> 87-90 GFLOP/s, means of 300 calls on a loaded machine) */
            if (c0 + 64 < cols)
                for (int64_t j = 0; j < nr; j++)
                    _mm_prefetch((const char *)(src + (r0 + j) * lds + c0 + 64), _MM_HINT_T0);
            for (int j = 0; j < 8; j++)
                r[j] = j >= nr   ? _mm256_setzero_ps()
                       : nc == 8 ? _mm256_loadu_ps(src + (r0 + j) * lds + c0)
                                 : _mm256_maskload_ps(src + (r0 + j) * lds + c0, mc);
            for (int j = 0; j < 8; j += 2) {
                t[j] = _mm256_unpacklo_ps(r[j], r[j + 1]);
                t[j + 1] = _mm256_unpackhi_ps(r[j], r[j + 1]);
            }
            /* r[4q + s], 128-bit lane L: column 4L + s of rows 4q .. 4q+3 */
            for (int j = 0; j < 8; j += 4) {
                r[j] = _mm256_shuffle_ps(t[j], t[j + 2], 0x44);
                r[j + 1] = _mm256_shuffle_ps(t[j], t[j + 2], 0xee);
                r[j + 2] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0x44);
                r[j + 3] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0xee);
            }
            for (int s = 0; s < 4; s++) {
                t[s] = _mm256_permute2f128_ps(r[s], r[4 + s], 0x20);
                t[4 + s] = _mm256_permute2f128_ps(r[s], r[4 + s], 0x31);
            }
            for (int64_t c = 0; c < nc; c++) {
                if (nw == 8)
                    _mm256_storeu_ps(dst + (c0 + c) * ldd + r0, t[c]);
                else
                    _mm256_maskstore_ps(dst + (c0 + c) * ldd + r0, mw, t[c]);
            }
        }
    }
}

#else
/* Not x86: xgemm.c never calls these. */
void ntg__xgemm_blk_avx2(const ntg__xgemm_blk *k)
{
    (void)k;
}
void ntg__xgemm_transpose_avx2(const float *src, int64_t lds, int64_t rows, int64_t cols,
                               int64_t rows_pad, float *dst, int64_t ldd)
{
    (void)src, (void)lds, (void)rows, (void)cols, (void)rows_pad, (void)dst, (void)ldd;
}
#endif
