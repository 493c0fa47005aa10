/* vmath_impl.h — the bodies of the vector kernels (vmath.h), instantiated per ISA by vmath.c. */
/*
 * Not a normal header: vmath.c includes it once per instruction set with XV_W (floats per
 * vector), XV_SFX (name suffix) and XV_TARGET (a target attribute, or nothing) defined.  The
 * kernels use GCC vector extensions, so one body gives AVX-512 (16 lanes), AVX2 (8) and
 * portable SSE2/NEON (4) code; the last partial vector goes through a padded copy so every
 * kernel handles any length without reading or writing past its arrays.
 *
 * Transcendentals are float approximations (Cephes expf and tanhf; erfc from Numerical
 * Recipes' Chebyshev fit, fractional error < 1.2e-7): within a few ulp of the double-precision
 * reference, far inside the 1e-5 / 1e-4 conformance tolerances, and the same on every run.
 */

#define XV_CAT2(a, b) a##b
#define XV_CAT(a, b) XV_CAT2(a, b)
#define XV(name) XV_CAT(name, XV_SFX)

typedef float XV(xvf) __attribute__((vector_size(XV_W * 4)));
typedef int32_t XV(xvi) __attribute__((vector_size(XV_W * 4)));
typedef double XV(xvd) __attribute__((vector_size(XV_W * 4)));
typedef float XV(xvh) __attribute__((vector_size(XV_W * 2)));
#define xvf XV(xvf)
#define xvi XV(xvi)
#define xvd XV(xvd)
#define xvh XV(xvh)
#define XV_DW (XV_W / 2) /* doubles per vector */

XV_TARGET static inline xvf XV(ld)(const float *p)
{
    xvf v;
    memcpy(&v, p, sizeof v);
    return v;
}

XV_TARGET static inline void XV(st)(float *p, xvf v)
{
    memcpy(p, &v, sizeof v);
}

XV_TARGET static inline xvf XV(splat)(float s)
{
    xvf v = {0};
    return v + s;
}

/* min, max, (a < b ? x : y) and a * b + c from the instantiation's XV_MIN, XV_MAX, XV_SELLT
 * and XV_FMA: intrinsics where the ISA has them (a generic comparison would materialise a
 * mask vector), fused multiply-adds where it has them (C11 forbids contracting a * b + c). */
XV_TARGET static inline xvf XV(vmin)(xvf a, xvf b)
{
    return XV_MIN(a, b);
}

XV_TARGET static inline xvf XV(vmax)(xvf a, xvf b)
{
    return XV_MAX(a, b);
}

XV_TARGET static inline xvf XV(sellt)(xvf a, xvf b, xvf x, xvf y)
{
    return XV_SELLT(a, b, x, y);
}

XV_TARGET static inline xvf XV(fma)(xvf a, xvf b, float c)
{
    return XV_FMA(a, b, XV(splat)(c));
}

XV_TARGET static inline xvf XV(vabs)(xvf a)
{
    return (xvf)((xvi)a & 0x7fffffff);
}

XV_TARGET static inline float XV(hsum)(xvf v)
{
    return XV_HSUM(v);
}

XV_TARGET static inline float XV(hmax)(xvf v)
{
    return XV_HMAX(v);
}

/* The first n (< XV_W) floats of p in a vector, `fill` in the other lanes. */
XV_TARGET static inline xvf XV(ld_part)(const float *p, size_t n, float fill)
{
    float buf[XV_W];
    for (size_t j = 0; j < XV_W; j++) buf[j] = j < n ? p[j] : fill;
    return XV(ld)(buf);
}

XV_TARGET static inline void XV(st_part)(float *p, size_t n, xvf v)
{
    float buf[XV_W];
    XV(st)(buf, v);
    memcpy(p, buf, n * sizeof *p);
}

/* Cephes expf: x clamped so that 2^n stays a normal float (exp(88.37) < FLT_MAX; below
 * -87.33 the result is FLT_MIN instead of a denormal or zero, negligible wherever used). */
