/* series.c — series (the public API: from CSV or memory), splits, windows, global and
 * per-window scalers, batch assembly, scaler metadata. */
#include "series.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "json.h"
#include "ntg_error.h"
#include "rng.h"
#include "strbuf.h"

/* ------------------------------------------- series: from a CSV file or memory */

void ntg_series_options_init(ntg_series_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
}

ntg_status ntg_series_load_csv(const char *path, const ntg_series_options *opts, ntg_series **out,
                               ntg_error *err)
{
    if (out) *out = NULL;
    if (!path || !out) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_series_load_csv: NULL");
    ntg_series_options o;
    ntg_series_options_init(&o);
    ntg_status st = NTG__ABI_IN(&o, opts, ntg_series_options, dates, "ntg_series_load_csv", err);
    if (st) return st;
    ntg_csv_options co;
    ntg__csv_options_init(&co);
    co.format = o.format;
    co.fill = o.fill;
    co.dates = o.dates;
    co.id_col = o.id_col;
    co.date_col = o.date_col;
    co.target = o.target;
    if (co.format == 0 && (o.id_col || o.date_col || o.target)) co.format = 2;
    return ntg__csv_read(path, &co, out, err);
}

void ntg_series_destroy(ntg_series *s)
{
    ntg__series_free(s);
}

size_t ntg_series_rows(const ntg_series *s)
{
    return s ? s->n_rows : 0;
}

size_t ntg_series_columns(const ntg_series *s)
{
    return s ? s->n_cols : 0;
}

const char *ntg_series_column_name(const ntg_series *s, size_t i)
{
    return s && i < s->n_cols ? s->names[i] : NULL;
}

