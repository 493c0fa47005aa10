/* train_cfg.c — the `train:` section: known keys, their defaults, -T overrides, validation. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ntg_error.h"
#include "expr.h"
#include "train_cfg.h"

/* Defaults start from NeuralForecast's NHITS (Adam, lr 1e-3, 1000 steps, 3 step decays,
 * MAE, validation every 100 steps, early stopping off) and torch.optim's defaults. */
static const ntg_train_key keys[] = {
    {"loss", NTG_TK_WORD, "mae", "mae | mse | huber | mqloss | normal | studentt | xent"},
    {"huber_delta", NTG_TK_NUMBER, "1.0", "Huber loss threshold"},
    {"quantiles", NTG_TK_NUMBERS, "[0.1, 0.5, 0.9]",
     "mqloss: quantile levels in (0, 1), ascending, in the order of the output's quantile axis; "
     "normal, studentt: the levels forecast from the predicted distribution"},
    {"quantile_axis", NTG_TK_INT, "-1", "mqloss: the output's quantile axis"},
    {"point_quantile", NTG_TK_NUMBER, "0.5",
     "mqloss: the level forecast and scored as the point forecast (one of quantiles)"},
    {"class_threshold", NTG_TK_NUMBER, "0",
     "xent: the dead band of 3 classes: |y[t+k] - y[t]| <= this (on the scaled axis the model "
     "sees) is flat; 0 with 2 classes (down, up); the class count is the output's last axis"},
    {"optimizer", NTG_TK_WORD, "adam", "adam | adamw | sgd"},
    {"lr", NTG_TK_NUMBER, "0.001", "learning rate"},
    {"beta1", NTG_TK_NUMBER, "0.9", "Adam: decay of the first moment"},
    {"beta2", NTG_TK_NUMBER, "0.999", "Adam: decay of the second moment"},
    {"eps", NTG_TK_NUMBER, "1e-08", "Adam: denominator epsilon"},
    {"weight_decay", NTG_TK_NUMBER, "0", "L2 penalty (adam, sgd) or decoupled decay (adamw)"},
    {"momentum", NTG_TK_NUMBER, "0", "SGD momentum"},
    {"dampening", NTG_TK_NUMBER, "0", "SGD dampening"},
    {"nesterov", NTG_TK_BOOL, "false", "SGD Nesterov momentum"},
    {"clip", NTG_TK_NUMBER, "0", "largest global gradient norm (0: no clipping)"},
    {"target", NTG_TK_WORD, "\"\"", "the output the loss compares with t (default: the first)"},
    {"mask", NTG_TK_BOOL, "false", "take a `mask` input weighting the loss"},
    {"steps", NTG_TK_INT, "1000", "optimizer steps"},
    {"batch", NTG_TK_INT, "256", "windows per step"},
    {"lr_decays", NTG_TK_INT, "3", "halve the learning rate this many times, evenly spaced"},
    {"val_every", NTG_TK_INT, "100", "validate every this many steps (0: never)"},
    {"patience", NTG_TK_INT, "-1",
     "stop after this many validations without improvement "
     "(-1: never)"},
    {"seed", NTG_TK_INT, "1", "window sampling seed"},
    {"scaler", NTG_TK_WORD, "zscore", "global scaler: zscore | log | none"},
    {"window_scaler", NTG_TK_WORD, "identity",
     "per-window scaler: identity | standard | robust | minmax"},
    {"hist_exog", NTG_TK_NAMES, "\"\"",
     "historic covariates: columns, each COLUMN or COLUMN:NORM (docs/data.md)"},
    {"futr_exog", NTG_TK_NAMES, "\"\"",
     "future-known covariates: columns or calendar:FEATURE (docs/data.md)"},
    {"static", NTG_TK_NAMES, "\"\"", "static attributes: K=V items or a CSV file (docs/data.md)"},
};
#define N_KEYS (sizeof keys / sizeof keys[0])

const ntg_train_key *ntg__train_keys(size_t *n)
{
    *n = N_KEYS;
    return keys;
}

static int key_index(const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].name, name) == 0) return (int)i;
    return -1;
}

static const char *nearest_key(const char *name, char *buf, size_t cap)
{
    ntg_nearest n;
    ntg__nearest_init(&n, name);
    for (size_t i = 0; i < N_KEYS; i++) ntg__nearest_try(&n, keys[i].name);
    return ntg__nearest_hint(&n, buf, cap);
}

