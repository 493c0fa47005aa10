/* model_io.h — how training, evaluation and forecasting feed a forecasting plan with windows. */
#ifndef NTG_MODEL_IO_H
#define NTG_MODEL_IO_H

#include "plan_int.h"
#include "series.h"

/* The tensors a forecasting plan exchanges with series data: x [batch, L] in (and the
 * covariates hist_exog, futr_exog, stat_exog when the plan declares them),
 * y [batch, h] out (or [batch, Q, h] / [batch, h, Q] for quantile models), and for
 * training plans the target t [batch, h], an optional mask and the optimizer control. */
typedef struct ntg_model_io {
    uint32_t x, y, t, mask, ctl; /* tensor ids; t, mask, ctl NTG_NONE when absent */
    size_t L, h;
    size_t nq;    /* quantiles, 0 for point models */
    int qaxis;    /* y's quantile axis (1 or 2) when nq > 0 */
    size_t point; /* the quantile that is the point forecast (train.point_quantile) */
    double quantiles[64];
    int dist;      /* distribution heads: 2 (normal: loc, raw scale) or 3 (studentt: and raw df)
                    * raw parameters per step in the plan's output y [batch, dist, h]; 0 else.
                    * The runtime decodes them (ntg__model_decode) into nq quantiles laid out
                    * as a quantile model's [batch, nq, h] (qaxis 1), the point being 0.5. */
    int conformal; /* point models with stored conformal intervals: the number of levels; the
                    * runtime presents them as quantiles (1 -+ level) / 2 around the point
                    * (ntg__model_conformal), nq = 2 * conformal + 1 */
    double conf_levels[31];
    int classes;            /* classification heads (train.loss xent): 2 or 3 classes, the plan's
                             * output y [batch, h, classes] of logits; 0 else */
    double class_threshold; /* the dead band of 3 classes (train.class_threshold), scaled axis */
    int g_infer, g_eval, g_train; /* program indices, -1 when absent */
    /* covariate inputs (exog.h), NTG_NONE when the plan takes none: hist_exog
     * [batch, n_hist, L], futr_exog [batch, n_futr, L + h], stat_exog [batch, n_stat] */
    uint32_t hist, futr, stat;
    size_t n_hist, n_futr, n_stat;
} ntg_model_io;

/* Find them; NTG_ERR_SHAPE / NTG_ERR_STATE naming what the plan lacks. */
ntg_status ntg__model_io(const struct ntg_plan *p, ntg_model_io *io, ntg_error *err);

/* A train.* setting: the override of that name if any, else the plan's metadata, else
 * NULL. */
const char *ntg__setting(const struct ntg_plan *p, const ntg_define *over, size_t n_over,
                         const char *key);

/* Columns chosen by spec ("all" or NULL: all; else comma-separated names): malloc'ed
 * index array.  NTG_ERR_NOT_FOUND naming an unknown column, NTG_ERR_INVALID_ARG naming
 * a column chosen twice. */
ntg_status ntg__select_columns(const ntg_series *s, const char *spec, int **cols, size_t *n,
                               ntg_error *err);

/* The plan's fitted scaler bound to `cols` of `s` (ntg__scaler_select), or, when the plan
 * has none, a scaler of the plan's train.scaler kind (or `kind` when not NULL) fitted on
 * rows [0, train_rows).  *window gets the per-window scaler. */
ntg_status ntg__model_scaler(const struct ntg_plan *p, const ntg_series *s, const int *cols,
                             size_t n_cols, size_t train_rows, const char *kind,
                             const char *window_kind, ntg_scaler **out, ntg_window_scaler *window,
                             ntg_error *err);

/* For distribution heads: n windows of raw parameters raw [n, dist, h] into their quantiles
 * y [n, nq, h] (loc + sigma * the standard quantile of each level). */
void ntg__model_decode(const ntg_model_io *io, const float *raw, size_t n, float *y);

/* A conformal plan's half-widths, widths[l * h + r] for level l (ascending) and step r, in the
 * model's output scale: malloc'ed into *widths.  NTG_ERR_DATA naming a malformed entry. */
ntg_status ntg__model_conformal_widths(const struct ntg_plan *p, const ntg_model_io *io,
                                       double **widths, ntg_error *err);
/* n windows of point forecasts pt [n, h] into y [n, nq, h]: point -+ the half-widths. */
void ntg__model_conformal(const ntg_model_io *io, const double *widths, const float *pt, size_t n,
                          float *y);

/* Classification heads: the class of each target of n windows, in place: t[i * h + r] (the
 * scaled target) becomes the class of d = t[i * h + r] - x[i * L + L - 1] (the change against
 * the window's last input): 2 classes 0 (d <= 0, down) and 1 (d > 0, up); 3 classes 0
 * (d < -threshold), 1 (|d| <= threshold, flat), 2 (d > threshold).  docs/training.md. */
void ntg__model_labels(const ntg_model_io *io, const float *x, float *t, size_t n);

/* Classification heads: n windows of logits [n, h, classes] into probabilities, in place
 * (a softmax per step, in double). */
void ntg__model_softmax(const ntg_model_io *io, float *y, size_t n);

/* Quantile q of window i's forecast step r in y (the layout io says). */
static inline float ntg__model_y(const ntg_model_io *io, const float *y, size_t i, size_t r,
                                 size_t q)
{
    if (io->nq == 0) return y[i * io->h + r];
    if (io->qaxis == 1) return y[(i * io->nq + q) * io->h + r];
    return y[(i * io->h + r) * io->nq + q];
}

/* Window i's point forecast (quantile io->point, the median unless the graph names another
 * level, for quantile models) into p[i*h..]. */
void ntg__model_point(const ntg_model_io *io, const float *y, size_t n, float *p);

#endif /* NTG_MODEL_IO_H */