ntg_status ntg_series_create(size_t n_rows, size_t n_cols, const char *const *names,
                             const double *const *columns, const char *const *dates, unsigned flags,
                             ntg_series **out, ntg_error *err)
{
    if (out) *out = NULL;
    if (!out || !names || !columns)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_series_create: NULL argument");
    if (flags & ~NTG_SERIES_LOOSE_DATES)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_series_create: unknown flags 0x%x",
                         flags & ~NTG_SERIES_LOOSE_DATES);
    if (n_rows == 0 || n_cols == 0)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "ntg_series_create: %zu rows and %zu columns (a series needs at least "
                         "one of each)",
                         n_rows, n_cols);
    if (n_rows > (SIZE_MAX / sizeof(double) - 1) / n_cols)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "ntg_series_create: %zu rows x %zu columns do not fit in memory", n_rows,
                         n_cols);
    for (size_t c = 0; c < n_cols; c++) {
        if (!names[c] || !columns[c])
            return ntg__fail(err, NTG_ERR_INVALID_ARG,
                             "ntg_series_create: column %zu has a NULL %s", c + 1,
                             names[c] ? "values pointer" : "name");
        if (!names[c][0])
            return ntg__fail(err, NTG_ERR_DATA, "column %zu: the name is empty", c + 1);
        for (size_t k = 0; k < c; k++)
            if (strcmp(names[k], names[c]) == 0)
                return ntg__fail(err, NTG_ERR_DATA,
                                 "column %zu: the name '%.60s' is column %zu's too", c + 1,
                                 names[c], k + 1);
        /* the CSV reader never lets NaN into a series; neither does memory */
        for (size_t r = 0; r < n_rows; r++)
            if (!isfinite(columns[c][r]))
                return ntg__fail(err, NTG_ERR_DATA, "column '%.60s': row %zu holds %s", names[c],
                                 r + 1, isnan(columns[c][r]) ? "NaN" : "an infinity");
    }
    ntg_pool *pool = ntg__pool_create();
    ntg_series *s = pool ? ntg__pool_alloc(pool, sizeof *s) : NULL;
    if (!s) {
        ntg__pool_destroy(pool);
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    memset(s, 0, sizeof *s);
    s->pool = pool;
    s->n_rows = n_rows;
    s->n_cols = n_cols;
    s->names = ntg__pool_array(pool, n_cols, sizeof *s->names);
    s->values = ntg__pool_array(pool, n_rows * n_cols, sizeof *s->values);
    ntg_status st = s->names && s->values ? NTG_OK : ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (size_t c = 0; !st && c < n_cols; c++) {
        memcpy(s->values + c * n_rows, columns[c], n_rows * sizeof *s->values);
        if (!(s->names[c] = ntg__pool_strdup(pool, names[c])))
            st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    if (!st && dates) {
        s->dates = ntg__pool_array(pool, n_rows, sizeof *s->dates);
        s->epoch = ntg__pool_array(pool, n_rows, sizeof *s->epoch);
        s->date_name = "date";
        if (!s->dates || !s->epoch) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        if (!st)
            st = ntg__dates_check(dates, n_rows, (flags & NTG_SERIES_LOOSE_DATES) != 0, "dates",
                                  s->epoch, err);
        for (size_t r = 0; !st && r < n_rows; r++)
            if (!(s->dates[r] = ntg__pool_strdup(pool, dates[r])))
                st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    if (st) {
        ntg__pool_destroy(pool);
        return st;
    }
    *out = s;
    return NTG_OK;
}

/* ------------------------------------------------------------------ splits */

const char *ntg__split_name(ntg_split_part part)
{
    switch (part) {
    case NTG_SPLIT_TRAIN:
        return "train";
    case NTG_SPLIT_VAL:
        return "val";
    case NTG_SPLIT_TEST:
        return "test";
    }
    return "?";
}

void ntg__split_bounds(const ntg_split *sp, ntg_split_part part, size_t *b0, size_t *b1)
{
    size_t a = 0, n = sp->train;
    if (part == NTG_SPLIT_VAL) {
        a = sp->train;
        n = sp->val;
    } else if (part == NTG_SPLIT_TEST) {
        a = sp->train + sp->val;
        n = sp->test;
    }
    *b0 = a;
    *b1 = a + n;
}

void ntg__series_row_str(const ntg_series *s, size_t r, char *buf, size_t cap)
{
    if (s && s->dates && r < s->n_rows)
        snprintf(buf, cap, "row %zu (%.60s)", r + 1, s->dates[r]);
    else
        snprintf(buf, cap, "row %zu", r + 1);
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The decimal grammar csv.h and JSON accept: digits, one '.', an exponent. */
static int decimal_ok(const char *p, size_t n)
{
    size_t i = 0, digits = 0;
    while (i < n && is_digit(p[i])) i++, digits++;
    if (i < n && p[i] == '.') {
        i++;
        while (i < n && is_digit(p[i])) i++, digits++;
    }
    if (!digits) return 0;
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-')) i++;
        size_t e = i;
        while (i < n && is_digit(p[i])) i++;
        if (i == e) return 0;
    }
    return i == n;
}

ntg_status ntg__split_parse(const char *spec, size_t n_rows, ntg_split *out, ntg_error *err)
{
    static const char *const part_names[3] = {"train", "val", "test"};
    if (!spec || !out) return ntg__fail(err, NTG_ERR_INVALID_ARG, "split: NULL argument");
    memset(out, 0, sizeof *out);
    size_t count[3] = {0, 0, 0};
    double frac[3] = {0, 0, 0};
    int n_parts = 0, n_frac = 0, rest = 0;
    const char *p = spec;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && (*a == ' ' || *a == '\t')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
        if (n_parts == 3)
            return ntg__fail(err, NTG_ERR_INVALID_ARG,
                             "split '%.80s': more than three parts (expected train,val,test)",
                             spec);
        size_t len = (size_t)(b - a);
        if (len == 0)
            return ntg__fail(err, NTG_ERR_INVALID_ARG, "split '%.80s': the %s part is empty", spec,
                             part_names[n_parts]);
        if (n_parts == 0 && len == 4 && memcmp(a, "rest", 4) == 0) {
            /* NeuralForecast's val_size / test_size: train is what the last rows leave */
            rest = 1;
            n_parts++;
            if (!comma) break;
            p = comma + 1;
            continue;
        }
        int frac_part = memchr(a, '.', len) || memchr(a, 'e', len) || memchr(a, 'E', len);
        if (frac_part) {
            double v = 0;
            if (!decimal_ok(a, len) || ntg__json_strtod(a, len, &v) != 0 || !(v <= 1.0))
                return ntg__fail(err, NTG_ERR_INVALID_ARG,
                                 "split '%.80s': %s part '%.*s' is not a fraction in [0, 1]", spec,
                                 part_names[n_parts], (int)(len > 40 ? 40 : len), a);
            frac[n_parts] = v;
            n_frac++;
        } else {
            size_t v = 0;
            for (size_t i = 0; i < len; i++) {
                if (!is_digit(a[i]))
                    return ntg__fail(err, NTG_ERR_INVALID_ARG,
                                     "split '%.80s': %s part '%.*s' is not a row count or a "
                                     "fraction",
                                     spec, part_names[n_parts], (int)(len > 40 ? 40 : len), a);
                size_t d = (size_t)(a[i] - '0');
                if (v > (SIZE_MAX - d) / 10)
                    return ntg__fail(err, NTG_ERR_INVALID_ARG,
                                     "split '%.80s': %s part '%.*s' is too large", spec,
                                     part_names[n_parts], (int)(len > 40 ? 40 : len), a);
                v = v * 10 + d;
            }
            count[n_parts] = v;
        }
        n_parts++;
        if (!comma) break;
        p = comma + 1;
    }
    if (n_parts != 3)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "split '%.80s': %d part%s, expected three (train,val,test), e.g. "
                         "'8640,2880,2880' or '0.7,0.1,0.2'",
                         spec, n_parts, n_parts == 1 ? "" : "s");
    if (!rest && n_frac != 0 && n_frac != 3)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "split '%.80s': mixes row counts and fractions (write all three as "
                         "counts, or all as fractions with a decimal point)",
                         spec);
    if (rest && n_frac)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "split '%.80s': 'rest' takes row counts for val and test (e.g. "
                         "'rest,48,48')",
                         spec);
    if (rest) {
        if (count[1] > n_rows || count[2] > n_rows - count[1] || count[1] + count[2] == n_rows)
            return ntg__fail(err, NTG_ERR_INVALID_ARG,
                             "split '%.80s': %zu + %zu val and test rows leave no train row of "
                             "the %zu",
                             spec, count[1], count[2], n_rows);
        out->train = n_rows - count[1] - count[2];
        out->val = count[1];
        out->test = count[2];
        return NTG_OK;
    }
    if (n_frac == 3) {
        double sum = frac[0] + frac[1] + frac[2];
        if (sum > 1.0 + 1e-9)
            return ntg__fail(err, NTG_ERR_INVALID_ARG,
                             "split '%.80s': the fractions sum to %.17g, more than 1", spec, sum);
        /* Autoformer's data_loader: num_train = int(n * 0.7), num_test = int(n * 0.2),
         * num_vali = n - num_train - num_test. */
        double n = (double)n_rows;
        out->train = (size_t)floor(n * frac[0]);
        out->test = (size_t)floor(n * frac[2]);
        if (out->train > n_rows) out->train = n_rows;
        if (out->test > n_rows - out->train) out->test = n_rows - out->train;
        if (fabs(sum - 1.0) <= 1e-9) {
            out->val = n_rows - out->train - out->test;
        } else {
            out->val = (size_t)floor(n * frac[1]);
            if (out->val > n_rows - out->train - out->test)
                out->val = n_rows - out->train - out->test;
        }
        return NTG_OK;
    }
    size_t total = count[0];
    int over = 0;
    for (int i = 1; i < 3; i++) {
        if (count[i] > SIZE_MAX - total)
            over = 1;
        else
            total += count[i];
    }
    if (over || total > n_rows)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "split '%.80s': %zu + %zu + %zu rows, but the series has only %zu", spec,
                         count[0], count[1], count[2], n_rows);
    out->train = count[0];
    out->val = count[1];
    out->test = count[2];
    return NTG_OK;
}

