/* compile.c — the compiler driver: graph file -> IR -> passes -> memory plan -> plan. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "ntg_error.h"
#include "graph.h"
#include "ir.h"
#include "plan_format.h"
#include "plan_int.h"
#include "safetensors.h"
#include "series.h"
#include "train_cfg.h"

#define NTG_DEFAULT_MAX_BATCH 256

void ntg_compile_options_init(ntg_compile_options *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof *opts);
    opts->size = sizeof *opts;
}

/* The "scaler.*", "trained.*" and "conformal.*" entries of a weights file's metadata into the
 * plan's metadata; a scaler must be complete and valid (NTG_ERR_DATA naming the file; the
 * conformal widths are checked where a forecast reads them). */
static ntg_status carry_trained_meta(ntg_ir *ir, const ntg_st_file *f, const char *path,
                                     ntg_error *err)
{
    size_t nm = ntg__st_meta_count(f), n_scaler = 0;
    const char *keys[64], *vals[64];
    for (size_t i = 0; i < nm; i++) {
        const char *k, *v;
        ntg__st_meta_at(f, i, &k, &v);
        if (strncmp(k, "scaler.", 7) != 0 || n_scaler == 64) continue;
        keys[n_scaler] = k;
        vals[n_scaler++] = v;
    }
    if (n_scaler > 0) {
        ntg_scaler *g = NULL;
        ntg_status st = ntg__scaler_from_meta(keys, vals, n_scaler, &g, NULL, err);
        ntg__scaler_free(g);
        if (st) {
            ntg__err_prefix(err, "%s: the fitted scaler in the metadata: ", path);
            if (err) err->status = NTG_ERR_DATA;
            return NTG_ERR_DATA;
        }
    }
    for (size_t i = 0; i < nm; i++) {
        const char *k, *v;
        ntg__st_meta_at(f, i, &k, &v);
        if (strncmp(k, "scaler.", 7) != 0 && strncmp(k, "trained.", 8) != 0 &&
            strncmp(k, "conformal.", 10) != 0)
            continue;
        const char *kc = ntg__pool_strdup(ir->pool, k), *vc = ntg__pool_strdup(ir->pool, v);
        if (!kc || !vc || ntg__ir_add_meta(ir, kc, vc))
            return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    return NTG_OK;
}

/* Whether tensor t is a batchnorm's running mean or variance (its operands 3 and 4). */
static int is_batchnorm_stat(ntg_ir *ir, uint32_t t)
{
    for (size_t k = 0; k < ir->nodes.len; k++) {
        const ntg_ir_node *n = ntg__ir_node(ir, (uint32_t)k);
        if (n->code == NTG_OP_batchnorm && n->n_in >= 5 && (n->in[3] == t || n->in[4] == t))
            return 1;
    }
    return 0;
}

ntg_status ntg__ir_load_weights(ntg_ir *ir, const char *path, int strict,
                                void (*warn)(void *, const char *), void *warn_user, ntg_error *err)
{
    ntg_st_file *f = NULL;
    ntg_status st = ntg__st_load(path, &f, err);
    if (st) return st;
    size_t n_used = 0;
    for (size_t t = 0; t < ir->tensors.len; t++) {
        ntg_ir_tensor *it = ntg__ir_tensor(ir, (uint32_t)t);
        if (it->role != NTG_ROLE_PARAM) continue;
        const ntg_st_tensor *s = ntg__st_find(f, it->name);
        if (!s) {
            st = ntg__err(err, NTG_ERR_DATA, path, 0, 0, "no tensor '%s' for parameter '%s'",
                          it->name, it->name);
            goto done;
        }
        n_used++;
        int same = strcmp(s->dtype, "F32") == 0 && s->rank == it->desc.rank;
        for (int d = 0; same && d < s->rank; d++) same = s->shape[d] == it->desc.dims[d];
        if (!same) {
            char want[96], got[160];
            size_t gl = 0;
            got[0] = '\0';
            for (int d = 0; d < s->rank && gl < sizeof got - 24; d++)
                gl += (size_t)snprintf(got + gl, sizeof got - gl, "%s%lld", d ? ", " : "",
                                       (long long)s->shape[d]);
            st = ntg__err(err, NTG_ERR_SHAPE, path, 0, 0,
                          "tensor '%s' is %s [%s]; the parameter is F32 %s", it->name, s->dtype,
                          got, ntg__tdesc_str(&it->desc, want, sizeof want));
            goto done;
        }
        /* NaN or inf weights make every forecast NaN: refuse them here, by name */
        size_t n = (size_t)s->nbytes / sizeof(float);
        for (size_t i = 0; i < n; i++) {
            float v;
            memcpy(&v, (const uint8_t *)s->data + i * sizeof v, sizeof v);
            if (isfinite(v)) continue;
            st = ntg__err(err, NTG_ERR_DATA, path, 0, 0,
                          "tensor '%s' holds %s at element %zu of %zu: parameter values must be "
                          "finite",
                          it->name,
                          isnan(v)   ? "NaN"
                          : v > 0.0f ? "inf"
                                     : "-inf",
                          i, n);
            goto done;
        }
        memcpy(it->data, s->data, (size_t)s->nbytes);
    }
    /* a buffer the graph computes itself (pos_enc) is accepted only if it matches; a
     * batchnorm's running statistics are what training made (`weights export`, a torch
     * state_dict): taken when finite, of the buffer's size */
    for (size_t t = 0; t < ir->tensors.len; t++) {
        const ntg_ir_tensor *it = ntg__ir_tensor(ir, (uint32_t)t);
        if (it->role != NTG_ROLE_CONST || !it->data) continue;
        const ntg_st_tensor *s = ntg__st_find(f, it->name);
        if (!s) continue;
        n_used++;
        size_t n = (size_t)ntg__tdesc_numel(&it->desc);
        int same = strcmp(s->dtype, "F32") == 0 && s->nbytes == n * sizeof(float);
        if (is_batchnorm_stat(ir, (uint32_t)t)) {
            for (size_t i = 0; same && i < n; i++) {
                float v;
                memcpy(&v, (const uint8_t *)s->data + i * sizeof v, sizeof v);
                same = isfinite(v) && (v >= 0 || strstr(it->name, "running_var") == NULL);
            }
            if (!same) {
                st = ntg__err(err, NTG_ERR_DATA, path, 0, 0,
                              "tensor '%s' must be %zu finite F32 values (a running variance "
                              ">= 0), batchnorm's running statistics",
                              it->name, n);
                goto done;
            }
            memcpy(it->data, s->data, n * sizeof(float));
            continue;
        }
        double worst = 0;
        for (size_t i = 0; same && i < n; i++) {
            float v;
            memcpy(&v, (const uint8_t *)s->data + i * sizeof v, sizeof v);
            double d = (double)v - (double)it->data[i];
            if (d < 0) d = -d;
            if (d > worst || d != d) worst = d;
        }
        /* computed in double and rounded, as PyTorch makes it: equal up to a float ulp */
        if (!same || !(worst <= 1e-6)) {
            st = ntg__err(err, NTG_ERR_DATA, path, 0, 0,
                          "tensor '%s' differs from the constant the graph computes (%s)", it->name,
                          same ? "values differ" : "shape or dtype differs");
            goto done;
        }
    }
    /* what training fitted travels in the file's metadata (`ntgraph weights export`): a
     * plan recompiled from it forecasts in the same units as the trained one */
    if ((st = carry_trained_meta(ir, f, path, err))) goto done;
    size_t n_extra = ntg__st_count(f) - n_used;
    if (n_extra > 0 && (strict || warn)) {
        /* name the tensors that match no parameter: the golden files carry x, t, y,
         * loss and grad.* next to the weights */
        char list[600];
        size_t ll = 0, shown = 0;
        list[0] = '\0';
        for (size_t i = 0; i < ntg__st_count(f); i++) {
            const ntg_st_tensor *s = ntg__st_get(f, i);
            int is_param = 0;
            for (size_t t = 0; t < ir->tensors.len && !is_param; t++) {
                const ntg_ir_tensor *it = ntg__ir_tensor(ir, (uint32_t)t);
                is_param =
                    (it->role == NTG_ROLE_PARAM || (it->role == NTG_ROLE_CONST && it->data)) &&
                    strcmp(it->name, s->name) == 0;
            }
            if (is_param) continue;
            if (shown < 8 && ll < sizeof list - 80) {
                int w = snprintf(list + ll, sizeof list - ll, "%s%s", shown ? ", " : "", s->name);
                if (w > 0) ll += (size_t)w;
            }
            shown++;
        }
        if (shown > 8) snprintf(list + ll, sizeof list - ll, ", ... (%zu more)", shown - 8);
        if (strict) {
            st = ntg__err(err, NTG_ERR_DATA, path, 0, 0,
                          "%zu tensor%s match no parameter (--strict): %s", n_extra,
                          n_extra == 1 ? "" : "s", list);
            goto done;
        }
        char msg[800];
        snprintf(msg, sizeof msg, "%s: ignored %zu tensor%s that match no parameter: %s", path,
                 n_extra, n_extra == 1 ? "" : "s", list);
        warn(warn_user, msg);
    }
done:
    ntg__st_free(f);
    return st;
}

/* A NAMES train value as the runtime reads it: the string, or the list's strings joined by
 * commas ("HUFL,HULL"). */
static const char *names_str(ntg_pool *pool, const ntg_value *v)
{
    if (v->kind == NTG_V_STR) return v->s;
    if (v->kind != NTG_V_LIST) return ntg__value_str(pool, v);
    size_t len = 1;
    for (size_t i = 0; i < v->n; i++) len += strlen(v->items[i].s) + 1;
    char *out = ntg__pool_alloc(pool, len);
    if (!out) return NULL;
    size_t at = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (i) out[at++] = ',';
        memcpy(out + at, v->items[i].s, strlen(v->items[i].s));
        at += strlen(v->items[i].s);
    }
    out[at] = '\0';
    return out;
}

