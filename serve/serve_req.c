/* serve_req.c — decoding a forecast or observe request body (strict JSON, bounded). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "serve.h"

static ntg_status bad(char *msg, size_t cap, const char *fmt, const char *a, size_t x, size_t y)
{
    if (msg && cap) snprintf(msg, cap, fmt, a, x, y);
    return NTG_ERR_PARSE;
}

/* An array of finite numbers (the member `what` of `field`, for the messages) into pool. */
static ntg_status numbers(const ntg_json *a, const char *field, const char *what,
                          const ntg__serve_limits *lim, ntg_pool *pool, const double **out,
                          size_t *n, char *msg, size_t cap)
{
    if (!ntg__json_is(a, NTG_JSON_ARRAY)) {
        if (msg && cap) snprintf(msg, cap, "%s '%s' is not an array of numbers", field, what);
        return NTG_ERR_PARSE;
    }
    if (a->n == 0) {
        if (msg && cap) snprintf(msg, cap, "%s '%s' has no values", field, what);
        return NTG_ERR_PARSE;
    }
    if (a->n > lim->max_values) {
        if (msg && cap)
            snprintf(msg, cap, "%s '%s' has %zu values (at most %zu)", field, what, a->n,
                     lim->max_values);
        return NTG_ERR_PARSE;
    }
    double *v = ntg__pool_array(pool, a->n, sizeof *v);
    if (!v) return NTG_ERR_NOMEM;
    for (size_t j = 0; j < a->n; j++) {
        const ntg_json *x = a->items[j];
        if (!ntg__json_is(x, NTG_JSON_NUMBER) || !isfinite(x->num)) {
            if (msg && cap)
                snprintf(msg, cap, "%s '%s' value %zu is %s: values must be finite numbers", field,
                         what, j + 1,
                         ntg__json_is(x, NTG_JSON_NULL) ? "null (NaN or infinite?)"
                                                        : "not a number");
            return NTG_ERR_PARSE;
        }
        v[j] = x->num;
    }
    *out = v;
    *n = a->n;
    return NTG_OK;
}

/* The covariate members "hist_exog", "futr_exog", "stat_exog" (obj[k], NULL when absent). */
static ntg_status covariates(const ntg_json *const obj[3], const ntg__serve_limits *lim,
                             ntg_pool *pool, ntg__serve_req *out, char *msg, size_t cap)
{
    static const char *const field[3] = {"\"hist_exog\"", "\"futr_exog\"", "\"stat_exog\""};
    size_t total = 0;
    for (int k = 0; k < 3; k++) {
        if (!obj[k]) continue;
        if (!ntg__json_is(obj[k], NTG_JSON_OBJECT)) {
            if (msg && cap)
                snprintf(msg, cap, "%s must be an object {NAME: %s} (got: %s)", field[k],
                         k == NTG__SERVE_STAT ? "number" : "[numbers]",
                         ntg__json_kind_name(obj[k]->kind));
            return NTG_ERR_PARSE;
        }
        if (obj[k]->n > lim->max_series) {
            if (msg && cap)
                snprintf(msg, cap, "%s has %zu members (at most %zu)", field[k], obj[k]->n,
                         lim->max_series);
            return NTG_ERR_PARSE;
        }
        total += obj[k]->n;
    }
    if (!total) return NTG_OK;
    out->cov_names = ntg__pool_array(pool, total, sizeof *out->cov_names);
    out->cov_values = ntg__pool_array(pool, total, sizeof *out->cov_values);
    out->cov_n = ntg__pool_array(pool, total, sizeof *out->cov_n);
    out->cov_kind = ntg__pool_array(pool, total, sizeof *out->cov_kind);
    if (!out->cov_names || !out->cov_values || !out->cov_n || !out->cov_kind) return NTG_ERR_NOMEM;
    size_t c = 0;
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; obj[k] && i < obj[k]->n; i++) {
            const ntg_json *key = obj[k]->keys[i], *val = obj[k]->items[i];
            if (key->len == 0 || key->len != strlen(key->str) || key->len > 256) {
                if (msg && cap)
                    snprintf(msg, cap, "%s member %zu: a name must be 1..256 bytes without NUL",
                             field[k], i + 1);
                return NTG_ERR_PARSE;
            }
            for (size_t j = 0; j < c; j++)
                if (strcmp(out->cov_names[j], key->str) == 0) {
                    if (msg && cap)
                        snprintf(msg, cap, "%s '%s': a covariate of that name is given twice",
                                 field[k], key->str);
                    return NTG_ERR_PARSE;
                }
            if (k == NTG__SERVE_STAT) {
                if (!ntg__json_is(val, NTG_JSON_NUMBER) || !isfinite(val->num)) {
                    if (msg && cap)
                        snprintf(msg, cap, "%s '%s' must be a finite number", field[k], key->str);
                    return NTG_ERR_PARSE;
                }
                double *v = ntg__pool_array(pool, 1, sizeof *v);
                if (!v) return NTG_ERR_NOMEM;
                v[0] = val->num;
                out->cov_values[c] = v;
                out->cov_n[c] = 1;
            } else {
                ntg_status st = numbers(val, field[k], key->str, lim, pool, &out->cov_values[c],
                                        &out->cov_n[c], msg, cap);
                if (st) return st;
            }
            out->cov_names[c] = key->str;
            out->cov_kind[c] = k;
            c++;
        }
    }
    out->n_cov = c;
    return NTG_OK;
}

