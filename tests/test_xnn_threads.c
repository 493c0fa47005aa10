/* test_xnn_threads.c — the xnnpack backend on its thread pool: 1 and 2 threads give the same
 * bits, a late worker changes nothing, and the default thread count follows the affinity. */
#define _GNU_SOURCE /* sched_setaffinity */
#include <criterion/criterion.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "ntgraph.h"
#include "plan_int.h"
#include "session_int.h"
#include "testutil.h"
#include "xnnpack/xnn_int.h"

/* At most 8 rows per LSTM chunk on 1 thread as on 2: the LSTM projects a chunk's whole input
 * sequence first only up to 8 rows (xnn_lstm.c), a different summation than the fused step,
 * so a batch above 8 is split-dependent there by design (reproducible per thread count). */
enum { MAXB = 16, BATCH = 8 };

static void need_xnnpack(void)
{
    const ntg_backend_class *c = ntg__backend_find("xnnpack");
    char info[256] = "";
    if (!c) cr_skip_test("this build has no xnnpack backend");
    if (c->available && !c->available(info, sizeof info))
        cr_skip_test("the xnnpack backend is not available here: %s", info);
}

typedef struct model {
    const char *graph;
    size_t nx, ny;
} model;

static const model models[] = {
    {"graphs/nhits.yaml", 480, 96},
    {"graphs/lstm_attention.yaml", 96, 24},
    {"graphs/transformer.yaml", 96, 24},
};

/* How a session's pool is driven in one configuration. */
typedef struct how {
    int threads;
    unsigned policy;   /* XNN_POL_*: PAR_ALWAYS, every kernel split whatever its size (the
                        * workers certainly run); SOLO, the splits run on the caller alone */
    unsigned delay_us; /* the worker wakes this late for every parallel op */
} how;

/* infer at BATCH, then three train steps and infer again: both outputs into y (2 * BATCH * ny). */
static void run_model(const ntg_plan *plan, const model *m, how h, float *y)
{
    ntg_error err;
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "xnnpack";
    so.threads = h.threads;
    so.flags = NTG_SESSION_TRAINABLE;
    ntg_session *s = NULL;
    cr_assert_eq(ntg_session_create(plan, &so, &s, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_threads(s), h.threads);
    if (h.policy) {
        ntg__xnn_set_policy(s->be, h.policy);
        cr_assert_eq(s->cls->prepare(s->be, &plan->view, s->storage, &err), NTG_OK, "%s",
                     err.message);
    }
    if (h.delay_us) {
        cr_assert(s->be->pool);
        ntg__tpool_set_worker_delay(s->be->pool, h.delay_us);
    }
    float *x = malloc(BATCH * m->nx * sizeof *x), *t = malloc(BATCH * m->ny * sizeof *t);
    cr_assert(x && t);
    tu_rng r = {11};
    tu_fill(&r, x, BATCH * m->nx, -1, 1);
    tu_fill(&r, t, BATCH * m->ny, -1, 1);
    cr_assert_eq(ntg_session_set_input(s, "x", x, BATCH * m->nx, &err), NTG_OK, "%s", err.message);
    /* infer twice first, and three train steps: in the adaptive session (xnn_adapt) a program's
     * third run is its first probe without workers */
    for (int rep = 0; rep < 2; rep++)
        cr_assert_eq(ntg_session_run(s, BATCH, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "y", y, BATCH * m->ny, &err), NTG_OK, "%s", err.message);
    float ctl[4] = {1e-3f, 1, 0, 0};
    for (int step = 0; step < 3; step++) {
        cr_assert_eq(ntg_session_set_input(s, "t", t, BATCH * m->ny, &err), NTG_OK, "%s",
                     err.message);
        cr_assert_eq(ntg_session_set_input(s, "train.ctl", ctl, 4, &err), NTG_OK, "%s",
                     err.message);
        cr_assert_eq(ntg_session_run_program(s, "train_step", BATCH, &err), NTG_OK, "%s",
                     err.message);
        ctl[1] += 1.0f;
    }
    cr_assert_eq(ntg_session_run(s, BATCH, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "y", y + BATCH * m->ny, BATCH * m->ny, &err), NTG_OK,
                 "%s", err.message);
    ntg_session_destroy(s);
    free(x);
    free(t);
}

static ntg_plan *compile(const model *m)
{
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.max_batch = MAXB;
    ntg_plan *plan = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(tu_src(m->graph), &o, &plan, &err), NTG_OK, "%s", err.message);
    return plan;
}

static size_t first_diff(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof a[i])) return i;
    return n;
}

/* Inference, every kernel split over 2 threads, gives bitwise the 1-thread result: the kernels
 * split rows, columns or heads, never a sum.  (Training is not compared: its loss and
 * gradient-norm reductions sum one partial per chunk, and the chunks follow the thread count.) */
