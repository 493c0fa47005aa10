/* test_runtime_share.c — sessions of one plan share what is immutable (issue 15): the same
 * numbers as a session alone, from two threads too; any destruction order; and what a lean
 * (not trainable) session costs. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "ntgraph.h"
#include "plan_int.h"
#include "session_int.h"
#include "testutil.h"

/* N-HiTS h96 (the graph's defaults: input 480, hidden 512, 3.7 M parameters) at max_batch. */
static ntg_plan *nhits_plan(int max_batch)
{
    ntg_compile_options co;
    ntg_compile_options_init(&co);
    co.max_batch = max_batch;
    ntg_plan *p = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(tu_src("graphs/nhits.yaml"), &co, &p, &err), NTG_OK, "%s",
                 err.message);
    return p;
}

/* Skip (with the reason) where `name` cannot run. */
static void need_backend(const char *name)
{
    const ntg_backend_class *c = ntg__backend_find(name);
    char info[256] = "";
    if (!c) cr_skip_test("this build has no %s backend", name);
    if (c->available && !c->available(info, sizeof info))
        cr_skip_test("the %s backend is not available here: %s", name, info);
}

static ntg_session *open_session(const ntg_plan *p, const char *backend, int max_batch)
{
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = backend;
    so.threads = 1;
    so.max_batch = max_batch;
    ntg_session *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg_session_create(p, &so, &s, &err), NTG_OK, "%s", err.message);
    return s;
}

enum { L = 480, H = 96, BATCH = 3 };

/* Window `seed` of BATCH rows: smooth, different for every seed. */
static void window(int seed, float *x)
{
    for (int i = 0; i < BATCH * L; i++)
        x[i] = (float)(0.5 * sin(0.05 * i + 0.7 * seed) + 0.01 * (i % 13) - 0.2);
}

