/* test_golden_nhits.c — N-HiTS forward against PyTorch golden vectors (max-abs-rel <= 1e-5). */
#include <criterion/criterion.h>
#include <string.h>

#include "ntgraph.h"
#include "safetensors.h"
#include "testutil.h"

/* Compile `graph` with the golden file's weights, run its `x`, compare with its `y`:
 * max |out - y| / max |y| must stay within 1e-5 (golden README: float32 vs float64 of
 * the same weights differ by ~1e-7, so 1e-5 leaves room for summation order only). */
static double golden_forward(const char *graph, const char *golden, const ntg_define *defs,
                             size_t nd)
{
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.defines = defs;
    o.n_defines = nd;
    o.max_batch = 4;
    o.weights_path = golden;
    ntg_plan *plan = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(graph, &o, &plan, &err), NTG_OK, "%s", err.message);

    ntg_st_file *f = NULL;
    cr_assert_eq(ntg__st_load(golden, &f, &err), NTG_OK, "%s", err.message);
    const ntg_st_tensor *x = ntg__st_find(f, "x"), *y = ntg__st_find(f, "y");
    cr_assert(x && y);
    size_t nx = (size_t)(x->nbytes / 4), ny = (size_t)(y->nbytes / 4);
    float *xb = malloc(nx * 4), *yb = malloc(ny * 4), *out = malloc(ny * 4);
    memcpy(xb, x->data, nx * 4);
    memcpy(yb, y->data, ny * 4);
    int batch = (int)x->shape[0];

    ntg_session *s = NULL;
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "cpu";
    cr_assert_eq(ntg_session_create(plan, &so, &s, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_set_input(s, "x", xb, nx, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_run(s, batch, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "y", out, ny, &err), NTG_OK, "%s", err.message);
    double e = tu_max_abs_rel(out, yb, ny);

    /* batch 1 gives the first row exactly as batch 4 does */
    float *one = malloc(ny * 4);
    cr_assert_eq(ntg_session_run(s, 1, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "y", one, ny / (size_t)batch, &err), NTG_OK);
    cr_assert_eq(memcmp(one, out, ny / (size_t)batch * 4), 0, "batch 1 differs from row 0");

    free(one);
    ntg_session_destroy(s);
    ntg_plan_destroy(plan);
    ntg__st_free(f);
    free(xb);
    free(yb);
    free(out);
    return e;
}

Test(golden, nhits_h24_small_vendored)
{
    ntg_define d[] = {{"h", "24"}, {"input_size", "96"}, {"hidden", "64"}};
    char graph[4096];
    snprintf(graph, sizeof graph, "%s", tu_src("graphs/nhits.yaml"));
    double e = golden_forward(graph, tu_src("tests/data/nhits_h24_small.safetensors"), d, 3);
    cr_log_info("nhits_h24_small: max-abs-rel %.3g", e);
    cr_assert_leq(e, 1e-5, "max-abs-rel %.3g", e);
}

Test(golden, nhits_h96_shared)
{
    const char *g = tu_shared("golden/nhits_h96.safetensors");
    if (!g) cr_skip_test("../shared/golden/nhits_h96.safetensors is absent");
    char path[4096];
    snprintf(path, sizeof path, "%s", g);
    double e = golden_forward(tu_src("graphs/nhits.yaml"), path, NULL, 0);
    cr_log_info("nhits_h96: max-abs-rel %.3g", e);
    cr_assert_leq(e, 1e-5, "max-abs-rel %.3g", e);
}

Test(golden, nhits_h96_brief_shared)
{
    const char *g = tu_shared("golden/nhits_h96_brief.safetensors");
    if (!g) cr_skip_test("../shared/golden/nhits_h96_brief.safetensors is absent");
    char path[4096];
    snprintf(path, sizeof path, "%s", g);
    double e = golden_forward(tu_src("graphs/nhits_brief.yaml"), path, NULL, 0);
    cr_log_info("nhits_h96_brief: max-abs-rel %.3g", e);
    cr_assert_leq(e, 1e-5, "max-abs-rel %.3g", e);
}