Test(xnn_threads, infer_two_threads_bitwise_one_thread)
{
    need_xnnpack();
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
        const model *m = &models[k];
        ntg_plan *plan = compile(m);
        size_t n = 2 * BATCH * m->ny;
        float *one = malloc(n * sizeof *one), *two = malloc(n * sizeof *two);
        cr_assert(one && two);
        run_model(plan, m, (how){1, 0, 0}, one);
        run_model(plan, m, (how){2, XNN_POL_PAR_ALWAYS, 0}, two);
        size_t d = first_diff(one, two, BATCH * m->ny);
        cr_assert_eq(d, BATCH * m->ny, "%s: infer output %zu differs: %.9g (1 thread) vs %.9g",
                     m->graph, d, (double)one[d], (double)two[d]);
        free(one);
        free(two);
        ntg_plan_destroy(plan);
    }
}

/* A worker that wakes 2 ms late for every parallel op (as one the OS keeps descheduling):
 * the runs complete (its share is taken by the caller) and infer and training give bitwise
 * what the same split gives when the worker is on time. */
Test(xnn_threads, late_worker_gives_the_same_bits)
{
    need_xnnpack();
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
        const model *m = &models[k];
        ntg_plan *plan = compile(m);
        size_t n = 2 * BATCH * m->ny;
        float *on_time = malloc(n * sizeof *on_time), *late = malloc(n * sizeof *late);
        cr_assert(on_time && late);
        run_model(plan, m, (how){2, XNN_POL_PAR_ALWAYS, 0}, on_time);
        run_model(plan, m, (how){2, XNN_POL_PAR_ALWAYS, 2000}, late);
        size_t d = first_diff(on_time, late, n);
        cr_assert_eq(d, n, "%s: output %zu (%s) differs with a late worker: %.9g vs %.9g", m->graph,
                     d, d < BATCH * m->ny ? "infer" : "after training", (double)on_time[d],
                     (double)late[d]);
        for (size_t i = 0; i < n; i++)
            cr_assert(on_time[i] == on_time[i], "%s: output %zu is NaN", m->graph, i);
        free(on_time);
        free(late);
        ntg_plan_destroy(plan);
    }
}

/* Runs that leave the workers out (the adaptive choice on a busy machine, xnn_adapt) keep the
 * multi-thread splits: the adaptive default, always-workers and never-workers sessions give
 * the same bits, training included. */
Test(xnn_threads, solo_runs_give_the_same_bits)
{
    need_xnnpack();
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
        const model *m = &models[k];
        ntg_plan *plan = compile(m);
        size_t n = 2 * BATCH * m->ny;
        float *adaptive = malloc(n * sizeof *adaptive), *par = malloc(n * sizeof *par),
              *solo = malloc(n * sizeof *solo);
        cr_assert(adaptive && par && solo);
        run_model(plan, m, (how){2, 0, 0}, adaptive);
        run_model(plan, m, (how){2, XNN_POL_NO_ADAPT, 0}, par);
        run_model(plan, m, (how){2, XNN_POL_SOLO, 0}, solo);
        size_t d = first_diff(par, solo, n);
        cr_assert_eq(d, n, "%s: output %zu differs without workers: %.9g vs %.9g", m->graph, d,
                     (double)par[d], (double)solo[d]);
        d = first_diff(par, adaptive, n);
        cr_assert_eq(d, n, "%s: output %zu differs in the adaptive session: %.9g vs %.9g", m->graph,
                     d, (double)par[d], (double)adaptive[d]);
        free(adaptive);
        free(par);
        free(solo);
        ntg_plan_destroy(plan);
    }
}

/* A process pinned to one CPU: a session with the default thread count (0) gets 1 thread. */
Test(xnn_threads, default_session_threads_follow_affinity)
{
    need_xnnpack();
    ntg_plan *plan = compile(&models[0]);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        if (sched_getaffinity(0, sizeof set, &set) != 0) _exit(10);
        int first = -1;
        for (int i = 0; i < CPU_SETSIZE && first < 0; i++)
            if (CPU_ISSET(i, &set)) first = i;
        CPU_ZERO(&set);
        CPU_SET(first, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) _exit(11);
        ntg_session_options so;
        ntg_session_options_init(&so);
        so.backend = "xnnpack";
        so.threads = 0;
        ntg_session *s = NULL;
        if (ntg_session_create(plan, &so, &s, NULL) != NTG_OK) _exit(12);
        int t = ntg_session_threads(s);
        ntg_session_destroy(s);
        _exit(t == 1 ? 0 : 13);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "the child died");
    cr_assert_eq(WEXITSTATUS(status), 0,
                 "child status %d (10/11: affinity calls failed; 12: no session; 13: default "
                 "threads were not 1)",
                 WEXITSTATUS(status));
    ntg_plan_destroy(plan);
}