/* Check a value against its key's kind; returns 0 or -1 with a message. */
static int check_kind(const ntg_train_key *k, const ntg_value *v, char *msg, size_t cap)
{
    switch (k->kind) {
    case NTG_TK_WORD:
        if (v->kind == NTG_V_STR) return 0;
        break;
    case NTG_TK_NUMBER:
        if (v->kind == NTG_V_INT || v->kind == NTG_V_FLOAT) return 0;
        break;
    case NTG_TK_INT:
        if (v->kind == NTG_V_INT) return 0;
        break;
    case NTG_TK_BOOL:
        if (v->kind == NTG_V_BOOL || (v->kind == NTG_V_INT && (v->i == 0 || v->i == 1))) return 0;
        break;
    case NTG_TK_NUMBERS:
        if (v->kind != NTG_V_LIST) break;
        for (size_t i = 0; i < v->n; i++)
            if (v->items[i].kind != NTG_V_INT && v->items[i].kind != NTG_V_FLOAT) goto bad;
        return 0;
    case NTG_TK_NAMES:
        if (v->kind == NTG_V_STR) return 0;
        if (v->kind != NTG_V_LIST) break;
        for (size_t i = 0; i < v->n; i++)
            if (v->items[i].kind != NTG_V_STR) goto bad;
        return 0;
    }
bad:;
    static const char *const what[] = {"a word",        "a number",          "an integer",
                                       "true or false", "a list of numbers", "a list of names"};
    ntg__strfmt(msg, cap, "train key '%s' must be %s (%s)", k->name, what[k->kind], k->doc);
    return -1;
}

static double num(const ntg_value *v)
{
    return v->kind == NTG_V_FLOAT ? v->f : (double)v->i;
}