XV_TARGET static inline xvf XV(vexp)(xvf x)
{
    x = XV(vmin)(XV(vmax)(x, XV(splat)(-87.3365f)), XV(splat)(88.3762f));
    xvf t = XV(fma)(x, XV(splat)(1.44269504088896341f), 12582912.0f); /* rounds: 1.5 * 2^23 */
    xvf n = t - 12582912.0f;
    xvf r = XV_FMA(n, XV(splat)(-0.693359375f), x);
    r = XV_FMA(n, XV(splat)(2.12194440e-4f), r);
    xvf z = r * r;
    xvf p = XV(splat)(1.9875691500e-4f);
    p = XV(fma)(p, r, 1.3981999507e-3f);
    p = XV(fma)(p, r, 8.3334519073e-3f);
    p = XV(fma)(p, r, 4.1665795894e-2f);
    p = XV(fma)(p, r, 1.6666665459e-1f);
    p = XV(fma)(p, r, 5.0000001201e-1f);
    p = XV_FMA(p, z, r + 1.0f);
    xvi e = ((xvi)t - 0x4B400000 + 127) << 23;
    return p * (xvf)e;
}

XV_TARGET static inline xvf XV(vsigmoid)(xvf x)
{
    return 1.0f / (1.0f + XV(vexp)(-x));
}

/* Cephes tanhf: an odd polynomial below 0.625, 1 - 2 / (exp(2|x|) + 1) above. */
XV_TARGET static inline xvf XV(vtanh)(xvf x)
{
    xvf a = XV(vabs)(x), s = x * x;
    xvf p = XV(splat)(-5.70498872745e-3f);
    p = XV(fma)(p, s, 2.06390887954e-2f);
    p = XV(fma)(p, s, -5.37397155531e-2f);
    p = XV(fma)(p, s, 1.33314422036e-1f);
    p = XV(fma)(p, s, -3.33332819422e-1f);
    xvf small = XV_FMA(p * s, x, x);
    xvf big = 1.0f - 2.0f / (XV(vexp)(a + a) + 1.0f);
    big = (xvf)((xvi)big | ((xvi)x & INT32_MIN));
    return XV(sellt)(a, XV(splat)(0.625f), small, big);
}

/* erf on [-4, 4] (clamped: erf(4) is 1 in float) as x P(x^2) / Q(x^2), the odd/even
 * rational of Eigen's fast erf: absolute error 3.3e-7, no exp, one division. */
XV_TARGET static inline xvf XV(verf_rat)(xvf x)
{
    x = XV(vmin)(XV(vmax)(x, XV(splat)(-4.0f)), XV(splat)(4.0f));
    xvf x2 = x * x;
    xvf p = XV(splat)(-2.72614225801306e-10f);
    p = XV(fma)(p, x2, 2.77068142495902e-08f);
    p = XV(fma)(p, x2, -2.10102402082508e-06f);
    p = XV(fma)(p, x2, -5.69250639462346e-05f);
    p = XV(fma)(p, x2, -7.34990630326855e-04f);
    p = XV(fma)(p, x2, -2.95459980854025e-03f);
    p = XV(fma)(p, x2, -1.60960333262415e-02f);
    xvf q = XV(splat)(-1.45660718464996e-05f);
    q = XV(fma)(q, x2, -2.13374055278905e-04f);
    q = XV(fma)(q, x2, -1.68282697438203e-03f);
    q = XV(fma)(q, x2, -7.37332916720468e-03f);
    q = XV(fma)(q, x2, -1.42647390514189e-02f);
    return x * p / q;
}

/* gelu(x) = 0.5 x (1 + erf(x / sqrt 2)); relative error ~2e-7 where it matters (the left
 * tail, below 1e-4 in absolute terms, keeps absolute accuracy only). */
XV_TARGET static inline xvf XV(vgelu)(xvf x)
{
    xvf h = 0.5f * x;
    return XV_FMA(h, XV(verf_rat)(x * 0.70710678118654752f), h);
}

/* d gelu / dx = Phi(x) + x phi(x), Phi(x) = 0.5 (1 + erf(x / sqrt 2)) from the forward's
 * rational erf: one exp and one division (Phi from erfc, which keeps the left tail's relative
 * accuracy, cost a second exp and was the slowest vector line of a Transformer's backward; the
 * tail's gradients are below 1e-5 in absolute terms, where the forward keeps only absolute
 * accuracy too) */
XV_TARGET static inline xvf XV(vgelu_grad)(xvf x)
{
    xvf phi = XV(fma)(XV(verf_rat)(x * 0.70710678118654752f), XV(splat)(0.5f), 0.5f);
    return XV_FMA(x, XV(vexp)(-0.5f * x * x) * 0.39894228040143268f, phi);
}

