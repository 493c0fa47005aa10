/* test_runtime_arena.c — the memory a session touches: a run at batch b touches what batch b
 * needs, not the arena sized for the plan's maximum batch. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <sys/resource.h>

#include "ntgraph.h"

static long max_rss_kib(void)
{
    struct rusage ru;
    cr_assert_eq(getrusage(RUSAGE_SELF, &ru), 0);
    return ru.ru_maxrss; /* KiB on Linux */
}

/* x -> relu -> tanh -> y, 1024 floats a row: at max batch 32768 each tensor is 128 MiB and
 * the arena 384 MiB; 4 rows need 16 KiB of it. */
static const char GRAPH[] = "ntgraph: 1\nname: wide\ninputs:\n  x: [batch, 1024]\n"
                            "outputs:\n  y: ~\nnodes:\n"
                            "  - {op: relu, in: x, out: a}\n"
                            "  - {op: tanh, in: a, out: y}\n";

static void run_small_batch(const char *backend)
{
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.max_batch = 32768;
    o.flags |= NTG_COMPILE_INFER_ONLY;
    ntg_plan *plan = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_string(GRAPH, strlen(GRAPH), "wide.yaml", &o, &plan, &err), NTG_OK,
                 "%s", err.message);
    cr_assert_geq(ntg_plan_arena_bytes(plan), (uint64_t)384 << 20);

    static float x[4 * 1024], y[4 * 1024];
    for (int i = 0; i < 4 * 1024; i++) x[i] = (float)(i % 7) - 3.0f;
    long before = max_rss_kib();
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = backend;
    so.threads = 1;
    ntg_session *s = NULL;
    ntg_status st = ntg_session_create(plan, &so, &s, &err);
    if (st == NTG_ERR_UNSUPPORTED || st == NTG_ERR_INVALID_ARG) {
        ntg_plan_destroy(plan);
        cr_skip_test("backend %s: %s", backend, err.message);
    }
    cr_assert_eq(st, NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_set_input(s, "x", x, 4 * 1024, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_run(s, 4, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "y", y, 4 * 1024, &err), NTG_OK, "%s", err.message);
    long grown = max_rss_kib() - before;
    for (int i = 0; i < 4 * 1024; i++) {
        double want = tanh(x[i] > 0 ? x[i] : 0.0);
        cr_assert_float_eq(y[i], want, 1e-6, "y[%d] = %g, want %g", i, y[i], want);
    }
    /* the whole arena would be 393216 KiB; allow the backend's own buffers and code */
    cr_assert_lt(grown, 48 * 1024, "a 4-row run grew the peak RSS by %ld KiB (arena %llu KiB)",
                 grown, (unsigned long long)(ntg_plan_arena_bytes(plan) >> 10));
    ntg_session_destroy(s);
    ntg_plan_destroy(plan);
}

Test(runtime, small_batch_touches_little_of_a_big_arena_cpu)
{
    run_small_batch("cpu");
}

Test(runtime, small_batch_touches_little_of_a_big_arena_auto)
{
    run_small_batch("auto");
}