static void forecast(ntg_session *s, const float *x, float *y)
{
    ntg_error err;
    cr_assert_eq(ntg_session_set_input(s, "x", x, BATCH * L, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_run(s, BATCH, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "y", y, BATCH * H, &err), NTG_OK, "%s", err.message);
}

/* Two more sessions on the plan give the lone session's outputs bit for bit. */
static void same_as_alone(const char *backend)
{
    need_backend(backend);
    ntg_plan *p = nhits_plan(8);
    static float x[BATCH * L], y0[BATCH * H], y1[BATCH * H], y2[BATCH * H];
    window(1, x);
    ntg_session *s0 = open_session(p, backend, 8);
    forecast(s0, x, y0);
    ntg_session *s1 = open_session(p, backend, 4), *s2 = open_session(p, backend, 8);
    forecast(s1, x, y1);
    forecast(s2, x, y2);
    cr_assert(memcmp(y0, y1, sizeof y0) == 0, "%s: second session differs", backend);
    cr_assert(memcmp(y0, y2, sizeof y0) == 0, "%s: third session differs", backend);
    /* the first one still runs on what the others share */
    ntg_session_destroy(s1);
    forecast(s0, x, y1);
    cr_assert(memcmp(y0, y1, sizeof y0) == 0, "%s: after another session went", backend);
    ntg_session_destroy(s0);
    ntg_session_destroy(s2);
    ntg_plan_destroy(p);
}

Test(share, second_session_bitwise_equal_cpu)
{
    same_as_alone("cpu");
}

Test(share, second_session_bitwise_equal_xnnpack)
{
    same_as_alone("xnnpack");
}

/* Two threads, each with its own session on the plan, forecast windows 0..N-1 at the same
 * time; every answer equals the one a single session gave alone beforehand. */
enum { N_WIN = 12 };

typedef struct worker {
    ntg_session *s;
    const float (*want)[BATCH * H];
    int bad; /* first window that differed + 1, or a failed call: -1 */
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    float x[BATCH * L], y[BATCH * H];
    ntg_error err;
    for (int rep = 0; rep < 3; rep++)
        for (int k = 0; k < N_WIN; k++) {
            window(k, x);
            if (ntg_session_set_input(w->s, "x", x, BATCH * L, &err) ||
                ntg_session_run(w->s, BATCH, &err) ||
                ntg_session_get_output(w->s, "y", y, BATCH * H, &err)) {
                w->bad = -1;
                return NULL;
            }
            if (memcmp(y, w->want[k], sizeof y) != 0 && !w->bad) w->bad = k + 1;
        }
    return NULL;
}

static void concurrent(const char *backend)
{
    need_backend(backend);
    ntg_plan *p = nhits_plan(8);
    static float want[N_WIN][BATCH * H], x[BATCH * L];
    ntg_session *alone = open_session(p, backend, 8);
    for (int k = 0; k < N_WIN; k++) {
        window(k, x);
        forecast(alone, x, want[k]);
    }
    ntg_session_destroy(alone);
    worker w[2] = {{open_session(p, backend, 8), want, 0}, {open_session(p, backend, 8), want, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) cr_assert_eq(pthread_create(&t[i], NULL, work, &w[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++) {
        cr_assert_neq(w[i].bad, -1, "%s: thread %d: a call failed", backend, i);
        cr_assert_eq(w[i].bad, 0, "%s: thread %d: window %d differs from the lone session's",
                     backend, i, w[i].bad - 1);
        ntg_session_destroy(w[i].s);
    }
    ntg_plan_destroy(p);
}

Test(share, two_threads_bitwise_equal_cpu)
{
    concurrent("cpu");
}

Test(share, two_threads_bitwise_equal_xnnpack)
{
    concurrent("xnnpack");
}

/* Sessions prepared from two threads at once: the packing is made once, under the plan's
 * lock, and both get it whole. */
typedef struct maker {
    const ntg_plan *p;
    ntg_session *s;
    ntg_status st;
} maker;

static void *make(void *arg)
{
    maker *m = arg;
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "xnnpack";
    so.threads = 1;
    ntg_error err;
    m->st = ntg_session_create(m->p, &so, &m->s, &err);
    return NULL;
}

Test(share, sessions_created_concurrently_xnnpack)
{
    need_backend("xnnpack");
    ntg_plan *p = nhits_plan(8);
    static float x[BATCH * L], y0[BATCH * H], y1[BATCH * H];
    window(3, x);
    maker m[2] = {{p, NULL, NTG_OK}, {p, NULL, NTG_OK}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) cr_assert_eq(pthread_create(&t[i], NULL, make, &m[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    cr_assert_eq(m[0].st, NTG_OK);
    cr_assert_eq(m[1].st, NTG_OK);
    forecast(m[0].s, x, y0);
    forecast(m[1].s, x, y1);
    cr_assert(memcmp(y0, y1, sizeof y0) == 0);
    ntg_session_destroy(m[1].s);
    ntg_session_destroy(m[0].s);
    ntg_plan_destroy(p);
}

/* Sessions go in any order, the plan last: nothing leaks (the ASan build checks), and a
 * session made after all others went packs again and computes the same. */
Test(share, destroy_in_any_order)
{
    need_backend("xnnpack");
    static const int orders[3][3] = {{0, 1, 2}, {2, 0, 1}, {1, 2, 0}};
    static float x[BATCH * L], y0[BATCH * H], y1[BATCH * H];
    window(2, x);
    for (int o = 0; o < 3; o++) {
        ntg_plan *p = nhits_plan(4);
        ntg_session *s[3];
        for (int i = 0; i < 3; i++) s[i] = open_session(p, i == 1 ? "cpu" : "xnnpack", 4);
        forecast(s[0], x, y0);
        for (int i = 0; i < 3; i++) ntg_session_destroy(s[orders[o][i]]);
        ntg_session *again = open_session(p, "xnnpack", 4);
        forecast(again, x, y1);
        cr_assert(memcmp(y0, y1, sizeof y0) == 0, "order %d", o);
        ntg_session_destroy(again);
        ntg_plan_destroy(p);
    }
}

static double resident_mib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &size, &res) != 2) res = -1;
    fclose(f);
    return res < 0 ? -1 : (double)res * 4096.0 / 1048576.0;
}

/* Issue 15's goal: an extra batch-1 inference session on N-HiTS h96 (compiled for batch 256,
 * as `ntgraph train` makes it) costs at most 3 MiB; before the weights were shared, the
 * xnnpack backend packed its own 14 MiB copy per session. */
static void extra_session_cost(const char *backend)
{
    need_backend(backend);
    if (resident_mib() < 0) cr_skip_test("no /proc/self/statm here");
    enum { EXTRA = 4 };
    ntg_plan *p = nhits_plan(256);
    static float x[L], y[H];
    for (int i = 0; i < L; i++) x[i] = (float)sin(0.1 * i);
    ntg_session *first = open_session(p, backend, 1), *more[EXTRA];
    ntg_error err;
    cr_assert_eq(ntg_session_set_input(first, "x", x, L, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_run(first, 1, &err), NTG_OK, "%s", err.message);
    double before = resident_mib();
    for (int k = 0; k < EXTRA; k++) {
        more[k] = open_session(p, backend, 1);
        cr_assert_eq(ntg_session_set_input(more[k], "x", x, L, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_run(more[k], 1, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_get_output(more[k], "y", y, H, &err), NTG_OK, "%s", err.message);
    }
    double each = (resident_mib() - before) / EXTRA;
    cr_assert_leq(each, 3.0, "%s: an extra batch-1 session costs %.2f MiB, more than 3", backend,
                  each);
    /* what it may use: the infer program's arena (page-rounded), no optimizer state */
    uint64_t peak = p->img.programs[p->infer_program].arena_peak;
    uint64_t open = ntg__session_open_bytes(more[0]);
    cr_assert_leq(open, peak + 4095, "%s: %llu bytes open, infer's arena_peak is %llu", backend,
                  (unsigned long long)open, (unsigned long long)peak);
    cr_assert_lt(open, ntg_plan_arena_bytes(p), "the whole (training) arena is open");
    for (int k = 0; k < EXTRA; k++) ntg_session_destroy(more[k]);
    ntg_session_destroy(first);
    ntg_plan_destroy(p);
}

Test(share, extra_session_small_cpu)
{
    extra_session_cost("cpu");
}

Test(share, extra_session_small_xnnpack)
{
    extra_session_cost("xnnpack");
}

/* A lean session still runs the programs that update no parameter (grad, eval): their part
 * of the arena and the optimizer state open on first use; the training step stays refused. */
Test(share, lean_session_runs_grad_and_eval)
{
    ntg_define d[] = {{"h", "4"}, {"input_size", "8"}, {"hidden", "8"}};
    ntg_compile_options co;
    ntg_compile_options_init(&co);
    co.defines = d;
    co.n_defines = 3;
    co.max_batch = 2;
    ntg_plan *p = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(tu_src("graphs/nhits.yaml"), &co, &p, &err), NTG_OK, "%s",
                 err.message);
    const char *backends[] = {"cpu", "xnnpack"};
    for (int b = 0; b < 2; b++) {
        if (!ntg__backend_find(backends[b])) continue;
        ntg_session *s = open_session(p, backends[b], 2);
        uint64_t open0 = ntg__session_open_bytes(s);
        float x[16], t[8], y[8], loss;
        for (int i = 0; i < 16; i++) x[i] = (float)i / 16.0f;
        for (int i = 0; i < 8; i++) t[i] = 0.5f;
        cr_assert_eq(ntg_session_set_input(s, "x", x, 16, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_set_input(s, "t", t, 8, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_run_program(s, "grad", 2, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_get_output(s, "loss", &loss, 1, &err), NTG_OK, "%s", err.message);
        cr_assert(loss == loss && loss >= 0.0f);
        cr_assert_geq(ntg__session_open_bytes(s), open0);
        cr_assert_eq(ntg_session_run_program(s, "eval", 2, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_run(s, 2, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_get_output(s, "y", y, 8, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_run_program(s, "train_step", 2, &err), NTG_ERR_STATE);
        cr_assert(strstr(err.message, "NTG_SESSION_TRAINABLE"), "%s", err.message);
        ntg_session_destroy(s);
    }
    ntg_plan_destroy(p);
}