/* One unary vector function over an array; the tail through a padded vector. */
#define XV_UNARY(fname, vfn)                                                                       \
    XV_TARGET static void XV(fname)(const float *x, float *y, size_t n)                            \
    {                                                                                              \
        size_t i = 0;                                                                              \
        for (; i + XV_W <= n; i += XV_W) XV(st)(y + i, vfn(XV(ld)(x + i)));                        \
        if (i < n) {                                                                               \
            float buf[XV_W] = {0};                                                                 \
            memcpy(buf, x + i, (n - i) * sizeof *buf);                                             \
            XV(st)(buf, vfn(XV(ld)(buf)));                                                         \
            memcpy(y + i, buf, (n - i) * sizeof *buf);                                             \
        }                                                                                          \
    }

XV_UNARY(k_sigmoid, XV(vsigmoid))
XV_UNARY(k_tanh, XV(vtanh))
XV_UNARY(k_gelu, XV(vgelu))
XV_UNARY(k_exp, XV(vexp))

/* relu: x < 0 ? 0 : x (NaN passes, as torch.relu); its backward from the saved y:
 * 0 < y ? dy : 0 (the reference's y > 0), as selects: no branch on the data's signs. */
XV_TARGET static void XV(k_relu)(const float *x, float *y, size_t n)
{
    xvf z = XV(splat)(0.0f);
    size_t i = 0;
    for (; i + XV_W <= n; i += XV_W) {
        xvf v = XV(ld)(x + i);
        XV(st)(y + i, XV(sellt)(v, z, z, v));
    }
    for (; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

XV_TARGET static void XV(k_relu_bwd)(const float *y, const float *dy, float *dx, size_t n)
{
    xvf z = XV(splat)(0.0f);
    size_t i = 0;
    for (; i + XV_W <= n; i += XV_W) XV(st)(dx + i, XV(sellt)(z, XV(ld)(y + i), XV(ld)(dy + i), z));
    for (; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* dx = dy * gelu'(x) */
XV_TARGET static void XV(k_gelu_bwd)(const float *x, const float *dy, float *dx, size_t n)
{
    size_t i = 0;
    for (; i + XV_W <= n; i += XV_W) XV(st)(dx + i, XV(ld)(dy + i) * XV(vgelu_grad)(XV(ld)(x + i)));
    if (i < n) {
        float bx[XV_W] = {0}, bd[XV_W] = {0};
        memcpy(bx, x + i, (n - i) * sizeof *bx);
        memcpy(bd, dy + i, (n - i) * sizeof *bd);
        XV(st)(bd, XV(ld)(bd) * XV(vgelu_grad)(XV(ld)(bx)));
        memcpy(dx + i, bd, (n - i) * sizeof *bd);
    }
}

/* Softmax (log_form 0) or log-softmax (1) of one contiguous line. */
XV_TARGET static void XV(k_softmax_line)(const float *x, float *y, size_t n, int log_form)
{
    size_t i, full = n / XV_W * XV_W, rest = n - full;
    xvf m = XV(splat)(-INFINITY);
    for (i = 0; i < full; i += XV_W) m = XV(vmax)(m, XV(ld)(x + i));
    if (rest) m = XV(vmax)(m, XV(ld_part)(x + full, rest, -INFINITY));
    float mx = XV(hmax)(m);
    xvf vm = XV(splat)(mx), vs = XV(splat)(0.0f);
    for (i = 0; i < full; i += XV_W) {
        xvf e = XV(vexp)(XV(ld)(x + i) - vm);
        if (!log_form) XV(st)(y + i, e);
        vs += e;
    }
    if (rest) {
        /* padding lanes at -inf: exp clamps them to FLT_MIN, so mask them out of the sum */
        xvf e = XV(vexp)(XV(ld_part)(x + full, rest, -INFINITY) - vm);
        e = XV(sellt)(XV(ld_part)(x + full, rest, -INFINITY), XV(splat)(-3e38f), XV(splat)(0.0f),
                      e);
        if (!log_form) XV(st_part)(y + full, rest, e);
        vs += e;
    }
    float sum = XV(hsum)(vs);
    if (log_form) {
        xvf lse = XV(splat)(mx + logf(sum));
        for (i = 0; i < full; i += XV_W) XV(st)(y + i, XV(ld)(x + i) - lse);
        if (rest) XV(st_part)(y + full, rest, XV(ld_part)(x + full, rest, 0.0f) - lse);
        return;
    }
    xvf inv = XV(splat)(1.0f / sum);
    for (i = 0; i < full; i += XV_W) XV(st)(y + i, XV(ld)(y + i) * inv);
    if (rest) XV(st_part)(y + full, rest, XV(ld_part)(y + full, rest, 0.0f) * inv);
}

/* Softmax backward of one contiguous line from the saved y: dx = y (dy - sum(dy y)); the
 * log-softmax form dx = dy - exp(y) sum(dy). */
XV_TARGET static void XV(k_softmax_bwd_line)(const float *y, const float *dy, float *dx, size_t n,
                                             int log_form)
{
    xvf vs = XV(splat)(0.0f);
    size_t i = 0;
    for (; i + XV_W <= n; i += XV_W)
        vs += log_form ? XV(ld)(dy + i) : XV(ld)(dy + i) * XV(ld)(y + i);
    float s = XV(hsum)(vs);
    for (; i < n; i++) s += log_form ? dy[i] : dy[i] * y[i];
    xvf sv = XV(splat)(s);
    for (i = 0; i + XV_W <= n; i += XV_W) {
        xvf yv = XV(ld)(y + i), g = XV(ld)(dy + i);
        XV(st)(dx + i, log_form ? g - XV(vexp)(yv) * sv : yv * (g - sv));
    }
    for (; i < n; i++) dx[i] = log_form ? dy[i] - expf(y[i]) * s : y[i] * (dy[i] - s);
}

/* Row mean and 1 / sqrt(biased variance + eps), two passes (no cancellation). */
XV_TARGET static inline void XV(ln_stats)(const float *x, size_t d, float eps, float *mean,
                                          float *rstd)
{
    xvf vs = XV(splat)(0.0f);
    size_t j = 0;
    for (; j + XV_W <= d; j += XV_W) vs += XV(ld)(x + j);
    float s = XV(hsum)(vs);
    for (; j < d; j++) s += x[j];
    float m = s / (float)d;
    xvf vm = XV(splat)(m), vv = XV(splat)(0.0f);
    for (j = 0; j + XV_W <= d; j += XV_W) {
        xvf e = XV(ld)(x + j) - vm;
        vv += e * e;
    }
    float v = XV(hsum)(vv);
    for (; j < d; j++) v += (x[j] - m) * (x[j] - m);
    *mean = m;
    *rstd = 1.0f / sqrtf(v / (float)d + eps);
}

/* torch.nn.LayerNorm over rows of d: y = (x - mean) rstd w + b (w, b may be NULL). */
XV_TARGET static void XV(k_layernorm)(const float *x, float *y, const float *w, const float *b,
                                      size_t rows, size_t d, float eps)
{
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float *yr = y + r * d, m, rs;
        XV(ln_stats)(xr, d, eps, &m, &rs);
        xvf vm = XV(splat)(m), vr = XV(splat)(rs);
        size_t j = 0;
        for (; j + XV_W <= d; j += XV_W) {
            xvf t = (XV(ld)(xr + j) - vm) * vr;
            if (w) t = t * XV(ld)(w + j) + XV(ld)(b + j);
            XV(st)(yr + j, t);
        }
        for (; j < d; j++) {
            float t = (xr[j] - m) * rs;
            yr[j] = w ? t * w[j] + b[j] : t;
        }
    }
}

/*
 * LayerNorm backward over rows of d: with xhat = (x - mean) rstd and g = dy w,
 * dx = rstd (g - mean(g) - xhat mean(g xhat)) (dx may be NULL); accw += dy xhat and
 * accb += dy (either may be NULL), column by column.
 */
XV_TARGET static void XV(k_layernorm_bwd)(const float *x, const float *dy, const float *w,
                                          float *dx, float *accw, float *accb, size_t rows,
                                          size_t d, float eps)
{
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * d, *gr = dy + r * d;
        float m, rs;
        XV(ln_stats)(xr, d, eps, &m, &rs);
        xvf vm = XV(splat)(m), vr = XV(splat)(rs), vsg = XV(splat)(0.0f), vsx = vsg;
        size_t j = 0;
        for (; j + XV_W <= d; j += XV_W) {
            xvf xh = (XV(ld)(xr + j) - vm) * vr, gy = XV(ld)(gr + j);
            if (accw) XV(st)(accw + j, XV(ld)(accw + j) + gy * xh);
            if (accb) XV(st)(accb + j, XV(ld)(accb + j) + gy);
            xvf g = w ? gy * XV(ld)(w + j) : gy;
            vsg += g;
            vsx += g * xh;
        }
        float sg = XV(hsum)(vsg), sx = XV(hsum)(vsx);
        for (; j < d; j++) {
            float xh = (xr[j] - m) * rs, g = w ? gr[j] * w[j] : gr[j];
            if (accw) accw[j] += gr[j] * xh;
            if (accb) accb[j] += gr[j];
            sg += g;
            sx += g * xh;
        }
        if (!dx) continue;
        sg /= (float)d;
        sx /= (float)d;
        float *dr = dx + r * d;
        xvf vg = XV(splat)(sg), vx = XV(splat)(sx);
        for (j = 0; j + XV_W <= d; j += XV_W) {
            xvf xh = (XV(ld)(xr + j) - vm) * vr, gy = XV(ld)(gr + j);
            xvf g = w ? gy * XV(ld)(w + j) : gy;
            XV(st)(dr + j, vr * (g - vg - xh * vx));
        }
        for (; j < d; j++) {
            float xh = (xr[j] - m) * rs, g = w ? gr[j] * w[j] : gr[j];
            dr[j] = rs * (g - sg - xh * sx);
        }
    }
}

/*
 * C[m, n] = A[m, k] B[k, n] for small operands (attention's per-head products): B (or B^T
 * when tb, given as [n, k]) is first copied into buf as k rows of n rounded up to whole
 * vectors (zero padded), small enough to stay in L1; then register tiles of XV_RB rows by
 * up to 6 vectors accumulate over k with fused multiply-adds (every C element summed over
 * p in order, whatever the tile).  A C one or two vectors wide (a head's 16 columns) takes
 * tiles of XV_RBT rows instead, enough independent sums to keep the FMA units busy.  A is
 * read through strides, so that A^T (ta: A given as [k, m]) needs no copy.  buf holds
 * k * round_up(n, 16) floats.
 */
/* every lane = *p: a broadcast load (splat's 0 + s is an add before the broadcast) */
XV_TARGET static inline xvf XV(bcast)(const float *p)
{
#ifdef XV_BCAST
    /* the ISA's broadcast: GCC -O3 turned the lane loop below into one masked broadcast per
     * lane (16 per load), which halved the Transformer's speed in release builds */
    return XV_BCAST(p);
#else
    xvf v;
    for (int l = 0; l < XV_W; l++) v[l] = *p;
    return v;
#endif
}
#ifndef XV_UNROLL
/* the tiles' loops unrolled whole, so that the accumulators live in registers */
#define XV_UNROLL _Pragma("GCC unroll 16")
#endif
#define XV_TILE(RB, CB)                                                                            \
    XV_TARGET static void XV(tile_##RB##_##CB)(int64_t k, const float *a, int64_t rs, int64_t ps,  \
                                               const float *bp, int64_t npad, float *acc_out)      \
    {                                                                                              \
        xvf acc[RB][CB];                                                                           \
        XV_UNROLL for (int r = 0; r < RB; r++) XV_UNROLL for (int q = 0; q < CB; q++) acc[r][q] =  \
            XV(splat)(0.0f);                                                                       \
        for (int64_t p = 0; p < k; p++) {                                                          \
            xvf bv[CB];                                                                            \
            const float *ap = a + p * ps;                                                          \
            XV_UNROLL for (int q = 0; q < CB; q++) bv[q] = XV(ld)(bp + p * npad + q * XV_W);       \
            XV_UNROLL for (int r = 0; r < RB; r++)                                                 \
            {                                                                                      \
                xvf av = XV(bcast)(ap + r * rs);                                                   \
                XV_UNROLL for (int q = 0; q < CB; q++) acc[r][q] = XV_FMA(av, bv[q], acc[r][q]);   \
            }                                                                                      \
        }                                                                                          \
        XV_UNROLL for (int r = 0; r < RB; r++) XV_UNROLL for (int q = 0; q < CB; q++)              \
            XV(st)(acc_out + (r * CB + q) * XV_W, acc[r][q]);                                      \
    }
XV_TILE(XV_RB, 6)
XV_TILE(XV_RB, 1)
XV_TILE(1, 6)
XV_TILE(1, 1)
XV_TILE(XV_RBT, 1)
XV_TILE(XV_RBT, 2)

XV_TARGET static void XV(k_gemm_small)(int ta, int tb, int64_t m, int64_t n, int64_t k,
                                       const float *a, int64_t lda, const float *b, int64_t ldb,
                                       float *c, int64_t ldc, float *buf)
{
    int64_t nv = (n + XV_W - 1) / XV_W, npad = nv * XV_W;
    int64_t rs = ta ? 1 : lda, ps = ta ? lda : 1; /* A's element (r, p) at r rs + p ps */
    for (int64_t p = 0; p < k; p++) {
        float *row = buf + p * npad;
        if (tb)
            for (int64_t j = 0; j < n; j++) row[j] = b[j * ldb + p];
        else
            memcpy(row, b + p * ldb, (size_t)n * sizeof *row);
        for (int64_t j = n; j < npad; j++) row[j] = 0.0f;
    }
    enum { OUT_A = XV_RB * 6 * XV_W, OUT_B = XV_RBT * 2 * XV_W };
    float out[OUT_A > OUT_B ? OUT_A : OUT_B];
    for (int64_t j0 = 0; j0 < nv; j0 += 6) {
        int64_t cb = nv - j0 < 6 ? nv - j0 : 6;
        const float *bp = buf + j0 * XV_W;
        for (int64_t i0 = 0; i0 < m;) {
            const float *ar = a + i0 * rs;
            if (cb <= 2 && m - i0 >= XV_RBT) {
                /* a narrow C: tall tiles, all of its vectors at once */
                if (cb == 2)
                    XV(tile_XV_RBT_2)(k, ar, rs, ps, bp, npad, out);
                else
                    XV(tile_XV_RBT_1)(k, ar, rs, ps, bp, npad, out);
                int64_t col = j0 * XV_W, cols = n - col < cb * XV_W ? n - col : cb * XV_W;
                for (int64_t r = 0; r < XV_RBT; r++)
                    memcpy(c + (i0 + r) * ldc + col, out + r * cb * XV_W, (size_t)cols * sizeof *c);
                i0 += XV_RBT;
                continue;
            }
            int64_t rb = m - i0 >= XV_RB ? XV_RB : 1;
            /* 6 vectors at once where they exist, then one at a time */
            for (int64_t q0 = 0; q0 < cb;) {
                int64_t w = cb - q0 >= 6 ? 6 : 1;
                if (rb == XV_RB && w == 6)
                    XV(tile_XV_RB_6)(k, ar, rs, ps, bp + q0 * XV_W, npad, out);
                else if (rb == XV_RB)
                    XV(tile_XV_RB_1)(k, ar, rs, ps, bp + q0 * XV_W, npad, out);
                else if (w == 6)
                    XV(tile_1_6)(k, ar, rs, ps, bp + q0 * XV_W, npad, out);
                else
                    XV(tile_1_1)(k, ar, rs, ps, bp + q0 * XV_W, npad, out);
                for (int64_t r = 0; r < rb; r++) {
                    int64_t col = (j0 + q0) * XV_W, cols = n - col < w * XV_W ? n - col : w * XV_W;
                    memcpy(c + (i0 + r) * ldc + col, out + r * w * XV_W, (size_t)cols * sizeof *c);
                }
                q0 += w;
            }
            i0 += rb;
        }
    }
}

/*
 * out[j] = sum over r < rows of z[r ld + j], j < n, in double and in row order: each lane adds
 * its column's values one row after the other from 0, as the scalar loop does, so the sums are
 * bitwise that loop's (the bias gradients' order, the reference's).  The rows are read front
 * to back (a gradient of 6 MB streams from memory; column strips down the rows measured
 * slower), the sums kept in `out` (the caller's chunk: in L1), a vector of doubles at a time.
 */
XV_TARGET static void XV(k_colsum_acc)(const float *z, size_t rows, size_t ld, size_t n,
                                       double *out)
{
    for (size_t r = 0; r < rows; r++) {
        const float *zr = z + r * ld;
        size_t j = 0;
        for (; j + 2 * XV_DW <= n; j += 2 * XV_DW) {
            xvh h0, h1;
            xvd a0, a1;
            memcpy(&h0, zr + j, sizeof h0);
            memcpy(&h1, zr + j + XV_DW, sizeof h1);
            memcpy(&a0, out + j, sizeof a0);
            memcpy(&a1, out + j + XV_DW, sizeof a1);
            a0 += __builtin_convertvector(h0, xvd);
            a1 += __builtin_convertvector(h1, xvd);
            memcpy(out + j, &a0, sizeof a0);
            memcpy(out + j + XV_DW, &a1, sizeof a1);
        }
        for (; j < n; j++) out[j] += (double)zr[j];
    }
}

XV_TARGET static void XV(k_colsum)(const float *z, size_t rows, size_t ld, size_t n, double *out)
{
    for (size_t j = 0; j < n; j++) out[j] = 0.0;
    XV(k_colsum_acc)(z, rows, ld, n, out);
}

/*
 * One LSTM step of one batch row, in place: g holds the pre-activations (biases included)
 * of the gates i, f, g, o, each h wide, and receives their activations; c = f cprev + i g
 * (cprev NULL at the first step), h = o tanh(c).  c may be cprev.
 */
XV_TARGET static void XV(k_lstm_cell)(float *g, const float *cprev, float *c, float *hout, size_t h)
{
    float *gi = g, *gf = g + h, *gg = g + 2 * h, *go = g + 3 * h;
    size_t j = 0;
    for (; j + XV_W <= h; j += XV_W) {
        xvf i = XV(vsigmoid)(XV(ld)(gi + j)), f = XV(vsigmoid)(XV(ld)(gf + j));
        xvf gv = XV(vtanh)(XV(ld)(gg + j)), o = XV(vsigmoid)(XV(ld)(go + j));
        xvf cv = i * gv;
        if (cprev) cv = f * XV(ld)(cprev + j) + cv;
        XV(st)(gi + j, i);
        XV(st)(gf + j, f);
        XV(st)(gg + j, gv);
        XV(st)(go + j, o);
        XV(st)(c + j, cv);
        XV(st)(hout + j, o * XV(vtanh)(cv));
    }
    if (j < h) {
        float bi[XV_W] = {0}, bf[XV_W] = {0}, bg[XV_W] = {0}, bo[XV_W] = {0}, bc[XV_W] = {0};
        size_t r = (h - j) * sizeof(float);
        memcpy(bi, gi + j, r);
        memcpy(bf, gf + j, r);
        memcpy(bg, gg + j, r);
        memcpy(bo, go + j, r);
        if (cprev) memcpy(bc, cprev + j, r);
        xvf i = XV(vsigmoid)(XV(ld)(bi)), f = XV(vsigmoid)(XV(ld)(bf));
        xvf gv = XV(vtanh)(XV(ld)(bg)), o = XV(vsigmoid)(XV(ld)(bo));
        xvf cv = i * gv;
        if (cprev) cv = f * XV(ld)(bc) + cv;
        xvf hv = o * XV(vtanh)(cv);
        XV(st)(bi, i);
        XV(st)(bf, f);
        XV(st)(bg, gv);
        XV(st)(bo, o);
        XV(st)(bc, cv);
        memcpy(gi + j, bi, r);
        memcpy(gf + j, bf, r);
        memcpy(gg + j, bg, r);
        memcpy(go + j, bo, r);
        memcpy(c + j, bc, r);
        XV(st)(bc, hv);
        memcpy(hout + j, bc, r);
    }
}

/*
 * The LSTM cell's backward for one batch row and step: st holds the saved i, f, g, o and c
 * (h wide each, as the workspace), cprev the previous cell (NULL at the first step), dh the
 * gradient reaching h_t (dh_in + the recurrent part, already summed); carry holds
 * dc_{t+1} f_{t+1} (zero at the top) and receives dc_t f_t.  Writes dgates (4h).
 */
XV_TARGET static void XV(k_lstm_cell_bwd)(const float *st, const float *cprev, const float *dh,
                                          float *carry, float *dg, size_t h)
{
    float bufs[8][XV_W];
    for (size_t j = 0; j < h; j += XV_W) {
        size_t r = h - j < XV_W ? h - j : XV_W;
        xvf i, f, g, o, c, cp, d, cr;
        if (r == XV_W) {
            i = XV(ld)(st + j);
            f = XV(ld)(st + h + j);
            g = XV(ld)(st + 2 * h + j);
            o = XV(ld)(st + 3 * h + j);
            c = XV(ld)(st + 4 * h + j);
            cp = cprev ? XV(ld)(cprev + j) : XV(splat)(0.0f);
            d = XV(ld)(dh + j);
            cr = XV(ld)(carry + j);
        } else {
            const float *src[8] = {st + j,         st + h + j,     st + 2 * h + j,
                                   st + 3 * h + j, st + 4 * h + j, cprev ? cprev + j : NULL,
                                   dh + j,         carry + j};
            memset(bufs, 0, sizeof bufs);
            for (int k = 0; k < 8; k++)
                if (src[k]) memcpy(bufs[k], src[k], r * sizeof(float));
            i = XV(ld)(bufs[0]);
            f = XV(ld)(bufs[1]);
            g = XV(ld)(bufs[2]);
            o = XV(ld)(bufs[3]);
            c = XV(ld)(bufs[4]);
            cp = XV(ld)(bufs[5]);
            d = XV(ld)(bufs[6]);
            cr = XV(ld)(bufs[7]);
        }
        xvf tc = XV(vtanh)(c);
        xvf dc = d * o * (1.0f - tc * tc) + cr;
        xvf di = dc * g * i * (1.0f - i), df = dc * cp * f * (1.0f - f);
        xvf dgg = dc * i * (1.0f - g * g), dov = d * tc * o * (1.0f - o);
        xvf nc = dc * f;
        if (r == XV_W) {
            XV(st)(dg + j, di);
            XV(st)(dg + h + j, df);
            XV(st)(dg + 2 * h + j, dgg);
            XV(st)(dg + 3 * h + j, dov);
            XV(st)(carry + j, nc);
        } else {
            XV(st)(bufs[0], di);
            XV(st)(bufs[1], df);
            XV(st)(bufs[2], dgg);
            XV(st)(bufs[3], dov);
            XV(st)(bufs[4], nc);
            memcpy(dg + j, bufs[0], r * sizeof(float));
            memcpy(dg + h + j, bufs[1], r * sizeof(float));
            memcpy(dg + 2 * h + j, bufs[2], r * sizeof(float));
            memcpy(dg + 3 * h + j, bufs[3], r * sizeof(float));
            memcpy(carry + j, bufs[4], r * sizeof(float));
        }
    }
}

/*
 * Adam / AdamW over n elements, in double per element as the reference (ops/ref/k_optim.c)
 * and rounded once when stored; k = {beta1, beta2, eps, wd, step_size, 1 / sqrt(bias
 * correction 2), decay}.  Dividing by sqrt(bc2) became a multiplication by its inverse: a
 * double ulp, invisible after rounding to float.
 */
XV_TARGET static void XV(k_adam)(float *p, const float *g, float *m, float *v, size_t n,
                                 const double *k, int decoupled)
{
    double b1 = k[0], b2 = k[1], eps = k[2], wd = k[3], ss = k[4], ibc = k[5], decay = k[6];
    size_t i = 0;
    for (; i + XV_DW <= n; i += XV_DW) {
        xvh hp, hg, hm, hv;
        memcpy(&hp, p + i, sizeof hp);
        memcpy(&hg, g + i, sizeof hg);
        memcpy(&hm, m + i, sizeof hm);
        memcpy(&hv, v + i, sizeof hv);
        xvd pi = __builtin_convertvector(hp, xvd), gi = __builtin_convertvector(hg, xvd);
        xvd mi = __builtin_convertvector(hm, xvd), vi = __builtin_convertvector(hv, xvd);
        if (decoupled)
            pi = pi * decay;
        else if (wd != 0.0)
            gi = gi + wd * pi;
        mi = mi * b1 + gi * (1.0 - b1);
        vi = vi * b2 + (1.0 - b2) * gi * gi;
        xvd denom = XV_SQRTD(vi) * ibc + eps;
        pi = pi - ss * mi / denom;
        hp = __builtin_convertvector(pi, xvh);
        hm = __builtin_convertvector(mi, xvh);
        hv = __builtin_convertvector(vi, xvh);
        memcpy(p + i, &hp, sizeof hp);
        memcpy(m + i, &hm, sizeof hm);
        memcpy(v + i, &hv, sizeof hv);
    }
    for (; i < n; i++) {
        double pi = (double)p[i], gi = (double)g[i];
        if (decoupled)
            pi *= decay;
        else if (wd != 0.0)
            gi += wd * pi;
        double mi = (double)m[i] * b1 + gi * (1.0 - b1);
        double vi = (double)v[i] * b2 + (1.0 - b2) * gi * gi;
        double denom = sqrt(vi) * ibc + eps;
        m[i] = (float)mi;
        v[i] = (float)vi;
        p[i] = (float)(pi - ss * mi / denom);
    }
}

/* The kernel table of this instruction set. */
const ntg_simd_vk XV(ntg__simd_vk_) = {
    XV_NAME,
    XV(k_relu),
    XV(k_relu_bwd),
    XV(k_sigmoid),
    XV(k_tanh),
    XV(k_gelu),
    XV(k_exp),
    XV(k_gelu_bwd),
    XV(k_softmax_line),
    XV(k_softmax_bwd_line),
    XV(k_layernorm),
    XV(k_layernorm_bwd),
    XV(k_gemm_small),
    XV(k_lstm_cell),
    XV(k_lstm_cell_bwd),
    XV(k_adam),
    XV(k_colsum),
    XV(k_colsum_acc),
};

#undef xvf
#undef xvi
#undef xvd
#undef xvh
#undef XV_DW