/* ----------------------------------------------------------------- windows */

static ntg_status check_window_args(size_t L, size_t h, const int *cols, size_t n_cols,
                                    ntg_windows *out, ntg_error *err)
{
    if (!out) return ntg__fail(err, NTG_ERR_INVALID_ARG, "windows: NULL argument");
    memset(out, 0, sizeof *out);
    if (L == 0 || h == 0)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "windows: input_size (%zu) and h (%zu) must be at least 1", L, h);
    if (!cols || n_cols == 0)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "windows: no columns to window");
    for (size_t j = 0; j < n_cols; j++)
        if (cols[j] < 0)
            return ntg__fail(err, NTG_ERR_INVALID_ARG, "windows: column %zu is %d", j, cols[j]);
    return NTG_OK;
}

ntg_status ntg__windows_make(const ntg_split *sp, ntg_split_part part, size_t L, size_t h,
                             const int *cols, size_t n_cols, ntg_windows *out, ntg_error *err)
{
    ntg_status st = check_window_args(L, h, cols, n_cols, out, err);
    if (st) return st;
    if (!sp || part < NTG_SPLIT_TRAIN || part > NTG_SPLIT_TEST)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "windows: bad split");
    size_t b0, b1;
    ntg__split_bounds(sp, part, &b0, &b1);
    /* Train windows keep their inputs inside the train rows; val and test windows
     * may look back before b0 (data/README.md), but never before row 0. */
    size_t first = part == NTG_SPLIT_TRAIN ? L : (b0 > L ? b0 : L);
    if (b1 < h || b1 - h < first) {
        if (part == NTG_SPLIT_TRAIN)
            return ntg__fail(err, NTG_ERR_DATA,
                             "train split: no window fits: %zu rows, but a window needs "
                             "input_size + h = %zu + %zu = %zu rows",
                             b1, L, h, L + h);
        return ntg__fail(err, NTG_ERR_DATA,
                         "%s split: no window fits: rows [%zu, %zu) hold %zu, but a window "
                         "needs h = %zu target rows inside the split and input_size = %zu rows "
                         "before its start",
                         ntg__split_name(part), b0, b1, b1 - b0, h, L);
    }
    out->first_start = first;
    out->n_starts = b1 - h - first + 1;
    out->n_cols = n_cols;
    out->L = L;
    out->h = h;
    out->cols = cols;
    return NTG_OK;
}

ntg_status ntg__windows_forecast(size_t n_rows, size_t L, size_t h, const int *cols, size_t n_cols,
                                 ntg_windows *out, ntg_error *err)
{
    ntg_status st = check_window_args(L, h, cols, n_cols, out, err);
    if (st) return st;
    if (n_rows < L)
        return ntg__fail(err, NTG_ERR_DATA,
                         "forecast: the series has %zu rows, fewer than input_size = %zu", n_rows,
                         L);
    out->first_start = n_rows;
    out->n_starts = 1;
    out->n_cols = n_cols;
    out->L = L;
    out->h = h;
    out->cols = cols;
    return NTG_OK;
}

void ntg__windows_col(const ntg_windows *w, size_t j, size_t *first, size_t *n)
{
    size_t lo = w->first_start;
    if (w->first && w->first[w->cols[j]] + w->L > lo) lo = w->first[w->cols[j]] + w->L;
    size_t end = w->first_start + w->n_starts; /* one past the last start */
    *first = lo;
    *n = end > lo ? end - lo : 0;
}

ntg_status ntg__windows_panel(ntg_windows *w, const ntg_series *s, size_t *n_skipped,
                              ntg_error *err)
{
    if (n_skipped) *n_skipped = 0;
    if (!w || !s) return ntg__fail(err, NTG_ERR_INVALID_ARG, "windows_panel: NULL argument");
    if (!s->first) return NTG_OK;
    w->first = s->first;
    uint64_t total = 0;
    size_t skipped = 0, longest = 0;
    for (size_t j = 0; j < w->n_cols; j++) {
        size_t f, n;
        ntg__windows_col(w, j, &f, &n);
        total += n;
        skipped += n == 0;
        size_t len = s->n_rows - s->first[w->cols[j]];
        if (len > longest) longest = len;
    }
    w->total = total;
    if (n_skipped) *n_skipped = skipped;
    if (!total)
        return ntg__fail(err, NTG_ERR_DATA,
                         "no series of the panel has a window: the longest has %zu rows; a "
                         "window needs input_size = %zu rows of its own series before its "
                         "first target and h = %zu targets inside the split's part",
                         longest, w->L, w->h);
    return NTG_OK;
}

uint64_t ntg__windows_count(const ntg_windows *w)
{
    if (w->first) return w->total;
    return (uint64_t)w->n_starts * (uint64_t)w->n_cols;
}

