/* store_embed.c — the similarity embedding of a plan: an architecture signature, the model's
 * behaviour on fixed probe windows, and weight statistics (docs/store.md, "Similarity"). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plan_int.h"
#include "store_int.h"

/* Three blocks, each scaled to unit length and then by the square root of its weight, so that
 * the cosine of two embeddings is the weighted mean of the blocks' cosines (a block that is
 * all zeros in one of them, e.g. no probe could run, drops out of the sum):
 *   ARCH   feature-hashed tokens of the parameters (name pattern, name pattern + shape) and
 *          of the infer program's op mix: the same architecture gives the same block, an
 *          unrelated one a block near orthogonal to it;
 *   BEHAV  the forecasts on PROBES synthetic windows (seasonal, trending, random-walk, ...)
 *          fed in the model's own scaled units, minus the naive forecast, at SAMPLES steps:
 *          what the model learned (an untrained N-HiTS forecasts the last value);
 *   STATS  weight statistics (moments, histogram of magnitudes).  */
#define ARCH 32
#define PROBES 8
#define SAMPLES 6
#define BEHAV (PROBES * SAMPLES)
#define STATS 16
_Static_assert(ARCH + BEHAV + STATS == NTG__EMBED_DIM, "embedding layout");

#define W_ARCH 0.35
#define W_BEHAV 0.45
#define W_STATS 0.20

static double clampd(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

static void unit(double *x, int n, double weight)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i] * x[i];
    s = sqrt(s);
    for (int i = 0; i < n; i++) x[i] = s > 0 ? x[i] / s * weight : 0;
}

/* ------------------------------------------------------------ architecture */

static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Adds `weight` at the token's bucket with the token's sign (feature hashing). */
static void token(double *a, uint64_t h, double weight)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    a[h % ARCH] += (h >> 63) ? -weight : weight;
}

static void arch_block(const ntg_plan *p, double a[ARCH])
{
    const uint64_t basis = 0xcbf29ce484222325ull;
    size_t np = ntg_plan_param_count(p);
    for (size_t k = 0; k < np; k++) {
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        if (ntg_plan_param(p, k, &ti, NULL) != NTG_OK || !ti.name) continue;
        /* the name with every run of digits as '#': blocks.0.layers.1.weight and
         * blocks.2.layers.1.weight are one pattern */
        char pat[160];
        size_t n = 0;
        for (const char *c = ti.name; *c && n + 1 < sizeof pat; c++) {
            if (*c >= '0' && *c <= '9') {
                if (n == 0 || pat[n - 1] != '#') pat[n++] = '#';
            } else {
                pat[n++] = *c;
            }
        }
        uint64_t h = fnv(basis, pat, n);
        token(a, h, 1);
        for (int d = 0; d < ti.rank; d++) {
            uint64_t x = (uint64_t)ti.shape[d];
            h = fnv(h, (const char *)&x, sizeof x);
        }
        token(a, h, 1);
    }
    /* the op mix of the infer program, as much weight in all as the parameters' tokens */
    const ntg_plan_image *im = &p->img;
    const ntg_program_view *inf = &p->programs[p->infer_program];
    double share = inf->n_ops ? (double)(2 * np + 1) / (double)inf->n_ops : 0;
    for (uint32_t i = 0; i < inf->n_ops; i++) {
        uint32_t code = im->ops[inf->ops[i]].code;
        token(a, fnv(basis ^ 0x9e3779b97f4a7c15ull, (const char *)&code, sizeof code), share);
    }
}

/* --------------------------------------------------------------- behaviour */

/* Probe j's value at time t of a window of n: each a shape forecasters meet (the daily and
 * weekly seasons of hourly data, trends, a level shift, a random walk, noise), standardised
 * over the window afterwards.  A fixed generator: the same probes everywhere. */
static double probe_value(int j, size_t t, size_t n, uint64_t *rng)
{
    const double pi = 3.14159265358979323846;
    double x = (double)t, u;
    *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
    u = (double)(*rng >> 11) / 9007199254740992.0 - 0.5; /* [-0.5, 0.5) */
    switch (j) {
    case 0:
        return sin(2 * pi * x / 24) + 0.1 * u;
    case 1:
        return sin(2 * pi * x / 24) + 0.7 * sin(2 * pi * x / 168) + 0.1 * u;
    case 2:
        return x / (double)n + 0.2 * sin(2 * pi * x / 24) + 0.05 * u;
    case 3:
        return -x / (double)n + 0.3 * sin(2 * pi * x / 12) + 0.05 * u;
    case 4:
        return (t >= n * 3 / 4 ? 1.0 : 0.0) + 0.3 * sin(2 * pi * x / 24) + 0.05 * u;
    case 5:
        return sin(2 * pi * x / 7) + 0.1 * u;
    case 6:
        return (1 + 2 * x / (double)n) * sin(2 * pi * x / 24) + 0.05 * u;
    default:
        return u;
    }
}

