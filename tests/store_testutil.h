/* store_testutil.h — helpers the model store's tests share: temporary stores, small plans,
 * variants.
 */
#ifndef NTG_STORE_TESTUTIL_H
#define NTG_STORE_TESTUTIL_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ntgraph.h"
#include "plan_int.h"
#include "testutil.h"

/* A fresh temporary directory (mkdtemp), removed by st_rmdir. */
static inline void st_mkdtemp(char *buf, size_t cap, const char *what)
{
    snprintf(buf, cap, "/tmp/ntg-%s-XXXXXX", what);
    cr_assert(mkdtemp(buf));
}

static inline void st_rmdir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* A small N-HiTS (or another graph) plan; infer_only keeps it smaller. */
static inline ntg_plan *st_compile(const char *graph, int infer_only, uint64_t seed)
{
    ntg_define small[] = {{"h", "24"}, {"input_size", "96"}, {"hidden", "64"}};
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    if (strstr(graph, "nhits")) {
        o.defines = small;
        o.n_defines = 3;
    }
    o.max_batch = 8;
    o.seed = seed;
    o.flags = infer_only ? NTG_COMPILE_INFER_ONLY : 0;
    ntg_plan *p = NULL;
    ntg_error err;
    ntg_status st = ntg_compile_file(tu_src(graph), &o, &p, &err);
    cr_assert_eq(st, NTG_OK, "%s", err.message);
    return p;
}

/* A plan equal to p but with parameter `param` filled from `seed` (the others unchanged). */
static inline ntg_plan *st_variant(const ntg_plan *p, size_t param, uint64_t seed)
{
    const ntg_plan_image *im = &p->img;
    uint8_t *w = malloc(im->weights_bytes + 1);
    cr_assert(w);
    memcpy(w, im->weights, im->weights_bytes);
    const ntg_tensor_rec *t = &im->tensors[p->param_ids[param % p->n_params]];
    tu_rng r = {seed * 7919 + 17};
    tu_fill(&r, (float *)(void *)(w + t->offset), (size_t)(t->nbytes / 4), -0.5, 0.5);
    ntg_plan *out = NULL;
    ntg_error err;
    cr_assert_eq(ntg__plan_rewrite(p, w, NULL, 0, &out, &err), NTG_OK, "%s", err.message);
    free(w);
    return out;
}

/* 1 when the two plans' file bytes are identical. */
static inline int st_same_bytes(const ntg_plan *a, const ntg_plan *b)
{
    return a->size == b->size && memcmp(a->base, b->base, a->size) == 0;
}

static inline ntg_store *st_open(const char *path, unsigned flags)
{
    ntg_store_options o;
    ntg_store_options_init(&o);
    o.flags = flags;
    ntg_store *s = NULL;
    ntg_error err;
    ntg_status st = ntg_store_open(path, &o, &s, &err);
    cr_assert_eq(st, NTG_OK, "%s", err.message);
    return s;
}

static inline uint64_t st_put(ntg_store *s, const char *name, const ntg_plan *p)
{
    uint64_t v = 0;
    ntg_error err;
    ntg_status st = ntg_store_put(s, name, p, NULL, &v, &err);
    cr_assert_eq(st, NTG_OK, "%s", err.message);
    return v;
}

#endif /* NTG_STORE_TESTUTIL_H */