void ntg__windows_at(const ntg_windows *w, uint64_t k, size_t *j, size_t *start)
{
    if (w->first) {
        for (size_t c = 0; c < w->n_cols; c++) {
            size_t f, n;
            ntg__windows_col(w, c, &f, &n);
            if (k < n) {
                *j = c;
                *start = f + (size_t)k;
                return;
            }
            k -= n;
        }
        *j = w->n_cols; /* k out of range: an invalid column the checks refuse */
        *start = 0;
        return;
    }
    *j = (size_t)(k / w->n_starts);
    *start = w->first_start + (size_t)(k % w->n_starts);
}

void ntg__windows_sample(const ntg_windows *w, uint64_t seed, uint64_t step, size_t n,
                         uint64_t *idx)
{
    uint64_t count = ntg__windows_count(w);
    uint64_t key = seed ^ ntg__hash_str("ntg.windows_sample");
    for (size_t i = 0; i < n; i++) idx[i] = ntg__rng_below(key, step, i, count);
}

/* The rows windows of w read: inputs from the first window's, targets (when asked) to
 * the last window's; clamped to the series. */
static void window_rows(const ntg_windows *w, size_t n_rows, int with_targets, size_t *r0,
                        size_t *r1)
{
    *r0 = w->first_start >= w->L ? w->first_start - w->L : 0;
    *r1 = w->first_start + (w->n_starts ? w->n_starts - 1 : 0) + (with_targets ? w->h : 0);
    if (*r1 > n_rows) *r1 = n_rows;
}

ntg_status ntg__windows_check(const ntg_series *s, const ntg_scaler *g, const ntg_windows *w,
                              int with_targets, ntg_error *err)
{
    if (!s || !w) return ntg__fail(err, NTG_ERR_INVALID_ARG, "windows_check: NULL argument");
    if (g && g->n_cols != w->n_cols)
        return ntg__fail(err, NTG_ERR_SHAPE,
                         "windows_check: the scaler has %zu columns, the windows %zu", g->n_cols,
                         w->n_cols);
    size_t r0, r1;
    window_rows(w, s->n_rows, with_targets, &r0, &r1);
    for (size_t j = 0; j < w->n_cols; j++) {
        int c = w->cols[j];
        if (c < 0 || (size_t)c >= s->n_cols)
            return ntg__fail(err, NTG_ERR_INVALID_ARG, "windows_check: column %d", c);
        const double *v = s->values + (size_t)c * s->n_rows;
        for (size_t r = r0; r < r1; r++) {
            double z = ntg__scaler_apply(g, j, v[r]);
            if (fabs(z) <= FLT_MAX) continue;
            char row[96];
            ntg__series_row_str(s, r, row, sizeof row);
            if (g && g->kind == NTG_SCALER_LOG && !(v[r] > 0))
                return ntg__fail(err, NTG_ERR_DATA,
                                 "column '%.60s', %s: %g has no logarithm (the plan's scaler is "
                                 "'log': values must be > 0)",
                                 s->names[c], row, v[r]);
            if (g && g->kind != NTG_SCALER_NONE)
                return ntg__fail(err, NTG_ERR_DATA,
                                 "column '%.60s', %s: %g is %g once scaled (mean %g, std %g), "
                                 "beyond the float32 range a model computes in (|z| <= %g)",
                                 s->names[c], row, v[r], z, g->mean[j], g->std[j], (double)FLT_MAX);
            return ntg__fail(err, NTG_ERR_DATA,
                             "column '%.60s', %s: %g is beyond the float32 range a model "
                             "computes in (|x| <= %g)",
                             s->names[c], row, v[r], (double)FLT_MAX);
        }
    }
    return NTG_OK;
}

/* ----------------------------------------------------------------- scalers */

const char *ntg__scaler_name(ntg_scaler_kind kind)
{
    switch (kind) {
    case NTG_SCALER_NONE:
        return "none";
    case NTG_SCALER_ZSCORE:
        return "zscore";
    case NTG_SCALER_LOG:
        return "log";
    }
    return "?";
}

const char *ntg__window_scaler_name(ntg_window_scaler kind)
{
    switch (kind) {
    case NTG_WSCALER_IDENTITY:
        return "identity";
    case NTG_WSCALER_STANDARD:
        return "standard";
    case NTG_WSCALER_ROBUST:
        return "robust";
    case NTG_WSCALER_MINMAX:
        return "minmax";
    }
    return "?";
}

ntg_status ntg__scaler_parse(const char *name, ntg_scaler_kind *out, ntg_error *err)
{
    if (name && strcmp(name, "none") == 0) {
        *out = NTG_SCALER_NONE;
        return NTG_OK;
    }
    if (name && strcmp(name, "zscore") == 0) {
        *out = NTG_SCALER_ZSCORE;
        return NTG_OK;
    }
    if (name && strcmp(name, "log") == 0) {
        *out = NTG_SCALER_LOG;
        return NTG_OK;
    }
    return ntg__fail(err, NTG_ERR_INVALID_ARG,
                     "unknown scaler '%.60s' (choose none, zscore or log)", name ? name : "(null)");
}

ntg_status ntg__window_scaler_parse(const char *name, ntg_window_scaler *out, ntg_error *err)
{
    for (int k = NTG_WSCALER_IDENTITY; k <= NTG_WSCALER_MINMAX; k++) {
        if (name && strcmp(name, ntg__window_scaler_name((ntg_window_scaler)k)) == 0) {
            *out = (ntg_window_scaler)k;
            return NTG_OK;
        }
    }
    return ntg__fail(err, NTG_ERR_INVALID_ARG,
                     "unknown window scaler '%.60s' (choose identity, standard, robust or minmax)",
                     name ? name : "(null)");
}