static ntg_status add_meta(ntg_ir *ir, const ntg_rgraph *g, const ntg_compile_options *o,
                           const ntg_train_cfg *cfg, ntg_error *err)
{
    ntg_pool *pool = ir->pool;
    int bad = 0;
    bad |= ntg__ir_add_meta(ir, "model.name", g->name ? g->name : "");
    bad |= ntg__ir_add_meta(ir, "model.kind", g->kind ? g->kind : (g->name ? g->name : ""));
    if (g->description) bad |= ntg__ir_add_meta(ir, "model.description", g->description);
    bad |= ntg__ir_add_meta(ir, "model.graph", g->file ? g->file : "<string>");
    bad |= ntg__ir_add_meta(ir, "compiler.version", NTG_VERSION_STRING);
    bad |= ntg__ir_add_meta(ir, "compile.max_batch", ntg__pool_fmt(pool, "%d", ir->max_batch));
    bad |= ntg__ir_add_meta(ir, "compile.seed",
                            ntg__pool_fmt(pool, "%llu", (unsigned long long)o->seed));
    if (o->weights_path) bad |= ntg__ir_add_meta(ir, "compile.weights", o->weights_path);
    for (size_t i = 0; i < g->n_hparams; i++) {
        const char *k = ntg__pool_fmt(pool, "hparam.%s", g->hparams[i].key);
        const char *v = ntg__value_str(pool, &g->hparams[i].value);
        bad |= !k || !v || ntg__ir_add_meta(ir, k, v);
    }
    if (cfg) {
        size_t nk;
        const ntg_train_key *keys = ntg__train_keys(&nk);
        for (size_t i = 0; i < nk; i++) {
            const char *k = ntg__pool_fmt(pool, "train.%s", keys[i].name);
            const char *v = ntg__value_str(pool, &cfg->values[i]);
            if (keys[i].kind == NTG_TK_NAMES) v = names_str(pool, &cfg->values[i]);
            bad |= !k || !v || ntg__ir_add_meta(ir, k, v);
        }
    }
    return bad ? ntg__fail(err, NTG_ERR_NOMEM, "out of memory") : NTG_OK;
}

