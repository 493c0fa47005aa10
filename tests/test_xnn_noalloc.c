/* test_xnn_noalloc.c — xnnpack runs (infer, train_step) allocate nothing, worker threads included.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "alloc_fail.h"

#include "backend.h"
#include "ntgraph.h"
#include "plan_int.h"
#include "session_int.h"
#include "testutil.h"
#include "xnnpack/xnn_int.h"

/*
 * malloc and friends are interposed and counted by the tests' shared interposer
 * (tests/alloc_fail.c); the pthreadpool workers (and XNNPACK inside them) are seen too, since
 * it interposes pthread_create as well: a thread the test's thread starts is marked as the
 * test's, and only marked threads count (Criterion's own threads allocate too).  Each session runs
 * twice: as prepared, and prepared again with every kernel parallel whatever its size, so that the
 * workers certainly run (and would be caught allocating).
 */

static void need_xnnpack(void)
{
    if (!af_available()) cr_skip_test("the sanitizers own malloc in this build");
    if (getenv("NTG_SANITIZE")) cr_skip_test("the sanitizers own malloc in this build");
    const ntg_backend_class *c = ntg__backend_find("xnnpack");
    char info[256] = "";
    if (!c) cr_skip_test("this build has no xnnpack backend");
    if (c->available && !c->available(info, sizeof info))
        cr_skip_test("the xnnpack backend is not available here: %s", info);
}

/* Infer and train_step runs at several batches on 1 and 2 threads: zero allocations. */
static void check(const char *graph, const ntg_define *defs, size_t nd, size_t nx, size_t nt)
{
    need_xnnpack();
    af_mark_thread();
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.defines = defs;
    o.n_defines = nd;
    o.max_batch = 16;
    ntg_plan *plan = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(tu_src(graph), &o, &plan, &err), NTG_OK, "%s", err.message);
    float *x = malloc(16 * nx * 4), *t = malloc(16 * nt * 4), *y = malloc(16 * nt * 4);
    tu_rng r = {3};
    tu_fill(&r, x, 16 * nx, -1, 1);
    tu_fill(&r, t, 16 * nt, -1, 1);
    for (int threads = 1; threads <= 2; threads++)
        for (int train = 0; train < 2; train++) {
            ntg_session_options so;
            ntg_session_options_init(&so);
            so.backend = "xnnpack";
            so.threads = threads;
            if (train) so.flags = NTG_SESSION_TRAINABLE;
            ntg_session *s = NULL;
            af_count_start();
            cr_assert_eq(ntg_session_create(plan, &so, &s, &err), NTG_OK, "%s", err.message);
            cr_assert_gt(af_count_stop(), 0, "session creation allocates its arena");
            for (int pass = 0; pass < 2; pass++) {
                if (pass) {
                    ntg__xnn_set_policy(s->be, XNN_POL_PAR_ALWAYS);
                    cr_assert_eq(s->cls->prepare(s->be, &plan->view, s->storage, &err), NTG_OK);
                }
                float ctl[4] = {1e-4f, 1, 0, 0};
                af_count_start();
                for (int b = 1; b <= 16; b += 5) {
                    ntg_session_set_input(s, "x", x, (size_t)b * nx, &err);
                    if (train) {
                        ntg_session_set_input(s, "t", t, (size_t)b * nt, &err);
                        ntg_session_set_input(s, "train.ctl", ctl, 4, &err);
                        ntg_session_run_program(s, "train_step", b, &err);
                        ctl[1] += 1.0f;
                    } else {
                        ntg_session_run(s, b, &err);
                        ntg_session_get_output(s, "y", y, (size_t)b * nt, &err);
                    }
                }
                long n = af_count_stop();
                cr_assert_eq(n, 0, "%s, %d threads, %s%s: %ld allocations during runs", graph,
                             threads, train ? "train_step" : "infer",
                             pass ? " (all kernels parallel)" : "", n);
            }
            ntg_session_destroy(s);
        }
    free(x);
    free(t);
    free(y);
    ntg_plan_destroy(plan);
}

Test(xnn_noalloc, nhits)
{
    check("graphs/nhits.yaml", NULL, 0, 480, 96);
}

Test(xnn_noalloc, lstm_attention)
{
    check("graphs/lstm_attention.yaml", NULL, 0, 96, 24);
}

Test(xnn_noalloc, transformer)
{
    check("graphs/transformer.yaml", NULL, 0, 96, 24);
}