/* A scaler with room for n columns, in its own pool. */
static ntg_scaler *scaler_new(ntg_scaler_kind kind, size_t n)
{
    ntg_pool *pool = ntg__pool_create();
    ntg_scaler *g = pool ? ntg__pool_alloc(pool, sizeof *g) : NULL;
    if (!g) {
        ntg__pool_destroy(pool);
        return NULL;
    }
    g->pool = pool;
    g->kind = kind;
    g->n_cols = n;
    g->names = ntg__pool_array(pool, n ? n : 1, sizeof *g->names);
    g->mean = ntg__pool_array(pool, n ? n : 1, sizeof *g->mean);
    g->std = ntg__pool_array(pool, n ? n : 1, sizeof *g->std);
    if (!g->names || !g->mean || !g->std) {
        ntg__pool_destroy(pool);
        return NULL;
    }
    return g;
}

void ntg__scaler_free(ntg_scaler *g)
{
    if (g) ntg__pool_destroy(g->pool);
}

ntg_status ntg__scaler_fit(const ntg_series *s, ntg_scaler_kind kind, const int *cols,
                           size_t n_cols, size_t train_all, ntg_scaler **out, ntg_error *err)
{
    if (out) *out = NULL;
    if (!s || !out) return ntg__fail(err, NTG_ERR_INVALID_ARG, "scaler: NULL argument");
    if (kind != NTG_SCALER_NONE && kind != NTG_SCALER_ZSCORE && kind != NTG_SCALER_LOG)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "scaler: unknown kind %d", (int)kind);
    if (!cols) n_cols = s->n_cols;
    if (n_cols == 0) return ntg__fail(err, NTG_ERR_INVALID_ARG, "scaler: no columns to fit");
    if (train_all == 0 || train_all > s->n_rows)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "scaler: %zu train rows, but the series has %zu rows", train_all,
                         s->n_rows);
    for (size_t j = 0; cols && j < n_cols; j++)
        if (cols[j] < 0 || (size_t)cols[j] >= s->n_cols)
            return ntg__fail(err, NTG_ERR_INVALID_ARG,
                             "scaler: column %d is not in the series (%zu columns)", cols[j],
                             s->n_cols);
    ntg_scaler *g = scaler_new(kind, n_cols);
    if (!g) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (size_t j = 0; j < n_cols; j++) {
        size_t c = cols ? (size_t)cols[j] : j;
        /* a ragged panel's series c starts at row f0: its train rows are [f0, train_rows) */
        size_t f0 = ntg__series_first(s, c);
        const double *v = s->values + c * s->n_rows + f0;
        size_t train_rows = train_all > f0 ? train_all - f0 : 0;
        g->names[j] = ntg__pool_strdup(g->pool, s->names[c]);
        if (!g->names[j]) {
            ntg__scaler_free(g);
            return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        }
        g->mean[j] = 0.0;
        g->std[j] = 1.0;
        if (kind == NTG_SCALER_NONE || train_rows == 0) continue;
        /* log: the z-score of ln(x), every value of the column positive */
        double *lv = NULL;
        if (kind == NTG_SCALER_LOG) {
            for (size_t r = 0; r < s->n_rows - f0; r++) {
                if (v[r] > 0) continue;
                char row[96];
                ntg__series_row_str(s, r + f0, row, sizeof row);
                ntg_status st = ntg__fail(err, NTG_ERR_DATA,
                                          "scaler 'log': column '%.60s', %s: %g has no logarithm "
                                          "(the log scaler needs values > 0)",
                                          s->names[c], row, v[r]);
                ntg__scaler_free(g);
                return st;
            }
            lv = ntg__pool_array(g->pool, train_rows, sizeof *lv);
            if (!lv) {
                ntg__scaler_free(g);
                return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
            }
            for (size_t r = 0; r < train_rows; r++) lv[r] = log(v[r]);
            v = lv;
        }
        /* Two passes, in row order (deterministic), as numpy's mean and var. */
        double sum = 0.0;
        int constant = 1;
        for (size_t r = 0; r < train_rows; r++) {
            sum += v[r];
            if (v[r] != v[0]) constant = 0;
        }
        double mean = sum / (double)train_rows;
        double ss = 0.0;
        for (size_t r = 0; r < train_rows; r++) ss += (v[r] - mean) * (v[r] - mean);
        /* Population std (ddof 0): sklearn's StandardScaler, which Informer and
         * Autoformer fit on the train rows.  A constant column scales by 1 as
         * sklearn does; equality is tested exactly so round-off in the mean cannot
         * turn a constant column into a tiny std. */
        double sd = constant ? 1.0 : sqrt(ss / (double)train_rows);
        if (constant) mean = v[0];
        if (sd == 0.0) sd = 1.0;
        if (!isfinite(mean) || !isfinite(sd)) {
            /* name the value most to blame: the largest in magnitude */
            size_t worst = 0;
            for (size_t r = 1; r < train_rows; r++)
                if (fabs(v[r]) > fabs(v[worst])) worst = r;
            char row[96];
            ntg__series_row_str(s, worst + f0, row, sizeof row);
            ntg_status st = ntg__fail(err, NTG_ERR_DATA,
                                      "scaler: column '%.60s': the train values overflow a "
                                      "double when averaged: %s holds %g",
                                      s->names[c], row, v[worst]);
            ntg__scaler_free(g);
            return st;
        }
        g->mean[j] = mean;
        g->std[j] = sd;
    }
    *out = g;
    return NTG_OK;
}

int ntg__scaler_find(const ntg_scaler *g, const char *name)
{
    if (!g || !name) return -1;
    for (size_t j = 0; j < g->n_cols; j++)
        if (strcmp(g->names[j], name) == 0) return (int)j;
    return -1;
}