static ntg_status compile_graph(ntg_rgraph *g, const ntg_compile_options *o, ntg_plan **out,
                                ntg_error *err)
{
    ntg_ir ir;
    void *bytes = NULL;
    size_t size = 0;
    int max_batch = o->max_batch > 0 ? o->max_batch : NTG_DEFAULT_MAX_BATCH;
    if (max_batch > (1 << 20))
        return ntg__fail(err, NTG_ERR_RANGE, "max batch %d is above the limit (%d)", max_batch,
                         1 << 20);
    ntg__ir_init(&ir, g->pool);
    ntg_status st = ntg__ir_build(&ir, g, max_batch, o->seed, err);
    if (!st) st = ntg__ir_fold_constants(&ir, err);
    if (!st && o->weights_path)
        st =
            ntg__ir_load_weights(&ir, o->weights_path, (o->flags & NTG_COMPILE_STRICT_WEIGHTS) != 0,
                                 o->warn, o->warn_user, err);
    ntg_train_cfg cfg;
    int training = !(o->flags & NTG_COMPILE_INFER_ONLY);
    if (!st && training) st = ntg__train_cfg_resolve(g, o->train, o->n_train, &cfg, err);
    if (!st && training) st = ntg__ir_add_training(&ir, &cfg, err);
    if (!st) st = add_meta(&ir, g, o, training ? &cfg : NULL, err);
    if (!st) st = ntg__ir_plan_memory(&ir, err);
    if (!st) st = ntg__ir_emit(&ir, &bytes, &size, err);
    if (!st) {
        st = ntg__plan_adopt(bytes, size, g->file, out, err);
        bytes = NULL;
        /* out of memory while checking the plan is just that, not a compiler bug */
        if (st && st != NTG_ERR_NOMEM) {
            ntg__err_prefix(err, "internal error: the compiler wrote a plan it cannot load: ");
            st = NTG_ERR_INTERNAL;
            if (err) err->status = st;
        }
    }
    ntg__aligned_free(bytes);
    ntg__ir_free(&ir);
    return st;
}