ntg_status ntg__train_cfg_resolve(const ntg_rgraph *g, const ntg_define *over, size_t n_over,
                                  ntg_train_cfg *cfg, ntg_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    ntg_loc here = {"<train defaults>", 0, 0};
    char msg[512], hint[160];
    for (size_t i = 0; i < N_KEYS; i++) {
        ntg_status st = ntg__graph_eval(g, keys[i].def, here, &cfg->values[i], err);
        if (st) return st;
        cfg->where[i] = here;
    }
    for (size_t i = 0; i < g->n_train; i++) {
        const ntg_rkv *kv = &g->train[i];
        int k = key_index(kv->key);
        if (k < 0)
            return ntg__err(err, NTG_ERR_GRAPH, kv->loc.file, kv->loc.line, kv->loc.col,
                            "unknown train key '%s'%s", kv->key,
                            nearest_key(kv->key, hint, sizeof hint));
        if (check_kind(&keys[k], &kv->value, msg, sizeof msg))
            return ntg__err(err, NTG_ERR_GRAPH, kv->loc.file, kv->loc.line, kv->loc.col, "%s", msg);
        cfg->values[k] = kv->value;
        cfg->where[k] = kv->loc;
    }
    for (size_t i = 0; i < n_over; i++) {
        int k = key_index(over[i].name);
        ntg_loc cl = {"<command line>", 0, 0};
        if (k < 0)
            return ntg__err(err, NTG_ERR_INVALID_ARG, NULL, 0, 0, "unknown train setting '%s'%s",
                            over[i].name, nearest_key(over[i].name, hint, sizeof hint));
        ntg_value v;
        ntg_status st = ntg__graph_eval(g, over[i].value, cl, &v, err);
        if (st) return st;
        if (check_kind(&keys[k], &v, msg, sizeof msg))
            return ntg__fail(err, NTG_ERR_INVALID_ARG, "%s, not '%s'", msg, over[i].value);
        cfg->values[k] = v;
        cfg->where[k] = cl;
    }

    /* the compile-time settings, checked here so errors point at the train section */
#define V(name) (&cfg->values[key_index(name)])
#define AT(name) (cfg->where[key_index(name)])
#define BAD(name, ...)                                                                             \
    ntg__err(err, NTG_ERR_GRAPH, AT(name).file, AT(name).line, AT(name).col, __VA_ARGS__)
    const char *loss = V("loss")->s;
    if (strcmp(loss, "mae") == 0)
        cfg->loss_code = NTG_OP_loss_mae;
    else if (strcmp(loss, "mse") == 0)
        cfg->loss_code = NTG_OP_loss_mse;
    else if (strcmp(loss, "huber") == 0)
        cfg->loss_code = NTG_OP_loss_huber;
    else if (strcmp(loss, "mqloss") == 0)
        cfg->loss_code = NTG_OP_loss_pinball;
    else if (strcmp(loss, "normal") == 0)
        cfg->loss_code = NTG_OP_loss_normal;
    else if (strcmp(loss, "studentt") == 0)
        cfg->loss_code = NTG_OP_loss_studentt;
    else if (strcmp(loss, "xent") == 0)
        cfg->loss_code = NTG_OP_loss_xent;
    else
        return BAD("loss", "unknown loss '%s' (mae, mse, huber, mqloss, normal, studentt, xent)",
                   loss);
    cfg->class_threshold = num(V("class_threshold"));
    if (!(cfg->class_threshold >= 0) || !isfinite(cfg->class_threshold))
        return BAD("class_threshold", "class_threshold must be a finite number >= 0");
    cfg->huber_delta = num(V("huber_delta"));
    cfg->quantile_axis = (int)V("quantile_axis")->i;
    const ntg_value *q = V("quantiles");
    cfg->n_quantiles = (int)q->n;
    int dist = cfg->loss_code == NTG_OP_loss_normal || cfg->loss_code == NTG_OP_loss_studentt;
    if ((cfg->loss_code == NTG_OP_loss_pinball || dist) && (q->n < 1 || q->n > 63))
        return BAD("quantiles", "%s needs 1 to 63 quantiles", loss);
    for (size_t i = 0; i < q->n && i < 64; i++) {
        cfg->quantiles[i] = num(&q->items[i]);
        if (!(cfg->quantiles[i] > 0 && cfg->quantiles[i] < 1))
            return BAD("quantiles", "quantile %g is outside (0, 1)", cfg->quantiles[i]);
        /* ascending and unique: forecasts, intervals and their labels pair levels by
         * their order (and a level given twice would be trained twice) */
        if (i > 0 && !(cfg->quantiles[i] > cfg->quantiles[i - 1]))
            return BAD("quantiles",
                       "quantiles must be ascending and unique: %g comes after %g (write them "
                       "in the order of the output's quantile axis, e.g. [0.1, 0.5, 0.9])",
                       cfg->quantiles[i], cfg->quantiles[i - 1]);
    }
    /* the point forecast (what run prints as the column, what eval scores) must be a level
     * the model outputs: by default the median */
    double point = num(V("point_quantile"));
    int has_point = 0;
    for (size_t i = 0; i < q->n && i < 64; i++) has_point |= cfg->quantiles[i] == point;
    if (cfg->loss_code == NTG_OP_loss_pinball && !has_point) {
        char list[256];
        size_t ll = 0;
        for (size_t i = 0; i < q->n && i < 64 && ll < sizeof list - 32; i++)
            ll += (size_t)snprintf(list + ll, sizeof list - ll, "%s%g", i ? ", " : "",
                                   cfg->quantiles[i]);
        if (AT("point_quantile").file == here.file) /* the default: point at the levels */
            return BAD("quantiles",
                       "quantiles [%s] have no median (0.5), the default point forecast: add "
                       "0.5 or set point_quantile to one of them",
                       list);
        return BAD("point_quantile", "point_quantile %g is not one of the quantiles [%s]", point,
                   list);
    }
    const char *opt = V("optimizer")->s;
    if (strcmp(opt, "adam") == 0 || strcmp(opt, "adamw") == 0) {
        cfg->optimizer = NTG_OP_adam;
        cfg->decoupled = strcmp(opt, "adamw") == 0;
    } else if (strcmp(opt, "sgd") == 0) {
        cfg->optimizer = NTG_OP_sgd;
    } else {
        return BAD("optimizer", "unknown optimizer '%s' (adam, adamw, sgd)", opt);
    }
    cfg->beta1 = num(V("beta1"));
    cfg->beta2 = num(V("beta2"));
    cfg->eps = num(V("eps"));
    cfg->weight_decay = num(V("weight_decay"));
    cfg->momentum = num(V("momentum"));
    cfg->dampening = num(V("dampening"));
    cfg->nesterov = (int)V("nesterov")->i;
    cfg->clip = num(V("clip"));
    cfg->masked = (int)V("mask")->i;
    cfg->target = V("target")->s[0] ? V("target")->s : NULL;
    if (cfg->clip < 0) return BAD("clip", "clip must be >= 0");
    if (cfg->weight_decay < 0) return BAD("weight_decay", "weight_decay must be >= 0");
    if (cfg->nesterov && (cfg->momentum <= 0 || cfg->dampening != 0))
        return BAD("nesterov", "Nesterov momentum needs momentum > 0 and dampening 0");
    if (num(V("lr")) <= 0) return BAD("lr", "lr must be positive");
    if (V("steps")->i < 1) return BAD("steps", "steps must be >= 1");
    if (V("batch")->i < 1) return BAD("batch", "batch must be >= 1");
    if (V("lr_decays")->i < 0) return BAD("lr_decays", "lr_decays must be >= 0");
    if (V("val_every")->i < 0) return BAD("val_every", "val_every must be >= 0");
    const char *sc = V("scaler")->s, *ws = V("window_scaler")->s;
    if (strcmp(sc, "zscore") && strcmp(sc, "none"))
        return BAD("scaler", "unknown scaler '%s' (zscore, none)", sc);
    if (strcmp(ws, "identity") && strcmp(ws, "standard") && strcmp(ws, "robust") &&
        strcmp(ws, "minmax"))
        return BAD("window_scaler",
                   "unknown window scaler '%s' (identity, standard, robust, minmax)", ws);
#undef V
#undef AT
#undef BAD
    return NTG_OK;
}

const ntg_value *ntg__train_cfg_get(const ntg_train_cfg *cfg, const char *key)
{
    int k = key_index(key);
    return k >= 0 ? &cfg->values[k] : NULL;
}