ntg_status ntg__scaler_select(const ntg_scaler *g, const ntg_series *s, const char *const *names,
                              size_t n_names, int *cols, ntg_scaler **out, ntg_error *err)
{
    if (out) *out = NULL;
    if (!g || !s || !cols || !out)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "scaler: NULL argument");
    size_t n = names ? n_names : g->n_cols;
    if (n == 0) return ntg__fail(err, NTG_ERR_INVALID_ARG, "scaler: no columns asked for");
    ntg_scaler *r = scaler_new(g->kind, n);
    if (!r) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (size_t j = 0; j < n; j++) {
        const char *name = names ? names[j] : g->names[j];
        int gj = ntg__scaler_find(g, name);
        int c = ntg__series_find(s, name);
        ntg_status st = NTG_OK;
        if (gj < 0)
            st = ntg__fail(err, NTG_ERR_NOT_FOUND,
                           "column '%.60s' is not one the scaler was fitted on (%zu columns, "
                           "the first '%.60s')",
                           name ? name : "(null)", g->n_cols, g->n_cols ? g->names[0] : "");
        else if (c < 0)
            st = ntg__fail(err, NTG_ERR_NOT_FOUND,
                           "column '%.60s' is not in the series (%zu columns)", name, s->n_cols);
        if (st) {
            ntg__scaler_free(r);
            return st;
        }
        cols[j] = c;
        r->names[j] = ntg__pool_strdup(r->pool, name);
        r->mean[j] = g->mean[gj];
        r->std[j] = g->std[gj];
        if (!r->names[j]) {
            ntg__scaler_free(r);
            return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        }
    }
    *out = r;
    return NTG_OK;
}

double ntg__scaler_apply(const ntg_scaler *g, size_t j, double x)
{
    if (g && g->kind == NTG_SCALER_LOG) x = log(x);
    return g ? (x - g->mean[j]) / g->std[j] : x;
}

double ntg__scaler_invert(const ntg_scaler *g, size_t j, double z)
{
    if (g && g->kind == NTG_SCALER_LOG) return exp(z * g->std[j] + g->mean[j]);
    return g ? z * g->std[j] + g->mean[j] : z;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The lower of the two middle values for an even count: torch.nanmedian, which
 * NeuralForecast's masked_median calls, returns that rather than their mean. */
static double lower_median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return v[(n - 1) / 2];
}

/* Population mean and std (NeuralForecast's masked_mean of squared deviations);
 * all-equal values give exactly (x[0], 0). */
static void mean_std(const double *x, size_t n, double *mean, double *sd)
{
    double sum = 0.0;
    int constant = 1;
    for (size_t i = 0; i < n; i++) {
        sum += x[i];
        if (x[i] != x[0]) constant = 0;
    }
    if (constant) {
        *mean = x[0];
        *sd = 0.0;
        return;
    }
    double m = sum / (double)n, ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
    *mean = m;
    *sd = sqrt(ss / (double)n);
}

void ntg__window_stats(ntg_window_scaler kind, const double *x, size_t n, double *work, double *loc,
                       double *scale)
{
    /* neuralforecast/common/_scalers.py: std_statistics, robust_statistics,
     * minmax_statistics, identity_statistics; each non-identity scale that is 0
     * becomes 1, then every one gets + eps. */
    double l = 0.0, sc = 1.0;
    switch (kind) {
    case NTG_WSCALER_IDENTITY:
        break;
    case NTG_WSCALER_STANDARD:
        mean_std(x, n, &l, &sc);
        if (sc == 0.0) sc = 1.0;
        sc += NTG_WSCALER_EPS;
        break;
    case NTG_WSCALER_ROBUST: {
        memcpy(work, x, n * sizeof *work);
        l = lower_median(work, n);
        for (size_t i = 0; i < n; i++) work[i] = fabs(x[i] - l);
        sc = lower_median(work, n);
        if (sc == 0.0) {
            /* NF: a zero MAD falls back to std * 0.6744897501960817 (the MAD of a
             * normal distribution in units of its std). */
            double m, sd;
            mean_std(x, n, &m, &sd);
            sc = sd * 0.6744897501960817;
        }
        if (sc == 0.0) sc = 1.0;
        sc += NTG_WSCALER_EPS;
        break;
    }
    case NTG_WSCALER_MINMAX: {
        double lo = x[0], hi = x[0];
        for (size_t i = 1; i < n; i++) {
            if (x[i] < lo) lo = x[i];
            if (x[i] > hi) hi = x[i];
        }
        l = lo;
        sc = hi - lo;
        if (sc == 0.0) sc = 1.0;
        sc += NTG_WSCALER_EPS;
        break;
    }
    }
    *loc = l;
    *scale = sc;
}

/* --------------------------------------------------------------- batches */

