/* test_backend_training.c — training on every backend: the reference's loss curve, reproducibly.
 */
#include <math.h>
#include <string.h>

#define BS_SUITE "training"
#define BS_TIMEOUT 1800

#include "backend_suite.h"
#include "ntgraph.h"
#include "plan_int.h"
#include "session_int.h"
#include "testutil.h"

/*
 * Parity: N-HiTS (h 24, input 96, hidden 32) on ETTh1, trained from the same seed on the
 * reference backend and on the backend under test: the train loss of every step and every
 * validation loss agree within the backend's parity tolerance (1e-3 relative), and the trained
 * weights are logged against each other.  CI runs 200 steps at batch 32 on the small graph;
 * bench/vulkan_parity.sh runs the same comparison on the full-size graph (h 96, batch 256).
 *
 * Reproducibility: ten train_steps, twice, on fresh sessions of one plan, for each of the
 * three models: bitwise the same weights and optimizer state for a given thread count (fixed
 * reduction orders, no atomics), at each of the backend's thread counts, and once more under
 * the backend's developer knob when it has one (xnnpack: every kernel split across the threads
 * whatever its size, so the parallel reductions' orders are the ones compared).
 */
#define STEPS 200

typedef struct curve {
    double train[STEPS + 1], val[STEPS + 1];
    long n;
} curve;

static int on_progress(void *user, const ntg_train_progress *p)
{
    curve *c = user;
    if (p->step >= 1 && p->step <= STEPS) {
        c->train[p->step] = p->train_loss;
        c->val[p->step] = p->val_loss;
        c->n = p->step;
    }
    return 0;
}

static ntg_plan *small_nhits(int max_batch)
{
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    ntg_define d[] = {{"h", "24"}, {"input_size", "96"}, {"hidden", "32"}};
    o.defines = d;
    o.n_defines = 3;
    o.max_batch = max_batch;
    ntg_plan *p = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(tu_src("graphs/nhits.yaml"), &o, &p, &err), NTG_OK, "%s",
                 err.message);
    return p;
}

static ntg_plan *train_on(const ntg_plan *p, const ntg_series *s, const char *backend, curve *c)
{
    ntg_train_options o;
    ntg_train_options_init(&o);
    char steps[16];
    snprintf(steps, sizeof steps, "%d", STEPS);
    ntg_define set[] = {{"steps", steps}, {"batch", "32"}, {"val_every", "20"}, {"seed", "1"}};
    o.split = "8640,2880,2880";
    o.settings = set;
    o.n_settings = 4;
    o.backend = backend;
    o.progress = on_progress;
    o.user = c;
    ntg_plan *out = NULL;
    ntg_error err;
    ntg_train_report r;
    ntg_train_report_init(&r);
    cr_assert_eq(ntg_train(p, s, &o, &out, &r, &err), NTG_OK, "%s: %s", backend, err.message);
    cr_log_info("%s: %ld steps, %.0f windows/s, final train loss %.6f, best val %.6f", backend,
                r.steps, r.windows_per_s, r.final_train_loss, r.best_val_loss);
    return out;
}