static ntg_status compile_common(const char *path, const char *text, size_t len, const char *name,
                                 const ntg_compile_options *opts, ntg_plan **out, ntg_error *err)
{
    ntg_compile_options o;
    if (!out) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_compile: out is NULL");
    *out = NULL;
    ntg_compile_options_init(&o);
    ntg_status ost = NTG__ABI_IN(&o, opts, ntg_compile_options, warn_user,
                                 path ? "ntg_compile_file" : "ntg_compile_string", err);
    if (ost) return ost;
    opts = &o;
    ntg_pool *pool = ntg__pool_create();
    if (!pool) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    ntg_rgraph *g = NULL;
    ntg_status st = path ? ntg__graph_read_file(path, opts->defines, opts->n_defines, pool, &g, err)
                         : ntg__graph_read_string(text, len, name, opts->defines, opts->n_defines,
                                                  pool, &g, err);
    if (!st) st = compile_graph(g, opts, out, err);
    ntg__pool_destroy(pool);
    return st;
}

ntg_status ntg_compile_file(const char *path, const ntg_compile_options *opts, ntg_plan **out,
                            ntg_error *err)
{
    if (!path) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_compile_file: path is NULL");
    return compile_common(path, NULL, 0, NULL, opts, out, err);
}

ntg_status ntg_compile_string(const char *yaml, size_t len, const char *name,
                              const ntg_compile_options *opts, ntg_plan **out, ntg_error *err)
{
    if (!yaml) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_compile_string: yaml is NULL");
    return compile_common(NULL, yaml, len, name ? name : "<string>", opts, out, err);
}
