/* warm_start.c — fine-tuning: a plan compiled from a graph that starts from another plan's
 * parameters and fitted scaler (ntg_train_options.init, `ntgraph train --init`). */
#include "warm_start.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ntg_error.h"
#include "plan_format.h"

static void shape_str(const ntg_tensor_info *t, char *buf, size_t cap)
{
    size_t at = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < t->rank && at < cap; d++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (at < cap) snprintf(buf + at, cap - at, "]%s", t->dtype == NTG_DTYPE_F32 ? "" : " int32");
}

/* Index of src's parameter called `name`, or -1 (info filled when found). */
static long find_param(const ntg_plan *src, const char *name, ntg_tensor_info *info)
{
    size_t n = ntg_plan_param_count(src);
    for (size_t j = 0; j < n; j++) {
        ntg_tensor_info_init(info);
        if (ntg_plan_param(src, j, info, NULL) == NTG_OK && strcmp(info->name, name) == 0)
            return (long)j;
    }
    return -1;
}

ntg_status ntg__plan_warm_start(const ntg_plan *plan, const ntg_plan *src, ntg_plan **out,
                                ntg_error *err)
{
    *out = NULL;
    size_t np = ntg_plan_param_count(plan);
    size_t wbytes = (size_t)plan->img.info.storage_bytes[NTG_STORE_WEIGHTS];
    if (np == 0 || !plan->img.weights)
        return ntg__fail(err, NTG_ERR_SHAPE, "warm start: the graph has no parameters");
    /* every parameter of the graph in the source, same type and shape; then none more */
    for (size_t i = 0; i < np; i++) {
        ntg_tensor_info g, s;
        ntg_tensor_info_init(&g);
        ntg_status st = ntg_plan_param(plan, i, &g, err);
        if (st) return st;
        if (find_param(src, g.name, &s) < 0)
            return ntg__fail(err, NTG_ERR_SHAPE,
                             "warm start: the graph's parameter '%s' is not in the source plan "
                             "(it has %zu parameters)",
                             g.name, ntg_plan_param_count(src));
        int same = g.dtype == s.dtype && g.rank == s.rank && g.nbytes == s.nbytes;
        for (int d = 0; same && d < g.rank; d++) same = g.shape[d] == s.shape[d];
        if (!same) {
            char a[160], b[160];
            shape_str(&g, a, sizeof a);
            shape_str(&s, b, sizeof b);
            return ntg__fail(err, NTG_ERR_SHAPE,
                             "warm start: parameter '%s' is %s in the graph but %s in the source "
                             "plan",
                             g.name, a, b);
        }
    }
    size_t ns = ntg_plan_param_count(src);
    for (size_t j = 0; j < ns; j++) {
        ntg_tensor_info s, g;
        ntg_tensor_info_init(&s);
        ntg_status st = ntg_plan_param(src, j, &s, err);
        if (st) return st;
        if (find_param(plan, s.name, &g) < 0)
            return ntg__fail(err, NTG_ERR_SHAPE,
                             "warm start: the source plan's parameter '%s' is not in the graph "
                             "(a different model?)",
                             s.name);
    }
    uint8_t *w = malloc(wbytes + 1);
    if (!w) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    memcpy(w, plan->img.weights, wbytes);
    for (size_t i = 0; i < np; i++) {
        ntg_tensor_info g, s;
        ntg_tensor_info_init(&g);
        ntg_plan_param(plan, i, &g, NULL);
        long j = find_param(src, g.name, &s);
        const uint8_t *dst = ntg_plan_param_data(plan, i);
        const void *from = ntg_plan_param_data(src, (size_t)j);
        if (!dst || !from) {
            free(w);
            return ntg__fail(err, NTG_ERR_STATE, "warm start: parameter '%s' has no stored values",
                             g.name);
        }
        memcpy(w + (dst - plan->img.weights), from, g.nbytes);
    }
    /* the source's fitted scaler travels with its weights (ntg__model_scaler reads it) */
    static const char *const keys[] = {"scaler.kind", "scaler.window", "scaler.columns",
                                       "scaler.mean", "scaler.std"};
    const char *meta[2 * 5];
    size_t nm = 0;
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const char *v = ntg_plan_meta(src, keys[k]);
        if (!v) continue;
        meta[2 * nm] = keys[k];
        meta[2 * nm + 1] = v;
        nm++;
    }
    ntg_status st = ntg__plan_rewrite(plan, w, meta, nm, out, err);
    free(w);
    return st;
}
