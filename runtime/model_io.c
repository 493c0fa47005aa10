/* model_io.c — binding series windows to a plan's inputs and outputs; settings and scalers. */
#include "model_io.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ntg_error.h"

ntg_status ntg__model_io(const ntg_plan *p, ntg_model_io *io, ntg_error *err)
{
    memset(io, 0, sizeof *io);
    io->t = io->mask = io->ctl = NTG_NONE;
    io->g_infer = p->infer_program;
    io->g_eval = ntg__plan_program(p, "eval");
    io->g_train = ntg__plan_program(p, "train_step");
    const ntg_program_rec *pr = &p->img.programs[io->g_infer];
    io->hist = io->futr = io->stat = NTG_NONE;
    io->x = NTG_NONE;
    for (uint32_t i = 0; i < pr->n_inputs; i++) {
        uint32_t id = p->img.indices[pr->inputs + i];
        const char *nm = ntg__plan_str(p, p->img.tensors[id].name);
        if (strcmp(nm, "hist_exog") == 0)
            io->hist = id;
        else if (strcmp(nm, "futr_exog") == 0)
            io->futr = id;
        else if (strcmp(nm, "stat_exog") == 0)
            io->stat = id;
        else if (io->x == NTG_NONE)
            io->x = id;
        else
            io->x = NTG_NONE - 1; /* two inputs that are no covariates */
    }
    if (io->x == NTG_NONE || io->x == NTG_NONE - 1 || pr->n_outputs < 1)
        return ntg__fail(err, NTG_ERR_SHAPE,
                         "a forecasting plan takes one input (x [batch, input_size]) and the "
                         "covariates hist_exog, futr_exog, stat_exog; this one takes %u",
                         pr->n_inputs);
    const ntg_tensor_rec *x = &p->img.tensors[io->x];
    if (!(x->flags & NTG_TF_BATCHED) || x->rank != 2)
        return ntg__fail(err, NTG_ERR_SHAPE, "input '%s' must be [batch, input_size]",
                         ntg__plan_str(p, x->name));
    io->L = x->dims[1];
    const char *target = ntg_plan_meta(p, "train.target");
    io->y = p->img.indices[pr->outputs];
    for (uint32_t o = 0; target && target[0] && o < pr->n_outputs; o++) {
        uint32_t id = p->img.indices[pr->outputs + o];
        if (strcmp(ntg__plan_str(p, p->img.tensors[id].name), target) == 0) io->y = id;
    }
    const ntg_tensor_rec *y = &p->img.tensors[io->y];
    const char *loss = ntg_plan_meta(p, "train.loss");
    if (loss && strcmp(loss, "mqloss") == 0) {
        const char *qs = ntg_plan_meta(p, "train.quantiles");
        const char *qa = ntg_plan_meta(p, "train.quantile_axis");
        /* "[0.5, 0.1, 0.9]" as the compiler writes it */
        for (const char *c = qs ? qs : ""; *c && io->nq < 64;) {
            while (*c == '[' || *c == ' ' || *c == ',') c++;
            if (!*c || *c == ']') break;
            char *end;
            io->quantiles[io->nq++] = strtod(c, &end);
            if (end == c) break;
            c = end;
        }
        /* levels as the compiler checks them, but not necessarily ascending: plans made
         * before that check listed the median first ([0.5, 0.1, 0.9]) */
        for (size_t i = 0; i < io->nq; i++) {
            int dup = 0;
            for (size_t k = 0; k < i; k++) dup |= io->quantiles[k] == io->quantiles[i];
            if (!(io->quantiles[i] > 0 && io->quantiles[i] < 1) || dup)
                return ntg__fail(err, NTG_ERR_DATA,
                                 "metadata 'train.quantiles' '%.120s': level %g is %s", qs,
                                 io->quantiles[i], dup ? "given twice" : "outside (0, 1)");
        }
        /* the point forecast: the level train.point_quantile names (plans without the key
         * meant the median) */
        const char *pq = ntg_plan_meta(p, "train.point_quantile");
        double point = pq ? strtod(pq, NULL) : 0.5;
        io->point = io->nq;
        for (size_t i = 0; i < io->nq; i++)
            if (fabs(io->quantiles[i] - point) <= 1e-12) io->point = i;
        if (io->point == io->nq)
            return ntg__fail(err, NTG_ERR_DATA,
                             "the plan's quantiles '%.120s' do not hold its point forecast's "
                             "level %g (train.point_quantile)",
                             qs ? qs : "", point);
        long ax = qa ? strtol(qa, NULL, 10) : -1;
        if (ax < 0) ax += y->rank;
        io->qaxis = (int)ax;
        if (y->rank != 3 || (ax != 1 && ax != 2) || y->dims[ax] != io->nq)
            return ntg__fail(err, NTG_ERR_SHAPE,
                             "quantile output '%s' must be [batch, Q, h] or [batch, h, Q] with "
                             "Q = %zu",
                             ntg__plan_str(p, y->name), io->nq);
        io->h = y->dims[ax == 1 ? 2 : 1];
    } else {
        if (!(y->flags & NTG_TF_BATCHED) || y->rank != 2)
            return ntg__fail(err, NTG_ERR_SHAPE, "output '%s' must be [batch, h]",
                             ntg__plan_str(p, y->name));
        io->h = y->dims[1];
    }
    /* covariates: their feature counts, and extents that agree with x and y */
    struct {
        uint32_t id;
        size_t *n;
        unsigned rank;
        size_t last;
        const char *shape;
    } cv[3] = {{io->hist, &io->n_hist, 3, io->L, "[batch, n_hist, input_size]"},
               {io->futr, &io->n_futr, 3, io->L + io->h, "[batch, n_futr, input_size + h]"},
               {io->stat, &io->n_stat, 2, 0, "[batch, n_stat]"}};
    for (int c = 0; c < 3; c++) {
        if (cv[c].id == NTG_NONE) continue;
        const ntg_tensor_rec *t = &p->img.tensors[cv[c].id];
        if (!(t->flags & NTG_TF_BATCHED) || t->rank != cv[c].rank ||
            (cv[c].rank == 3 && t->dims[2] != cv[c].last))
            return ntg__fail(err, NTG_ERR_SHAPE, "input '%s' must be %s", ntg__plan_str(p, t->name),
                             cv[c].shape);
        *cv[c].n = t->dims[1];
    }
    if (io->g_train >= 0) {
        io->t = ntg__plan_io(p, io->g_train, 0, "t");
        io->mask = ntg__plan_io(p, io->g_train, 0, "mask");
        io->ctl = ntg__plan_io(p, io->g_train, 0, "train.ctl");
    }
    return NTG_OK;
}