ntg_status ntg__windows_fill(const ntg_series *s, const ntg_scaler *g,
                             ntg_window_scaler window_scaler, const ntg_windows *w,
                             const uint64_t *idx, size_t n, float *x, float *t, float *loc,
                             float *scale, ntg_error *err)
{
    if (!s || !w || (n && (!idx || !x || !loc || !scale)))
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "windows_fill: NULL argument");
    if (window_scaler < NTG_WSCALER_IDENTITY || window_scaler > NTG_WSCALER_MINMAX)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "windows_fill: unknown window scaler %d",
                         (int)window_scaler);
    if (g && g->n_cols != w->n_cols)
        return ntg__fail(err, NTG_ERR_SHAPE,
                         "windows_fill: the scaler has %zu columns, the windows %zu", g->n_cols,
                         w->n_cols);
    size_t L = w->L, h = w->h;
    uint64_t count = ntg__windows_count(w);
    if (n == 0) return NTG_OK;
    double *v = malloc((2 * L + h) * sizeof *v);
    if (!v) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    double *work = v + L + h;
    size_t span = t ? L + h : L;
    for (size_t i = 0; i < n; i++) {
        if (idx[i] >= count) {
            free(v);
            return ntg__fail(err, NTG_ERR_RANGE,
                             "windows_fill: window %llu of %llu (batch row %zu)",
                             (unsigned long long)idx[i], (unsigned long long)count, i);
        }
        size_t j, st;
        ntg__windows_at(w, idx[i], &j, &st);
        int c = w->cols[j];
        if (c < 0 || (size_t)c >= s->n_cols || st < L || st - L + span > s->n_rows ||
            st - L < ntg__series_first(s, (size_t)c)) {
            free(v);
            return ntg__fail(err, NTG_ERR_RANGE,
                             "windows_fill: window %llu (column %d, rows [%zu, %zu)) is outside "
                             "the series (%zu rows, %zu columns)%s",
                             (unsigned long long)idx[i], c, st >= L ? st - L : 0, st + span - L,
                             s->n_rows, s->n_cols,
                             t && st + h > s->n_rows ? "; pass no targets for forecasts" : "");
        }
        const double *col = s->values + (size_t)c * s->n_rows + (st - L);
        for (size_t r = 0; r < span; r++) v[r] = ntg__scaler_apply(g, j, col[r]);
        double lo, sc;
        ntg__window_stats(window_scaler, v, L, work, &lo, &sc);
        /* ntg__windows_check bounds the globally scaled values; a per-window scale can
         * still blow one up (a target far outside its window's min..max range) */
        int bad = !(fabs(lo) <= FLT_MAX && sc <= FLT_MAX);
        for (size_t r = 0; r < L; r++) {
            x[i * L + r] = (float)((v[r] - lo) / sc);
            bad |= !isfinite(x[i * L + r]);
        }
        for (size_t r = 0; t && r < h; r++) {
            t[i * h + r] = (float)((v[L + r] - lo) / sc);
            bad |= !isfinite(t[i * h + r]);
        }
        if (bad) {
            free(v);
            char a[96], b[96];
            ntg__series_row_str(s, st - L, a, sizeof a);
            ntg__series_row_str(s, st - L + span - 1, b, sizeof b);
            return ntg__fail(err, NTG_ERR_DATA,
                             "column '%.60s', %s to %s: the %s window scaler takes the values "
                             "beyond the float32 range a model computes in",
                             s->names[c], a, b, ntg__window_scaler_name(window_scaler));
        }
        loc[i] = (float)lo;
        scale[i] = (float)sc;
    }
    free(v);
    return NTG_OK;
}

void ntg__windows_invert(const ntg_scaler *g, const ntg_windows *w, const uint64_t *idx, size_t n,
                         const float *loc, const float *scale, const float *y, size_t per,
                         double *out_z, double *out_orig)
{
    for (size_t i = 0; i < n; i++) {
        size_t j, st;
        ntg__windows_at(w, idx[i], &j, &st);
        for (size_t r = 0; r < per; r++) {
            double z = (double)y[i * per + r] * (double)scale[i] + (double)loc[i];
            if (out_z) out_z[i * per + r] = z;
            if (out_orig) out_orig[i * per + r] = ntg__scaler_invert(g, j, z);
        }
    }
}

/* ---------------------------------------------------------------- metadata */

/* A JSON string; bytes that are not valid UTF-8 become U+FFFD so the value
 * always parses (csv.h only hands out valid UTF-8 names anyway). */
static void sb_json_string(ntg_strbuf *b, const char *s)
{
    int valid = ntg__utf8_valid(s, strlen(s));
    ntg__sb_put(b, "\"", 1);
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        char e[8];
        if (*q == '"' || *q == '\\') {
            e[0] = '\\';
            e[1] = (char)*q;
            ntg__sb_put(b, e, 2);
        } else if (*q < 0x20) {
            snprintf(e, sizeof e, "\\u%04x", *q);
            ntg__sb_put(b, e, 6);
        } else if (*q >= 0x80 && !valid) {
            ntg__sb_put(b, "\xEF\xBF\xBD", 3);
        } else {
            ntg__sb_put(b, (const char *)q, 1);
        }
    }
    ntg__sb_put(b, "\"", 1);
}

static void sb_json_numbers(ntg_strbuf *b, const double *v, size_t n)
{
    ntg__sb_put(b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        char num[NTG_JSON_NUMBER_CAP];
        ntg__json_fmt_number(num, v[i]);
        if (i) ntg__sb_put(b, ", ", 2);
        ntg__sb_puts(b, num);
    }
    ntg__sb_put(b, "]", 1);
}

/* The buffer's text copied into the pool (NULL when out of memory). */
static const char *sb_done(ntg_strbuf *b, ntg_pool *pool)
{
    const char *r = b->oom ? NULL : ntg__pool_strdup(pool, b->p ? b->p : "");
    ntg__sb_free(b);
    return r;
}