ntg_status ntg__serve_decode(const char *body, size_t len, const ntg__serve_limits *lim,
                             ntg_pool *pool, ntg__serve_req *out, char *msg, size_t cap)
{
    memset(out, 0, sizeof *out);
    if (msg && cap) msg[0] = 0;
    if (len == 0) return bad(msg, cap, "%sempty body: expected a JSON object%.0zu%.0zu", "", 0, 0);
    const ntg_json *root;
    char why[160];
    size_t off = 0;
    ntg_status st = ntg__json_parse(body, len, pool, &root, why, sizeof why, &off);
    if (st == NTG_ERR_NOMEM) return st;
    if (st) {
        /* NaN and Infinity are what other JSON writers emit for non-finite floats */
        int nonfinite = off < len && (body[off] == 'N' || body[off] == 'I' ||
                                      (body[off] == '-' && off + 1 < len && body[off + 1] == 'I'));
        if (msg && cap)
            snprintf(msg, cap, "invalid JSON at byte %zu: %s%s", off, why,
                     nonfinite ? " (NaN and Infinity are not JSON: values must be finite numbers)"
                               : "");
        return NTG_ERR_PARSE;
    }
    if (!ntg__json_is(root, NTG_JSON_OBJECT))
        return bad(msg, cap,
                   "the body is a JSON %s; expected an object {\"series\": {...}}%.0zu%.0zu",
                   ntg__json_kind_name(root->kind), 0, 0);
    const ntg_json *series = NULL, *ts = NULL, *model = NULL, *cov[3] = {NULL, NULL, NULL};
    for (size_t i = 0; i < root->n; i++) {
        const char *k = root->keys[i]->str;
        if (strcmp(k, "series") == 0)
            series = root->items[i];
        else if (strcmp(k, "timestamps") == 0)
            ts = root->items[i];
        else if (strcmp(k, "model") == 0)
            model = root->items[i];
        else if (strcmp(k, "hist_exog") == 0)
            cov[NTG__SERVE_HIST] = root->items[i];
        else if (strcmp(k, "futr_exog") == 0)
            cov[NTG__SERVE_FUTR] = root->items[i];
        else if (strcmp(k, "stat_exog") == 0)
            cov[NTG__SERVE_STAT] = root->items[i];
        else
            return bad(msg, cap,
                       "unknown member '%s' (expected \"series\", \"timestamps\", \"model\", "
                       "\"hist_exog\", \"futr_exog\" or \"stat_exog\")%.0zu%.0zu",
                       k, 0, 0);
    }
    if (!series) return bad(msg, cap, "%smissing member \"series\"%.0zu%.0zu", "", 0, 0);
    if (!ntg__json_is(series, NTG_JSON_OBJECT))
        return bad(msg, cap, "\"series\" must be an object of arrays (got: %s)%.0zu%.0zu",
                   ntg__json_kind_name(series->kind), 0, 0);
    if (series->n == 0) return bad(msg, cap, "%s\"series\" is empty%.0zu%.0zu", "", 0, 0);
    if (series->n > lim->max_series)
        return bad(msg, cap, "%stoo many series: %zu (at most %zu per request)", "", series->n,
                   lim->max_series);
    if (model) {
        if (!ntg__json_is(model, NTG_JSON_STRING) || model->len != strlen(model->str))
            return bad(msg, cap, "%s\"model\" must be a string (NAME or NAME@REF)%.0zu%.0zu", "", 0,
                       0);
        out->model = model->str;
    }
    size_t n = series->n;
    out->names = ntg__pool_array(pool, n, sizeof *out->names);
    out->values = ntg__pool_array(pool, n, sizeof *out->values);
    out->n_values = ntg__pool_array(pool, n, sizeof *out->n_values);
    if (!out->names || !out->values || !out->n_values) return NTG_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const ntg_json *k = series->keys[i], *a = series->items[i];
        if (k->len == 0 || k->len != strlen(k->str) || k->len > 256)
            return bad(msg, cap, "%sseries %zu: a name must be 1..256 bytes without NUL%.0zu", "",
                       i, 0);
        if (!ntg__json_is(a, NTG_JSON_ARRAY))
            return bad(msg, cap, "series '%s' is not an array of numbers%.0zu%.0zu", k->str, 0, 0);
        if (a->n == 0) return bad(msg, cap, "series '%s' has no values%.0zu%.0zu", k->str, 0, 0);
        if (a->n > lim->max_values)
            return bad(msg, cap, "series '%s' has %zu values (at most %zu)", k->str, a->n,
                       lim->max_values);
        double *v = ntg__pool_array(pool, a->n, sizeof *v);
        if (!v) return NTG_ERR_NOMEM;
        for (size_t j = 0; j < a->n; j++) {
            const ntg_json *x = a->items[j];
            if (ntg__json_is(x, NTG_JSON_NULL))
                return bad(msg, cap,
                           "series '%s' value %zu is null (NaN or infinite?): values must be "
                           "finite numbers%.0zu",
                           k->str, j + 1, 0);
            if (!ntg__json_is(x, NTG_JSON_NUMBER))
                return bad(msg, cap, "series '%s' value %zu is not a number%.0zu", k->str, j + 1,
                           0);
            if (!isfinite(x->num))
                return bad(msg, cap, "series '%s' value %zu is not finite%.0zu", k->str, j + 1, 0);
            v[j] = x->num;
        }
        out->names[i] = k->str;
        out->values[i] = v;
        out->n_values[i] = a->n;
    }
    out->n_series = n;
    if (ts) {
        if (!ntg__json_is(ts, NTG_JSON_ARRAY))
            return bad(msg, cap, "\"timestamps\" must be an array of strings (got: %s)%.0zu%.0zu",
                       ntg__json_kind_name(ts->kind), 0, 0);
        if (ts->n > lim->max_values)
            return bad(msg, cap, "%s\"timestamps\" has %zu entries (at most %zu)", "", ts->n,
                       lim->max_values);
        const char **t = ntg__pool_array(pool, ts->n ? ts->n : 1, sizeof *t);
        if (!t) return NTG_ERR_NOMEM;
        for (size_t j = 0; j < ts->n; j++) {
            const ntg_json *x = ts->items[j];
            if (!ntg__json_is(x, NTG_JSON_STRING) || x->len != strlen(x->str))
                return bad(msg, cap, "%s\"timestamps\" entry %zu is not a string%.0zu", "", j + 1,
                           0);
            t[j] = x->str;
        }
        out->timestamps = t;
        out->n_timestamps = ts->n;
    }
    return covariates(cov, lim, pool, out, msg, cap);
}
