/* test_xnn_golden.c — the three models' golden checks on the xnnpack backend, 1 and 2 threads. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "golden_check.h"
#include "ntgraph.h"
#include "plan_int.h"
#include "safetensors.h"
#include "session_int.h"
#include "testutil.h"

/* Skip (with the reason) where the backend cannot run. */
static void need_xnnpack(void)
{
    const ntg_backend_class *c = ntg__backend_find("xnnpack");
    char info[256] = "";
    if (!c) cr_skip_test("this build has no xnnpack backend (XNNPACK not found at configure)");
    if (c->available && !c->available(info, sizeof info))
        cr_skip_test("the xnnpack backend is not available here: %s", info);
}

/*
 * Compile `graph` (with `defs`) on the golden weights, loss MSE (the golden files' loss); run
 * infer on x and grad on (x, t) on the xnnpack backend with `threads`: y within max-abs-rel
 * 1e-5, the loss within relative 1e-5 and every grad.<param> within max-abs-rel 1e-4 (the
 * golden README's tolerances, as tests/test_golden_seq.c on the reference backend).  Both
 * an inference session (read-only weights: packed paths) and a trainable one (raw weights).
 */
static void golden(const char *graph_rel, const char *golden_path, const ntg_define *defs,
                   size_t nd, int threads)
{
    need_xnnpack();
    char graph[4096], path[4096];
    /* golden_path may be tu_src's buffer, which the next tu_src call reuses */
    snprintf(path, sizeof path, "%s", golden_path);
    snprintf(graph, sizeof graph, "%s", tu_src(graph_rel));
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    ntg_define tr[] = {{"loss", "mse"}};
    o.defines = defs;
    o.n_defines = nd;
    o.train = tr;
    o.n_train = 1;
    o.max_batch = 4;
    o.weights_path = path;
    ntg_plan *plan = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(graph, &o, &plan, &err), NTG_OK, "%s", err.message);
    ntg_st_file *f = NULL;
    cr_assert_eq(ntg__st_load(path, &f, &err), NTG_OK, "%s", err.message);
    const char *names[] = {"x", "t", "y"};
    float *buf[3];
    size_t n[3];
    for (int i = 0; i < 3; i++) {
        const ntg_st_tensor *t = ntg__st_find(f, names[i]);
        cr_assert(t, "golden file lacks %s", names[i]);
        n[i] = (size_t)t->nbytes / 4;
        buf[i] = malloc(t->nbytes);
        memcpy(buf[i], t->data, (size_t)t->nbytes);
    }
    int batch = (int)ntg__st_find(f, "x")->shape[0];
    float *y = malloc(n[2] * 4);

    for (int trainable = 0; trainable < 2; trainable++) {
        ntg_session *s = NULL;
        ntg_session_options so;
        ntg_session_options_init(&so);
        so.backend = "xnnpack";
        so.threads = threads;
        if (trainable) so.flags |= NTG_SESSION_TRAINABLE;
        cr_assert_eq(ntg_session_create(plan, &so, &s, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_threads(s), threads);
        cr_assert_eq(ntg_session_set_input(s, "x", buf[0], n[0], &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_set_input(s, "t", buf[1], n[1], &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_run(s, batch, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_get_output(s, "y", y, n[2], &err), NTG_OK, "%s", err.message);
        double ey = tu_max_abs_rel(y, buf[2], n[2]);
        cr_log_info("%s (%d threads, %s weights): forward max-abs-rel %.3g", graph_rel, threads,
                    trainable ? "writable" : "read-only", ey);
        cr_assert_leq(ey, 1e-5, "%s forward: %.3g", graph_rel, ey);

        /* batch 1 gives row 0 of batch 4 (within rounding: GEMM splits may differ) */
        float *one = malloc(n[2] / (size_t)batch * 4);
        cr_assert_eq(ntg_session_run(s, 1, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_get_output(s, "y", one, n[2] / (size_t)batch, &err), NTG_OK);
        double e1 = tu_max_abs_rel(one, buf[2], n[2] / (size_t)batch);
        cr_assert_leq(e1, 1e-5, "%s batch 1: %.3g", graph_rel, e1);
        free(one);

        cr_assert_eq(ntg_session_run_program(s, "grad", batch, &err), NTG_OK, "%s", err.message);
        gc_result r = gc_check_grads(s, plan, f, graph_rel, 1e-5, 1e-4);
        cr_log_info("%s (%d threads): loss rel %.3g, worst gradient %.3g (%s)", graph_rel, threads,
                    r.loss_rel, r.worst, r.worst_name);
        ntg_session_destroy(s);
    }
    for (int i = 0; i < 3; i++) free(buf[i]);
    free(y);
    ntg__st_free(f);
    ntg_plan_destroy(plan);
}

static const ntg_define small_nhits[] = {{"h", "24"}, {"input_size", "96"}, {"hidden", "64"}};

Test(xnn_golden, nhits_h24_small)
{
    for (int t = 1; t <= 2; t++)
        golden("graphs/nhits.yaml", tu_src("tests/data/nhits_h24_small.safetensors"), small_nhits,
               3, t);
}

Test(xnn_golden, nhits_h96_shared, .timeout = 600)
{
    need_xnnpack();
    const char *g = tu_shared("golden/nhits_h96.safetensors");
    if (!g) cr_skip_test("../shared/golden/nhits_h96.safetensors is absent");
    char path[4096];
    snprintf(path, sizeof path, "%s", g);
    for (int t = 1; t <= 2; t++) golden("graphs/nhits.yaml", path, NULL, 0, t);
}

Test(xnn_golden, nhits_h96_brief_shared, .timeout = 600)
{
    need_xnnpack();
    const char *g = tu_shared("golden/nhits_h96_brief.safetensors");
    if (!g) cr_skip_test("../shared/golden/nhits_h96_brief.safetensors is absent");
    char path[4096];
    snprintf(path, sizeof path, "%s", g);
    for (int t = 1; t <= 2; t++) golden("graphs/nhits_brief.yaml", path, NULL, 0, t);
}

Test(xnn_golden, lstm_attention)
{
    for (int t = 1; t <= 2; t++)
        golden("graphs/lstm_attention.yaml", tu_src("tests/data/lstm_attn_h24.safetensors"), NULL,
               0, t);
}

Test(xnn_golden, transformer)
{
    for (int t = 1; t <= 2; t++)
        golden("graphs/transformer.yaml", tu_src("tests/data/transformer_h24.safetensors"), NULL, 0,
               t);
}

/* Ten train_steps, twice, on fresh sessions of one plan: bitwise the same weights and
 * optimizer state for a given thread count (fixed reduction orders, no atomics). */
static void reproducible(const char *graph_rel, const ntg_define *defs, size_t nd, size_t nx,
                         size_t nt, int batch, int threads)
{
    need_xnnpack();
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.defines = defs;
    o.n_defines = nd;
    o.max_batch = batch;
    ntg_plan *plan = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(tu_src(graph_rel), &o, &plan, &err), NTG_OK, "%s", err.message);
    uint8_t *w[2] = {NULL, NULL}, *st[2] = {NULL, NULL};
    size_t wbytes = 0, sbytes = 0;
    for (int rep = 0; rep < 2; rep++) {
        ntg_session *s = NULL;
        ntg_session_options so;
        ntg_session_options_init(&so);
        so.backend = "xnnpack";
        so.threads = threads;
        so.flags = NTG_SESSION_TRAINABLE;
        cr_assert_eq(ntg_session_create(plan, &so, &s, &err), NTG_OK, "%s", err.message);
        float *x = malloc(nx * (size_t)batch * 4), *t = malloc(nt * (size_t)batch * 4);
        tu_rng r = {7};
        for (int step = 1; step <= 10; step++) {
            tu_fill(&r, x, nx * (size_t)batch, -1, 1);
            tu_fill(&r, t, nt * (size_t)batch, -1, 1);
            float ctl[4] = {1e-3f, (float)step, 0, 0};
            cr_assert_eq(ntg_session_set_input(s, "x", x, nx * (size_t)batch, &err), NTG_OK);
            cr_assert_eq(ntg_session_set_input(s, "t", t, nt * (size_t)batch, &err), NTG_OK);
            cr_assert_eq(ntg_session_set_input(s, "train.ctl", ctl, 4, &err), NTG_OK, "%s",
                         err.message);
            cr_assert_eq(ntg_session_run_program(s, "train_step", batch, &err), NTG_OK, "%s",
                         err.message);
        }
        wbytes = (size_t)s->plan->img.info.storage_bytes[NTG_STORE_WEIGHTS];
        sbytes = (size_t)s->plan->img.info.storage_bytes[NTG_STORE_STATE];
        w[rep] = malloc(wbytes);
        st[rep] = malloc(sbytes ? sbytes : 1);
        cr_assert_eq(ntg__session_read_storage(s, NTG_STORE_WEIGHTS, w[rep], &err), NTG_OK);
        cr_assert_eq(ntg__session_read_storage(s, NTG_STORE_STATE, st[rep], &err), NTG_OK);
        free(x);
        free(t);
        ntg_session_destroy(s);
    }
    cr_assert_eq(memcmp(w[0], w[1], wbytes), 0, "%s: weights differ between two runs (%d threads)",
                 graph_rel, threads);
    cr_assert_eq(memcmp(st[0], st[1], sbytes), 0, "%s: optimizer state differs (%d threads)",
                 graph_rel, threads);
    for (int rep = 0; rep < 2; rep++) {
        free(w[rep]);
        free(st[rep]);
    }
    ntg_plan_destroy(plan);
}

Test(xnn_golden, training_is_bitwise_reproducible, .timeout = 600)
{
    for (int t = 1; t <= 2; t++) {
        reproducible("graphs/nhits.yaml", small_nhits, 3, 96, 24, 32, t);
        reproducible("graphs/lstm_attention.yaml", NULL, 0, 96, 24, 8, t);
        reproducible("graphs/transformer.yaml", NULL, 0, 96, 24, 8, t);
    }
    /* again with every kernel split across the threads whatever its size (the backend's
     * XNN_POL_PAR_ALWAYS, through its developer knob): the parallel reductions' orders */
    setenv("NTG_XNN_POLICY", "8", 1);
    reproducible("graphs/nhits.yaml", small_nhits, 3, 96, 24, 32, 2);
    reproducible("graphs/lstm_attention.yaml", NULL, 0, 96, 24, 8, 2);
    reproducible("graphs/transformer.yaml", NULL, 0, 96, 24, 8, 2);
    unsetenv("NTG_XNN_POLICY");
}
