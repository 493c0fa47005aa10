/* metrics_cls.c — accuracy, log-loss and Brier score of class probabilities, and the majority
 * baseline (metrics_cls.h). */
#include "metrics_cls.h"

#include <math.h>
#include <stdlib.h>

/* log(p) below this probability counts as log(this) (sklearn's log_loss clips the same way):
 * one confident miss must not make the mean infinite. */
#define CLS_P_MIN 1e-15

typedef struct cls_acc {
    double correct, log_loss, brier;
    double count[64]; /* labels seen per class, for the baseline */
    uint64_t n;
} cls_acc;

struct ntg_cmetrics {
    size_t n_cols, nc;
    double prior[64]; /* train labels per class */
    cls_acc *acc;     /* [n_cols + 1]: the last pools every column */
};

ntg_status ntg__cmetrics_create(size_t n_cols, size_t nc, ntg_cmetrics **out, ntg_error *err)
{
    *out = NULL;
    if (nc < 2 || nc > 64)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "class scores: 2 to 64 classes, not %zu", nc);
    ntg_cmetrics *m = calloc(1, sizeof *m);
    if (m) m->acc = calloc(n_cols + 1, sizeof *m->acc);
    if (!m || !m->acc) {
        ntg__cmetrics_free(m);
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    m->n_cols = n_cols;
    m->nc = nc;
    *out = m;
    return NTG_OK;
}

void ntg__cmetrics_free(ntg_cmetrics *m)
{
    if (!m) return;
    free(m->acc);
    free(m);
}

void ntg__cmetrics_add_prior(ntg_cmetrics *m, const float *labels, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        float l = labels[k];
        if (l >= 0 && (size_t)l < m->nc) m->prior[(size_t)l] += 1.0;
    }
}

static void acc_add(cls_acc *a, size_t nc, const float *p, size_t label)
{
    size_t best = 0;
    double b = 0.0;
    for (size_t c = 0; c < nc; c++) {
        if (p[c] > p[best]) best = c;
        double o = c == label ? 1.0 : 0.0;
        b += ((double)p[c] - o) * ((double)p[c] - o);
    }
    a->correct += best == label;
    a->log_loss -= log(fmax((double)p[label], CLS_P_MIN));
    a->brier += b;
    a->count[label] += 1.0;
    a->n++;
}

void ntg__cmetrics_add(ntg_cmetrics *m, size_t j, const float *p, const float *labels, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        float l = labels[k];
        if (!(l >= 0 && (size_t)l < m->nc)) continue; /* no label: a NaN target */
        acc_add(&m->acc[j], m->nc, p + k * m->nc, (size_t)l);
        acc_add(&m->acc[m->n_cols], m->nc, p + k * m->nc, (size_t)l);
    }
}

void ntg__cmetrics_values(const ntg_cmetrics *m, size_t j, ntg_cmetric_values *out)
{
    const cls_acc *a = &m->acc[j];
    double tot = 0.0, q[64];
    size_t maj = 0;
    for (size_t c = 0; c < m->nc; c++) {
        tot += m->prior[c];
        if (m->prior[c] > m->prior[maj]) maj = c;
    }
    /* the baseline's probabilities: the train frequencies (uniform without train labels) */
    for (size_t c = 0; c < m->nc; c++) q[c] = tot > 0 ? m->prior[c] / tot : 1.0 / (double)m->nc;
    double n = (double)a->n, bl = 0.0, bb = 0.0;
    for (size_t k = 0; k < m->nc; k++) {
        double b = 0.0;
        for (size_t c = 0; c < m->nc; c++) {
            double o = c == k ? 1.0 : 0.0;
            b += (q[c] - o) * (q[c] - o);
        }
        bl -= a->count[k] * log(fmax(q[k], CLS_P_MIN));
        bb += a->count[k] * b;
    }
    out->n = a->n;
    out->majority = (int)maj;
    out->accuracy = a->n ? a->correct / n : NAN;
    out->log_loss = a->n ? a->log_loss / n : NAN;
    out->brier = a->n ? a->brier / n : NAN;
    out->base_accuracy = a->n ? a->count[maj] / n : NAN;
    out->base_log_loss = a->n ? bl / n : NAN;
    out->base_brier = a->n ? bb / n : NAN;
}
