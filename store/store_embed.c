/* store_embed.c — the similarity embedding of a plan: architecture features and weight statistics.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plan_int.h"
#include "store_int.h"

/* 16 architecture features and 16 weight statistics, each block scaled to unit length and
 * weighted equally, so that neither the structure nor the values alone decide; docs/store.md
 * lists every feature.  Scales put each feature roughly in [0, 1]. */
#define ARCH 16
#define STATS 16
_Static_assert(ARCH + STATS == NTG__EMBED_DIM, "embedding layout");

enum { F_DENSE, F_ATTN, F_LSTM, F_NORM, F_ACT, F_POOL, F_SHAPE, F_ELEM, N_FAMILIES };

static int family(uint32_t code)
{
    switch (code) {
    case NTG_OP_dense:
        return F_DENSE;
    case NTG_OP_matmul:
    case NTG_OP_transpose:
    case NTG_OP_softmax:
    case NTG_OP_log_softmax:
    case NTG_OP_posenc:
        return F_ATTN;
    case NTG_OP_lstm:
        return F_LSTM;
    case NTG_OP_layernorm:
        return F_NORM;
    case NTG_OP_relu:
    case NTG_OP_gelu:
    case NTG_OP_tanh:
    case NTG_OP_sigmoid:
        return F_ACT;
    case NTG_OP_maxpool1d:
    case NTG_OP_interp_linear:
        return F_POOL;
    case NTG_OP_flip:
    case NTG_OP_slice:
    case NTG_OP_reshape:
    case NTG_OP_concat:
    case NTG_OP_split:
        return F_SHAPE;
    default:
        return F_ELEM;
    }
}

static double meta_num(const ntg_plan *p, const char *key)
{
    const char *v = ntg_plan_meta(p, key);
    if (!v) return 0;
    char *end;
    double x = strtod(v, &end);
    return end != v && isfinite(x) && x > 0 ? x : 0;
}

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

void ntg__embed_plan(const ntg_plan *p, float out[NTG__EMBED_DIM])
{
    double a[ARCH] = {0}, w[STATS] = {0};
    const ntg_plan_image *im = &p->img;

    /* architecture: size, op mix of the infer program, horizon, window, widths */
    const ntg_program_view *inf = &p->programs[p->infer_program];
    double fam[N_FAMILIES] = {0};
    for (uint32_t i = 0; i < inf->n_ops; i++) fam[family(im->ops[inf->ops[i]].code)] += 1;
    double nops = inf->n_ops ? (double)inf->n_ops : 1;
    a[0] = log10(1 + (double)im->info.param_elements) / 8;
    a[1] = log10(1 + (double)p->n_params) / 3;
    a[2] = log10(1 + (double)inf->n_ops) / 3;
    for (int f = 0; f < N_FAMILIES; f++) a[3 + f] = fam[f] / nops;
    a[11] = log10(1 + meta_num(p, "hparam.h")) / 3;
    a[12] = log10(1 + meta_num(p, "hparam.input_size")) / 3;
    double maxdim = 0, mats = 0, largest = 0;
    for (uint32_t k = 0; k < p->n_params; k++) {
        const ntg_tensor_rec *t = &im->tensors[p->param_ids[k]];
        if (t->rank >= 2) {
            mats++;
            for (int d = 0; d < t->rank; d++)
                if (t->dims[d] > maxdim) maxdim = t->dims[d];
        }
        if ((double)t->nbytes > largest) largest = (double)t->nbytes;
    }
    a[13] = log10(1 + maxdim) / 4;
    a[14] = log10(1 + mats) / 2;
    a[15] = im->info.param_elements ? largest / 4 / (double)im->info.param_elements : 0;

    /* weight statistics over every float32 parameter */
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

    unit(a, ARCH, sqrt(0.5));
    unit(w, STATS, sqrt(0.5));
    for (int i = 0; i < ARCH; i++) out[i] = (float)a[i];
    for (int i = 0; i < STATS; i++) out[ARCH + i] = (float)w[i];
}