ntg_status ntg__scaler_to_meta(const ntg_scaler *g, ntg_window_scaler window, ntg_pool *pool,
                               const char *keys[NTG_SCALER_META_KEYS],
                               const char *vals[NTG_SCALER_META_KEYS], ntg_error *err)
{
    if (!g || !pool || !keys || !vals)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "scaler_to_meta: NULL argument");
    keys[0] = "scaler.kind";
    vals[0] = ntg__scaler_name(g->kind);
    keys[1] = "scaler.window";
    vals[1] = ntg__window_scaler_name(window);
    ntg_strbuf b = {0};
    ntg__sb_put(&b, "[", 1);
    for (size_t j = 0; j < g->n_cols; j++) {
        if (j) ntg__sb_put(&b, ", ", 2);
        sb_json_string(&b, g->names[j]);
    }
    ntg__sb_put(&b, "]", 1);
    keys[2] = "scaler.columns";
    vals[2] = sb_done(&b, pool);
    sb_json_numbers(&b, g->mean, g->n_cols);
    keys[3] = "scaler.mean";
    vals[3] = sb_done(&b, pool);
    sb_json_numbers(&b, g->std, g->n_cols);
    keys[4] = "scaler.std";
    vals[4] = sb_done(&b, pool);
    for (int i = 2; i < NTG_SCALER_META_KEYS; i++)
        if (!vals[i]) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    return NTG_OK;
}

static const char *meta_get(const char *const *keys, const char *const *vals, size_t n,
                            const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (keys[i] && strcmp(keys[i], key) == 0) return vals[i] ? vals[i] : "";
    return NULL;
}

/* Parse the JSON array under `key`: n items of `kind`. */
static ntg_status meta_array(ntg_pool *pool, const char *key, const char *text, ntg_json_kind kind,
                             const ntg_json **out, ntg_error *err)
{
    char msg[128];
    size_t off = 0;
    ntg_status st = ntg__json_parse(text, strlen(text), pool, out, msg, sizeof msg, &off);
    if (st == NTG_ERR_NOMEM) return ntg__fail(err, st, "out of memory");
    if (st) return ntg__fail(err, NTG_ERR_DATA, "metadata '%s': %s at byte %zu", key, msg, off);
    if (!ntg__json_is(*out, NTG_JSON_ARRAY) || (*out)->n == 0)
        return ntg__fail(err, NTG_ERR_DATA, "metadata '%s': expected a non-empty JSON array", key);
    for (size_t i = 0; i < (*out)->n; i++)
        if (!ntg__json_is((*out)->items[i], kind))
            return ntg__fail(err, NTG_ERR_DATA, "metadata '%s': item %zu is not a %s", key, i,
                             ntg__json_kind_name(kind));
    return NTG_OK;
}

ntg_status ntg__scaler_from_meta(const char *const *keys, const char *const *vals, size_t n,
                                 ntg_scaler **out, ntg_window_scaler *window, ntg_error *err)
{
    if (out) *out = NULL;
    if (!out || (n && (!keys || !vals)))
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "scaler_from_meta: NULL argument");
    static const char *const need[NTG_SCALER_META_KEYS] = {
        "scaler.kind", "scaler.window", "scaler.columns", "scaler.mean", "scaler.std"};
    const char *v[NTG_SCALER_META_KEYS];
    for (int i = 0; i < NTG_SCALER_META_KEYS; i++) {
        v[i] = meta_get(keys, vals, n, need[i]);
        if (!v[i])
            return ntg__fail(err, NTG_ERR_NOT_FOUND, "metadata: no '%s' (no fitted scaler)",
                             need[i]);
    }
    ntg_scaler_kind kind = NTG_SCALER_NONE;
    ntg_window_scaler wk = NTG_WSCALER_IDENTITY;
    if (ntg__scaler_parse(v[0], &kind, NULL) != NTG_OK)
        return ntg__fail(err, NTG_ERR_DATA, "metadata 'scaler.kind': unknown scaler '%.60s'", v[0]);
    if (ntg__window_scaler_parse(v[1], &wk, NULL) != NTG_OK)
        return ntg__fail(err, NTG_ERR_DATA,
                         "metadata 'scaler.window': unknown window scaler '%.60s'", v[1]);
    ntg_status st = NTG_OK;
    ntg_pool *tmp = ntg__pool_create();
    if (!tmp) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    const ntg_json *cols = NULL, *mean = NULL, *sd = NULL;
    st = meta_array(tmp, need[2], v[2], NTG_JSON_STRING, &cols, err);
    if (!st) st = meta_array(tmp, need[3], v[3], NTG_JSON_NUMBER, &mean, err);
    if (!st) st = meta_array(tmp, need[4], v[4], NTG_JSON_NUMBER, &sd, err);
    if (!st && (mean->n != cols->n || sd->n != cols->n))
        st = ntg__fail(err, NTG_ERR_DATA, "metadata: %zu scaler columns but %zu means and %zu stds",
                       cols->n, mean->n, sd->n);
    ntg_scaler *g = NULL;
    if (!st) {
        g = scaler_new(kind, cols->n);
        if (!g) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    for (size_t j = 0; !st && j < cols->n; j++) {
        const ntg_json *c = cols->items[j];
        double m = mean->items[j]->num, s = sd->items[j]->num;
        if (strlen(c->str) != c->len)
            st = ntg__fail(err, NTG_ERR_DATA, "metadata 'scaler.columns': item %zu holds a NUL", j);
        else if (!isfinite(m) || !isfinite(s) || !(s > 0.0))
            st = ntg__fail(err, NTG_ERR_DATA,
                           "metadata: column '%.60s' has mean %.17g and std %.17g (the std must "
                           "be positive, both finite)",
                           c->str, m, s);
        else if (!(g->names[j] = ntg__pool_strdup(g->pool, c->str)))
            st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        else {
            g->mean[j] = m;
            g->std[j] = s;
        }
    }
    ntg__pool_destroy(tmp);
    if (st) {
        ntg__scaler_free(g);
        return st;
    }
    *out = g;
    if (window) *window = wk;
    return NTG_OK;
}
