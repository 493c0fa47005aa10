/* metrics_cls.h — scores of classification heads: accuracy, log-loss and Brier score, beside
 * the majority-class baseline of the train split's labels (docs/training.md, "Classification
 * heads"). */
#ifndef NTG_METRICS_CLS_H
#define NTG_METRICS_CLS_H

#include <stddef.h>
#include <stdint.h>

#include "ntg_error.h"

typedef struct ntg_cmetrics ntg_cmetrics;

/* An accumulator for n_cols columns and nc (2 .. 64) classes. */
ntg_status ntg__cmetrics_create(size_t n_cols, size_t nc, ntg_cmetrics **out, ntg_error *err);
void ntg__cmetrics_free(ntg_cmetrics *m);

/* n labels of the train split (any column): the baseline's class frequencies. */
void ntg__cmetrics_add_prior(ntg_cmetrics *m, const float *labels, size_t n);

/* n points of column j: probabilities p[k * nc + c], labels[k] (0 .. nc-1). */
void ntg__cmetrics_add(ntg_cmetrics *m, size_t j, const float *p, const float *labels, size_t n);

typedef struct ntg_cmetric_values {
    double accuracy, log_loss, brier;                /* the model's; NaN when nothing was scored */
    double base_accuracy, base_log_loss, base_brier; /* always predicting the train frequencies
                                                      * (its argmax: the majority class) */
    int majority;                                    /* the train split's most frequent class */
    uint64_t n;
} ntg_cmetric_values;

/* Column j (j == n_cols: all pooled). */
void ntg__cmetrics_values(const ntg_cmetrics *m, size_t j, ntg_cmetric_values *out);

#endif /* NTG_METRICS_CLS_H */
