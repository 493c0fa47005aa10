/* model_io.c — binding series windows to a plan's inputs and outputs; settings and scalers. */
#include "model_io.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "ntg_error.h"

/* "[0.1, 0.5, 0.9]" as the compiler writes a list of numbers, into q (at most cap). */
static size_t parse_levels(const char *qs, double *q, size_t cap)
{
    size_t n = 0;
    for (const char *c = qs ? qs : ""; *c && n < cap;) {
        while (*c == '[' || *c == ' ' || *c == ',') c++;
        if (!*c || *c == ']') break;
        char *end;
        q[n++] = strtod(c, &end);
        if (end == c) break;
        c = end;
    }
    return n;
}

/* A distribution head: y [batch, P, h] of raw parameters; the levels of train.quantiles (the
 * median added when missing: it is the point forecast, the distribution's loc) ascending. */
static ntg_status dist_io(const ntg_plan *p, ntg_model_io *io, const ntg_tensor_rec *y,
                          const char *loss, ntg_error *err)
{
    io->dist = strcmp(loss, "normal") == 0 ? 2 : 3;
    if (!(y->flags & NTG_TF_BATCHED) || y->rank != 3 || y->dims[1] != (uint32_t)io->dist)
        return ntg__fail(err, NTG_ERR_SHAPE,
                         "distribution output '%s' (loss %s) must be [batch, %d, h]",
                         ntg__plan_str(p, y->name), loss, io->dist);
    io->h = y->dims[2];
    const char *qs = ntg_plan_meta(p, "train.quantiles");
    double q[64];
    size_t n = parse_levels(qs, q, 63);
    io->nq = 0;
    int has_median = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(q[i] > 0 && q[i] < 1))
            return ntg__fail(err, NTG_ERR_DATA,
                             "metadata 'train.quantiles' '%.120s': level %g is "
                             "outside (0, 1)",
                             qs, q[i]);
        has_median |= q[i] == 0.5;
    }
    if (!has_median) q[n++] = 0.5;
    for (size_t i = 0; i < n; i++) { /* insertion sort, duplicates dropped */
        size_t k = io->nq;
        int dup = 0;
        for (size_t j = 0; j < io->nq; j++) dup |= io->quantiles[j] == q[i];
        if (dup) continue;
        while (k > 0 && io->quantiles[k - 1] > q[i]) {
            io->quantiles[k] = io->quantiles[k - 1];
            k--;
        }
        io->quantiles[k] = q[i];
        io->nq++;
    }
    for (size_t i = 0; i < io->nq; i++)
        if (io->quantiles[i] == 0.5) io->point = i;
    io->qaxis = 1;
    return NTG_OK;
}

/* conformal.levels "[0.8, 0.95]" (ascending, in (0, 1)): the quantile view of a point model. */
static ntg_status conformal_io(const ntg_plan *p, ntg_model_io *io, ntg_error *err)
{
    const char *ls = ntg_plan_meta(p, "conformal.levels");
    if (!ls) return NTG_OK;
    double lv[32];
    size_t n = parse_levels(ls, lv, 32);
    if (n < 1 || n > 31)
        return ntg__fail(err, NTG_ERR_DATA, "metadata 'conformal.levels' '%.120s': 1 to 31 levels",
                         ls);
    for (size_t i = 0; i < n; i++)
        if (!(lv[i] > 0 && lv[i] < 1) || (i > 0 && !(lv[i] > lv[i - 1])))
            return ntg__fail(err, NTG_ERR_DATA,
                             "metadata 'conformal.levels' '%.120s': levels must be in (0, 1), "
                             "ascending",
                             ls);
    io->conformal = (int)n;
    for (size_t i = 0; i < n; i++) io->conf_levels[i] = lv[i];
    io->nq = 2 * n + 1;
    io->qaxis = 1;
    io->point = n;
    for (size_t i = 0; i < n; i++) { /* widest interval outermost */
        io->quantiles[n - 1 - i] = (1 - lv[i]) / 2;
        io->quantiles[n + 1 + i] = (1 + lv[i]) / 2;
    }
    io->quantiles[n] = 0.5;
    return NTG_OK;
}