static void parity(const ntg_backend_class *cls, const bs_hooks *h)
{
    ntg_plan *p = small_nhits(32);
    ntg_series *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg_series_load_csv(tu_src("data/ETTh1.csv"), NULL, &s, &err), NTG_OK, "%s",
                 err.message);
    curve *ref = calloc(1, sizeof *ref), *x = calloc(1, sizeof *x);
    ntg_plan *a = train_on(p, s, "cpu", ref);
    ntg_plan *b = train_on(p, s, cls->name, x);
    cr_assert_eq(ref->n, STEPS);
    cr_assert_eq(x->n, STEPS);
    double worst = 0, worst_val = 0, tol = h->tol_parity;
    for (long k = 1; k <= STEPS; k++) {
        double e = fabs(x->train[k] - ref->train[k]) / fabs(ref->train[k]);
        cr_assert_leq(e, tol, "step %ld: train loss %.9g on %s, %.9g on the cpu", k, x->train[k],
                      cls->name, ref->train[k]);
        if (e > worst) worst = e;
        cr_assert_eq(isnan(x->val[k]), isnan(ref->val[k]));
        if (!isnan(ref->val[k])) {
            double ev = fabs(x->val[k] - ref->val[k]) / fabs(ref->val[k]);
            cr_assert_leq(ev, tol, "step %ld: val loss %.9g on %s, %.9g on the cpu", k, x->val[k],
                          cls->name, ref->val[k]);
            if (ev > worst_val) worst_val = ev;
        }
    }
    double ew = 0;
    for (size_t i = 0; i < ntg_plan_param_count(a); i++) {
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        ntg_plan_param(a, i, &ti, NULL);
        double e =
            tu_max_abs_rel(ntg_plan_param_data(b, i), ntg_plan_param_data(a, i), ti.nbytes / 4);
        if (e > ew) ew = e;
    }
    cr_log_info("%s: loss %.6f -> %.6f over %d steps; worst relative difference from the cpu: "
                "train loss %.2e, val loss %.2e (tolerance %g); trained weights max-abs-rel %.2e",
                cls->name, ref->train[1], ref->train[STEPS], STEPS, worst, worst_val, tol, ew);
    free(ref);
    free(x);
    ntg_plan_destroy(a);
    ntg_plan_destroy(b);
    ntg_series_destroy(s);
    ntg_plan_destroy(p);
}

static void reproducible(const ntg_backend_class *cls, const bs_hooks *h, const char *graph_rel,
                         const ntg_define *defs, size_t nd, size_t nx, size_t nt, int batch,
                         int threads)
{
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
        so.backend = cls->name;
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
        if (h->session_messages) {
            char first[1024] = "";
            long n = h->session_messages(s->be, first, sizeof first);
            cr_assert_eq(n, 0, "%s: %ld device message(s), the first: %s", graph_rel, n, first);
        }
        free(x);
        free(t);
        ntg_session_destroy(s);
    }
    cr_assert_eq(memcmp(w[0], w[1], wbytes), 0,
                 "%s on %s: weights differ between two runs (%d threads)", graph_rel, cls->name,
                 threads);
    cr_assert_eq(memcmp(st[0], st[1], sbytes), 0, "%s on %s: optimizer state differs (%d threads)",
                 graph_rel, cls->name, threads);
    for (int rep = 0; rep < 2; rep++) {
        free(w[rep]);
        free(st[rep]);
    }
    ntg_plan_destroy(plan);
}

static void reproducible_all(const ntg_backend_class *cls, const bs_hooks *h, int threads)
{
    static const ntg_define small[] = {{"h", "24"}, {"input_size", "96"}, {"hidden", "64"}};
    reproducible(cls, h, "graphs/nhits.yaml", small, 3, 96, 24, 32, threads);
    reproducible(cls, h, "graphs/lstm_attention.yaml", NULL, 0, 96, 24, 8, threads);
    reproducible(cls, h, "graphs/transformer.yaml", NULL, 0, 96, 24, 8, threads);
}

static void reproducibility(const ntg_backend_class *cls, const bs_hooks *h)
{
    int last = h->gold_threads[0];
    for (int ti = 0; ti < 2; ti++) {
        if (ti > 0 && h->gold_threads[ti] == 0) break;
        last = h->gold_threads[ti];
        reproducible_all(cls, h, last);
    }
    if (h->repro_env) {
        char name[64];
        const char *eq = strchr(h->repro_env, '=');
        cr_assert(eq && (size_t)(eq - h->repro_env) < sizeof name);
        snprintf(name, sizeof name, "%.*s", (int)(eq - h->repro_env), h->repro_env);
        setenv(name, eq + 1, 1);
        reproducible_all(cls, h, last);
        unsetenv(name);
    }
}

static const char *const items[] = {"nhits_etth1_loss_curves_agree",
                                    "training_is_bitwise_reproducible"};

/* One test per (backend, check): "<backend>_<check>". */
static size_t bs_items(const char **names, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof items / sizeof items[0] && n < cap; i++) names[n++] = items[i];
    return n;
}

static void bs_run(const ntg_backend_class *cls, const bs_hooks *h, const char *item)
{
    if (strcmp(item, items[0]) == 0)
        parity(cls, h);
    else if (strcmp(item, items[1]) == 0)
        reproducibility(cls, h);
    else
        cr_assert_fail("no check %s", item);
}
