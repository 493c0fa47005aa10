/* test_store_dedup.c — content addressing: a changed tensor costs its bytes; N-HiTS overhead <= 2%.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "store.h"
#include "store_testutil.h"

static char dir[256], db[300];

static void setup(void)
{
    st_mkdtemp(dir, sizeof dir, "store-dedup");
    snprintf(db, sizeof db, "%s/models.db", dir);
}

static void teardown(void)
{
    st_rmdir(dir);
}

TestSuite(store, .init = setup, .fini = teardown);

static ntg_store_stats stats(ntg_store *s)
{
    ntg_store_stats st;
    ntg_store_stats_init(&st);
    ntg_error err;
    cr_assert_eq(ntg_store_stats_get(s, &st, &err), NTG_OK, "%s", err.message);
    return st;
}

Test(store, one_changed_tensor_stores_only_that_tensor)
{
    ntg_plan *p = st_compile("graphs/nhits.yaml", 0, 1);
    /* parameter 2 is a 64x64 weight: big enough for a blob file */
    ntg_tensor_info ti;
    ntg_tensor_info_init(&ti);
    cr_assert_eq(ntg_plan_param(p, 2, &ti, NULL), NTG_OK);
    cr_assert_geq(ti.nbytes, 8192);
    ntg_plan *q = st_variant(p, 2, 77);
    ntg_store *s = st_open(db, 0);
    ntg_error err;
    st_put(s, "m", p);
    cr_assert_eq(ntg__store_compact(s, &err), NTG_OK, "%s", err.message);
    ntg_store_stats a = stats(s);
    st_put(s, "m", q);
    cr_assert_eq(ntg__store_compact(s, &err), NTG_OK, "%s", err.message);
    ntg_store_stats b = stats(s);
    /* exactly one new chunk, the tensor; the skeleton is shared */
    cr_assert_eq(b.chunks, a.chunks + 1);
    cr_assert_eq(b.chunk_bytes, a.chunk_bytes + ti.nbytes);
    uint64_t grew = (b.sst_bytes + b.blob_bytes) - (a.sst_bytes + a.blob_bytes);
    cr_log_info("version 2 changed %zu bytes; the store grew by %llu", ti.nbytes,
                (unsigned long long)grew);
    cr_assert_geq(grew, ti.nbytes);
    cr_assert_leq(grew, ti.nbytes + 8192, "grew %llu for a %zu-byte tensor",
                  (unsigned long long)grew, ti.nbytes);
    /* the same plan again stores no chunk at all */
    st_put(s, "m", q);
    ntg_store_stats c = stats(s);
    cr_assert_eq(c.chunks, b.chunks);
    cr_assert_eq(c.chunk_bytes, b.chunk_bytes);
    /* and every version still loads bit-exactly */
    ntg_plan *g = NULL;
    cr_assert_eq(ntg_store_get_plan(s, "m@1", &g, &err), NTG_OK, "%s", err.message);
    cr_assert(st_same_bytes(g, p));
    ntg_plan_destroy(g);
    cr_assert_eq(ntg_store_get_plan(s, "m@3", &g, &err), NTG_OK, "%s", err.message);
    cr_assert(st_same_bytes(g, q));
    ntg_plan_destroy(g);
    ntg_store_close(s);
    ntg_plan_destroy(p);
    ntg_plan_destroy(q);
}

Test(store, nhits_overhead_at_most_two_percent)
{
    /* the full-size N-HiTS of graphs/nhits.yaml: 3.7 M parameters, 14 MiB */
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    ntg_plan *p = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(tu_src("graphs/nhits.yaml"), &o, &p, &err), NTG_OK, "%s",
                 err.message);
    ntg_store *s = st_open(db, 0);
    st_put(s, "nhits", p);
    cr_assert_eq(ntg__store_compact(s, &err), NTG_OK, "%s", err.message);
    ntg_store_stats st = stats(s);
    uint64_t raw = 0;
    for (size_t i = 0; i < ntg_plan_param_count(p); i++) {
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        ntg_plan_param(p, i, &ti, NULL);
        raw += ti.nbytes;
    }
    double overhead = (double)(st.sst_bytes + st.blob_bytes) / (double)raw - 1;
    cr_log_info("N-HiTS: %llu bytes of parameters, %llu in SST files + %llu in blob files: "
                "overhead %.3f%%",
                (unsigned long long)raw, (unsigned long long)st.sst_bytes,
                (unsigned long long)st.blob_bytes, 100 * overhead);
    cr_assert_leq(overhead, 0.02, "overhead %.3f%%", 100 * overhead);
    ntg_store_close(s);
    ntg_plan_destroy(p);
}