ntg_status ntg__model_conformal_widths(const ntg_plan *p, const ntg_model_io *io, double **widths,
                                       ntg_error *err)
{
    size_t n = (size_t)io->conformal, h = io->h;
    *widths = malloc((n * h + 1) * sizeof **widths);
    if (!*widths) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (size_t l = 0; l < n; l++) {
        char key[64];
        ntg__strfmt(key, sizeof key, "conformal.width.%zu", l);
        const char *v = ntg_plan_meta(p, key);
        const char *c = v ? v : "";
        size_t k = 0;
        while (k < h) {
            while (*c == '[' || *c == ' ' || *c == ',') c++;
            char *end;
            double x = strtod(c, &end);
            if (end == c || !(x >= 0) || !isfinite(x)) break;
            (*widths)[l * h + k++] = x;
            c = end;
        }
        if (k != h) {
            free(*widths);
            *widths = NULL;
            return ntg__fail(err, NTG_ERR_DATA,
                             "metadata '%s' must list %zu finite half-widths >= 0, one per "
                             "horizon step",
                             key, h);
        }
    }
    return NTG_OK;
}

void ntg__model_conformal(const ntg_model_io *io, const double *widths, const float *pt, size_t n,
                          float *y)
{
    size_t nl = (size_t)io->conformal, h = io->h, nq = io->nq;
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < h; r++) {
            double f = (double)pt[i * h + r];
            y[(i * nq + nl) * h + r] = pt[i * h + r];
            for (size_t l = 0; l < nl; l++) {
                double wd = widths[l * h + r];
                y[(i * nq + nl - 1 - l) * h + r] = (float)(f - wd);
                y[(i * nq + nl + 1 + l) * h + r] = (float)(f + wd);
            }
        }
}

void ntg__model_decode(const ntg_model_io *io, const float *raw, size_t n, float *y)
{
    double z[64];
    for (size_t q = 0; q < io->nq; q++) z[q] = ntg__norm_ppf(io->quantiles[q]);
    size_t h = io->h, np = (size_t)io->dist;
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < h; r++) {
            const float *p = raw + i * np * h + r;
            double loc = (double)p[0], sigma = ntg__softplus((double)p[h]);
            double df = np == 3 ? 2.0 + ntg__softplus((double)p[2 * h]) : 0.0;
            for (size_t q = 0; q < io->nq; q++) {
                double zq = np == 3 ? ntg__t_ppf(io->quantiles[q], df) : z[q];
                y[(i * io->nq + q) * h + r] = (float)(loc + sigma * zq);
            }
        }
}

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
    if (loss && (strcmp(loss, "normal") == 0 || strcmp(loss, "studentt") == 0)) {
        /* then the covariates and the training inputs below, as for every head */
        ntg_status dst = dist_io(p, io, y, loss, err);
        if (dst) return dst;
    } else if (loss && strcmp(loss, "xent") == 0) {
        /* a classification head: logits [batch, h, classes] (docs/training.md) */
        const char *ct = ntg_plan_meta(p, "train.class_threshold");
        io->class_threshold = ct ? strtod(ct, NULL) : 0.0;
        if (!(io->class_threshold >= 0) || !isfinite(io->class_threshold))
            return ntg__fail(err, NTG_ERR_DATA,
                             "metadata 'train.class_threshold' '%.60s' must be a number >= 0", ct);
        io->classes = io->class_threshold > 0 ? 3 : 2;
        if (!(y->flags & NTG_TF_BATCHED) || y->rank != 3 || y->dims[2] != (uint32_t)io->classes)
            return ntg__fail(err, NTG_ERR_SHAPE,
                             "classification output '%s' (loss xent, class_threshold %g) must be "
                             "[batch, h, %d]",
                             ntg__plan_str(p, y->name), io->class_threshold, io->classes);
        io->h = y->dims[1];
    } else if (loss && strcmp(loss, "mqloss") == 0) {
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
        ntg_status cst = conformal_io(p, io, err);
        if (cst) return cst;
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

void ntg__model_labels(const ntg_model_io *io, const float *x, float *t, size_t n)
{
    size_t L = io->L, h = io->h;
    double thr = io->class_threshold;
    for (size_t i = 0; i < n; i++) {
        double last = (double)x[i * L + L - 1];
        for (size_t r = 0; r < h; r++) {
            double d = (double)t[i * h + r] - last;
            float c;
            if (io->classes == 2)
                c = d > 0 ? 1.0f : 0.0f;
            else
                c = d < -thr ? 0.0f : d > thr ? 2.0f : 1.0f;
            t[i * h + r] = isnan(d) ? NAN : c;
        }
    }
}

void ntg__model_softmax(const ntg_model_io *io, float *y, size_t n)
{
    size_t nc = (size_t)io->classes;
    for (size_t k = 0; k < n * io->h; k++) {
        float *z = y + k * nc;
        double mx = (double)z[0], s = 0.0;
        for (size_t c = 1; c < nc; c++) mx = fmax(mx, (double)z[c]);
        double e[64];
        for (size_t c = 0; c < nc; c++) s += e[c] = exp((double)z[c] - mx);
        for (size_t c = 0; c < nc; c++) z[c] = (float)(e[c] / s);
    }
}