const char *ntg__setting(const ntg_plan *p, const ntg_define *over, size_t n_over, const char *key)
{
    for (size_t i = n_over; i-- > 0;)
        if (strcmp(over[i].name, key) == 0) return over[i].value;
    char k[96];
    ntg__strfmt(k, sizeof k, "train.%s", key);
    return ntg_plan_meta(p, k);
}

ntg_status ntg__select_columns(const ntg_series *s, const char *spec, int **cols, size_t *n,
                               ntg_error *err)
{
    *cols = calloc(s->n_cols + 1, sizeof **cols);
    *n = 0;
    if (!*cols) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    if (!spec || !spec[0] || strcmp(spec, "all") == 0) {
        for (size_t c = 0; c < s->n_cols; c++) (*cols)[(*n)++] = (int)c;
        return NTG_OK;
    }
    const char *p = spec;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char name[512];
        if (len >= sizeof name) len = sizeof name - 1;
        memcpy(name, p, len);
        name[len] = '\0';
        int c = ntg__series_find(s, name);
        if (c < 0) {
            free(*cols);
            *cols = NULL;
            return ntg__fail(err, NTG_ERR_NOT_FOUND, "the series has no column '%s'", name);
        }
        /* a column given twice would be trained on twice as often, or scored twice */
        for (size_t k = 0; k < *n; k++) {
            if ((*cols)[k] != c) continue;
            free(*cols);
            *cols = NULL;
            return ntg__fail(err, NTG_ERR_INVALID_ARG, "columns '%.200s': '%s' is chosen twice",
                             spec, name);
        }
        (*cols)[(*n)++] = c;
        if (!e) break;
        p = e + 1;
    }
    return NTG_OK;
}

ntg_status ntg__model_scaler(const ntg_plan *p, const ntg_series *s, const int *cols, size_t n_cols,
                             size_t train_rows, const char *kind, const char *window_kind,
                             ntg_scaler **out, ntg_window_scaler *window, ntg_error *err)
{
    *out = NULL;
    /* a trained plan carries its scaler: use it, bound to these columns */
    const char *keys[64], *vals[64];
    size_t n = 0;
    for (uint32_t m = 0; m < p->img.n_meta && n < 64; m++) {
        const char *k = ntg__plan_str(p, p->img.meta[m].key);
        if (strncmp(k, "scaler.", 7) == 0) {
            keys[n] = k;
            vals[n++] = ntg__plan_str(p, p->img.meta[m].value);
        }
    }
    if (n > 0) {
        ntg_scaler *stored = NULL;
        ntg_status st = ntg__scaler_from_meta(keys, vals, n, &stored, window, err);
        if (st) return st;
        const char **names = calloc(n_cols + 1, sizeof *names);
        int *bound = calloc(n_cols + 1, sizeof *bound);
        if (!names || !bound) {
            free(names);
            free(bound);
            ntg__scaler_free(stored);
            return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        }
        for (size_t j = 0; j < n_cols; j++) names[j] = s->names[cols[j]];
        st = ntg__scaler_select(stored, s, names, n_cols, bound, out, err);
        if (st) ntg__err_prefix(err, "the plan's fitted scaler: ");
        free(names);
        free(bound);
        ntg__scaler_free(stored);
        return st;
    }
    ntg_scaler_kind sk = NTG_SCALER_ZSCORE;
    const char *kn = kind ? kind : ntg_plan_meta(p, "train.scaler");
    const char *wn = window_kind ? window_kind : ntg_plan_meta(p, "train.window_scaler");
    ntg_status st = ntg__scaler_parse(kn ? kn : "zscore", &sk, err);
    if (!st) st = ntg__window_scaler_parse(wn ? wn : "identity", window, err);
    if (!st) st = ntg__scaler_fit(s, sk, cols, n_cols, train_rows, out, err);
    return st;
}

void ntg__model_point(const ntg_model_io *io, const float *y, size_t n, float *p)
{
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < io->h; r++) p[i * io->h + r] = ntg__model_y(io, y, i, r, io->point);
}