/* Runs the infer program on the probes with the reference backend (the same numbers on every
 * host) and writes the block; all zeros when the plan is not a forecaster of one series
 * (x [batch, L] -> y [batch, h], [batch, k, h] or [batch, h, k]) or anything fails. */
static void behav_block(const ntg_plan *p, double b[BEHAV])
{
    ntg_tensor_info xi, yi;
    ntg_tensor_info_init(&xi);
    ntg_tensor_info_init(&yi);
    size_t nin = ntg_plan_input_count(p), nout = ntg_plan_output_count(p), k;
    for (k = 0; k < nin; k++)
        if (ntg_plan_input(p, k, &xi, NULL) == NTG_OK && xi.name && strcmp(xi.name, "x") == 0)
            break;
    if (k == nin || xi.rank != 2 || !xi.batched || xi.dtype != NTG_DTYPE_F32) return;
    for (k = 0; k < nout; k++)
        if (ntg_plan_output(p, k, &yi, NULL) == NTG_OK && yi.name && strcmp(yi.name, "y") == 0)
            break;
    if (k == nout || yi.rank < 2 || yi.rank > 3 || !yi.batched || yi.dtype != NTG_DTYPE_F32) return;
    size_t L = (size_t)xi.shape[1];
    if (L < 2 || L > (1u << 20)) return;
    size_t per = (size_t)yi.shape[1] * (yi.rank == 3 ? (size_t)yi.shape[2] : 1);
    /* the horizon axis: y [batch, h]; [batch, k, h] with k < h (distribution parameters,
     * the location first); [batch, h, k] (quantiles, the middle one) */
    size_t h, stride, first;
    if (yi.rank == 2) {
        h = per, stride = 1, first = 0;
    } else if (yi.shape[1] < yi.shape[2]) {
        h = (size_t)yi.shape[2], stride = 1, first = 0;
    } else {
        h = (size_t)yi.shape[1], stride = (size_t)yi.shape[2], first = stride / 2;
    }
    if (h < 1 || per > (1u << 20)) return;

    int maxb = ntg_plan_max_batch(p);
    size_t batch = maxb < 1 ? 0 : maxb < PROBES ? (size_t)maxb : PROBES;
    if (!batch) return;
    float *x = malloc(sizeof *x * L * batch), *y = malloc(sizeof *y * per * batch);
    ntg_session *s = NULL;
    ntg_session_options o;
    ntg_session_options_init(&o);
    o.backend = "cpu";
    o.threads = 1;
    o.max_batch = (int)batch;
    if (!x || !y || ntg_session_create(p, &o, &s, NULL) != NTG_OK) goto done;
    for (size_t j0 = 0; j0 < PROBES; j0 += batch) {
        size_t nb = PROBES - j0 < batch ? PROBES - j0 : batch;
        double last[PROBES];
        for (size_t r = 0; r < nb; r++) {
            uint64_t rng = 0x5eed0000u + j0 + r;
            double m = 0, m2 = 0;
            float *row = x + r * L;
            for (size_t t = 0; t < L; t++) {
                double v = probe_value((int)(j0 + r), t, L, &rng);
                row[t] = (float)v;
                m += v;
            }
            m /= (double)L;
            for (size_t t = 0; t < L; t++) m2 += (row[t] - m) * (row[t] - m);
            double sd = sqrt(m2 / (double)L);
            for (size_t t = 0; t < L; t++) row[t] = (float)((row[t] - m) / (sd > 0 ? sd : 1));
            last[r] = row[L - 1];
        }
        if (ntg_session_set_input(s, "x", x, nb * L, NULL) != NTG_OK ||
            ntg_session_run(s, (int)nb, NULL) != NTG_OK ||
            ntg_session_get_output(s, "y", y, nb * per, NULL) != NTG_OK)
            goto fail;
        for (size_t r = 0; r < nb; r++)
            for (size_t q = 0; q < SAMPLES; q++) {
                size_t step = q * h / SAMPLES;
                double v = y[r * per + first + step * stride] - last[r];
                b[(j0 + r) * SAMPLES + q] = isfinite(v) ? clampd(v, -10, 10) : 0;
            }
    }
    goto done;
fail:
    memset(b, 0, sizeof *b * BEHAV);
done:
    ntg_session_destroy(s);
    free(x);
    free(y);
}

/* ------------------------------------------------------------- weight stats */

static void stats_block(const ntg_plan *p, double w[STATS])
{
    const ntg_plan_image *im = &p->img;
    double n = 0, s1 = 0, s2 = 0, sabs = 0, maxabs = 0, small = 0, neg = 0, s4 = 0;
    double hist[5] = {0}, lstd_sum = 0, lstd_sq = 0, ntens = 0;
    double mat_abs = 0, mat_n = 0, vec_abs = 0, vec_n = 0;
    for (uint32_t k = 0; k < p->n_params; k++) {
        const ntg_tensor_rec *t = &im->tensors[p->param_ids[k]];
        if (t->dtype != NTG_DTYPE_F32) continue;
        const uint8_t *base = ntg__plan_weights(p, p->param_ids[k]);
        size_t m = (size_t)(t->nbytes / 4);
        double t1 = 0, t2 = 0;
        for (size_t i = 0; i < m; i++) {
            float f;
            memcpy(&f, base + 4 * i, 4);
            double x = f, ax = fabs(x);
            if (!isfinite(x)) continue;
            t1 += x;
            t2 += x * x;
            sabs += ax;
            if (ax > maxabs) maxabs = ax;
            small += ax < 1e-3;
            neg += x < 0;
            s4 += x * x * x * x;
            double l = ax > 0 ? log10(ax) : -30;
            hist[l < -4 ? 0 : l < -3 ? 1 : l < -2 ? 2 : l < -1 ? 3 : 4] += 1;
            if (t->rank >= 2) {
                mat_abs += ax;
                mat_n++;
            } else {
                vec_abs += ax;
                vec_n++;
            }
        }
        n += (double)m;
        s1 += t1;
        s2 += t2;
        if (m) {
            double mean = t1 / (double)m, var = t2 / (double)m - mean * mean;
            double lstd = log10(sqrt(var > 0 ? var : 0) + 1e-12);
            lstd_sum += lstd;
            lstd_sq += lstd * lstd;
            ntens++;
        }
    }
    if (n > 0) {
        double mean = s1 / n, m2 = s2 / n - mean * mean, m4 = s4 / n;
        w[0] = clampd(mean * 10, -3, 3);
        w[1] = clampd(sqrt(m2 > 0 ? m2 : 0) * 5, 0, 3);
        w[2] = clampd(sabs / n * 5, 0, 3);
        w[3] = clampd(log10(maxabs + 1e-12) / 4 + 1, -1, 2);
        w[4] = small / n;
        w[5] = neg / n;
        w[6] = m2 > 0 ? clampd(log10(m4 / (m2 * m2) + 1e-12) / 2, -1, 2) : 0;
        for (int b = 0; b < 5; b++) w[11 + b] = hist[b] / n;
    }
    if (ntens > 0) {
        double ml = lstd_sum / ntens, vl = lstd_sq / ntens - ml * ml;
        w[7] = clampd(ml / 3 + 1, -1, 2);
        w[8] = clampd(sqrt(vl > 0 ? vl : 0), 0, 3);
    }
    w[9] = mat_n > 0 ? clampd(mat_abs / mat_n * 5, 0, 3) : 0;
    w[10] = vec_n > 0 ? clampd(vec_abs / vec_n * 5, 0, 3) : 0;
}

void ntg__embed_plan(const ntg_plan *p, float out[NTG__EMBED_DIM])
{
    double a[ARCH] = {0}, b[BEHAV] = {0}, w[STATS] = {0};
    arch_block(p, a);
    behav_block(p, b);
    stats_block(p, w);
    unit(a, ARCH, sqrt(W_ARCH));
    unit(b, BEHAV, sqrt(W_BEHAV));
    unit(w, STATS, sqrt(W_STATS));
    for (int i = 0; i < ARCH; i++) out[i] = (float)a[i];
    for (int i = 0; i < BEHAV; i++) out[ARCH + i] = (float)b[i];
    for (int i = 0; i < STATS; i++) out[ARCH + BEHAV + i] = (float)w[i];
}
