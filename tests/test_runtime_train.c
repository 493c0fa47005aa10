/* test_runtime_train.c — gradients against PyTorch, and training: determinism, resume, early stop.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "golden_check.h"
#include "ntgraph.h"
#include "plan_int.h"
#include "safetensors.h"
#include "testutil.h"

/* ----------------------------------------------------------- golden gradients */

/* The golden files' loss is mean((y - t)^2): compile with loss mse and the file's weights,
 * run the grad program on its x and t, and compare loss (relative 1e-5) and every
 * grad.<param> (max-abs-relative 1e-4, the golden README's tolerances). */
static void golden_grads(const char *graph, const char *golden, const ntg_define *defs, size_t nd)
{
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    ntg_define tr[] = {{"loss", "mse"}};
    o.defines = defs;
    o.n_defines = nd;
    o.train = tr;
    o.n_train = 1;
    o.max_batch = 4;
    o.weights_path = golden;
    ntg_plan *plan = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(graph, &o, &plan, &err), NTG_OK, "%s", err.message);
    ntg_st_file *f = NULL;
    cr_assert_eq(ntg__st_load(golden, &f, &err), NTG_OK, "%s", err.message);
    ntg_session *s = NULL;
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "cpu";
    cr_assert_eq(ntg_session_create(plan, &so, &s, &err), NTG_OK, "%s", err.message);
    const char *inputs[] = {"x", "t"};
    int batch = 0;
    for (int i = 0; i < 2; i++) {
        const ntg_st_tensor *t = ntg__st_find(f, inputs[i]);
        cr_assert(t);
        float *buf = malloc((size_t)t->nbytes);
        memcpy(buf, t->data, (size_t)t->nbytes);
        cr_assert_eq(ntg_session_set_input(s, inputs[i], buf, (size_t)t->nbytes / 4, &err), NTG_OK,
                     "%s", err.message);
        batch = (int)t->shape[0];
        free(buf);
    }
    cr_assert_eq(ntg_session_run_program(s, "grad", batch, &err), NTG_OK, "%s", err.message);
    gc_result r = gc_check_grads(s, plan, f, golden, 1e-5, 1e-4);
    cr_log_info("%s: loss rel %.2g, worst gradient max-abs-rel %.3g (%s)", golden, r.loss_rel,
                r.worst, r.worst_name);
    ntg_session_destroy(s);
    ntg__st_free(f);
    ntg_plan_destroy(plan);
}

Test(train, golden_gradients_nhits_h24_small)
{
    ntg_define d[] = {{"h", "24"}, {"input_size", "96"}, {"hidden", "64"}};
    char graph[4096];
    snprintf(graph, sizeof graph, "%s", tu_src("graphs/nhits.yaml"));
    golden_grads(graph, tu_src("tests/data/nhits_h24_small.safetensors"), d, 3);
}

Test(train, golden_gradients_nhits_h96_shared)
{
    const char *g = tu_shared("golden/nhits_h96.safetensors");
    if (!g) cr_skip_test("../shared/golden/nhits_h96.safetensors is absent");
    char path[4096], graph[4096];
    snprintf(path, sizeof path, "%s", g);
    snprintf(graph, sizeof graph, "%s", tu_src("graphs/nhits.yaml"));
    golden_grads(graph, path, NULL, 0);
}

Test(train, golden_gradients_nhits_h96_brief_shared)
{
    const char *g = tu_shared("golden/nhits_h96_brief.safetensors");
    if (!g) cr_skip_test("../shared/golden/nhits_h96_brief.safetensors is absent");
    char path[4096], graph[4096];
    snprintf(path, sizeof path, "%s", g);
    snprintf(graph, sizeof graph, "%s", tu_src("graphs/nhits_brief.yaml"));
    golden_grads(graph, path, NULL, 0);
}

/* ------------------------------------------------------------------ training */

/* A small N-HiTS and a synthetic series: two seasonal columns with noise. */
static ntg_plan *small_model(const char *loss)
{
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    ntg_define d[] = {{"h", "8"}, {"input_size", "24"}, {"hidden", "16"}};
    ntg_define t[] = {{"loss", loss}};
    o.defines = d;
    o.n_defines = 3;
    o.train = t;
    o.n_train = 1;
    o.max_batch = 32;
    ntg_plan *p = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(tu_src("graphs/nhits.yaml"), &o, &p, &err), NTG_OK, "%s",
                 err.message);
    return p;
}

static const char *synthetic_csv(void)
{
    static char path[256];
    snprintf(path, sizeof path, "/tmp/ntg-train-%d.csv", (int)getpid());
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fprintf(f, "date,a,b\n");
    tu_rng r = {5};
    for (int i = 0; i < 600; i++) {
        double a = 10 + 3 * sin(i * 2 * 3.14159265358979 / 24) + tu_uniform(&r, -0.3, 0.3);
        double b = -2 + sin(i * 2 * 3.14159265358979 / 12) + 0.01 * i + tu_uniform(&r, -0.2, 0.2);
        fprintf(f, "2020-01-%02d %02d:00:00,%.6f,%.6f\n", 1 + i / 24, i % 24, a, b);
    }
    fclose(f);
    return path;
}

static ntg_series *load(const char *path)
{
    ntg_series *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg_series_load_csv(path, NULL, &s, &err), NTG_OK, "%s", err.message);
    return s;
}

typedef struct stop_at {
    long step;
    double first_loss, last_loss;
} stop_at;

static int progress(void *user, const ntg_train_progress *p)
{
    stop_at *s = user;
    if (!s) return 0;
    if (p->step == 1) s->first_loss = p->train_loss;
    s->last_loss = p->train_loss;
    return s->step > 0 && p->step >= s->step;
}

static ntg_plan *train(const ntg_plan *p, const ntg_series *s, const char *steps,
                       const char *patience, const char *ckdir, int resume, stop_at *stop,
                       ntg_train_report *rep)
{
    ntg_train_options o;
    ntg_train_options_init(&o);
    ntg_define set[] = {{"steps", steps},   {"batch", "16"},        {"lr", "0.003"},
                        {"val_every", "5"}, {"patience", patience}, {"seed", "7"}};
    o.split = "400,100,100";
    o.settings = set;
    o.n_settings = 6;
    o.backend = "cpu";
    o.checkpoint_dir = ckdir;
    o.checkpoint_every = ckdir ? 5 : 0;
    o.resume = resume;
    o.progress = progress;
    o.user = stop;
    ntg_plan *out = NULL;
    ntg_error err;
    ntg_train_report r;
    ntg_train_report_init(&r);
    cr_assert_eq(ntg_train(p, s, &o, &out, &r, &err), NTG_OK, "%s", err.message);
    if (rep) *rep = r;
    return out;
}

static int same_weights(const ntg_plan *a, const ntg_plan *b)
{
    size_t n = ntg_plan_param_count(a);
    for (size_t i = 0; i < n; i++) {
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        ntg_plan_param(a, i, &ti, NULL);
        if (memcmp(ntg_plan_param_data(a, i), ntg_plan_param_data(b, i), ti.nbytes)) return 0;
    }
    return 1;
}

Test(train, loss_falls_and_runs_are_bitwise_reproducible)
{
    ntg_plan *p = small_model("mae");
    const char *csv = synthetic_csv();
    ntg_series *s = load(csv);
    stop_at st1 = {0, 0, 0}, st2 = {0, 0, 0};
    ntg_train_report r;
    ntg_train_report_init(&r);
    ntg_plan *a = train(p, s, "60", "-1", NULL, 0, &st1, &r);
    ntg_plan *b = train(p, s, "60", "-1", NULL, 0, &st2, NULL);
    cr_assert_lt(st1.last_loss, 0.6 * st1.first_loss, "loss %g -> %g", st1.first_loss,
                 st1.last_loss);
    cr_assert_eq(r.steps, 60);
    cr_assert(same_weights(a, b), "same seed, backend and threads: identical weights");
    cr_assert(!same_weights(a, p), "training changed the weights");
    /* the trained plan carries its scaler and run settings */
    cr_assert_str_eq(ntg_plan_meta(a, "scaler.kind"), "zscore");
    cr_assert_str_eq(ntg_plan_meta(a, "train.steps"), "60");
    cr_assert_str_eq(ntg_plan_meta(a, "trained.steps"), "60");
    ntg_plan_destroy(a);
    ntg_plan_destroy(b);
    ntg_series_destroy(s);
    ntg_plan_destroy(p);
    unlink(csv);
}

Test(train, resume_equals_uninterrupted)
{
    ntg_plan *p = small_model("mse");
    const char *csv = synthetic_csv();
    ntg_series *s = load(csv);
    char dir[256];
    snprintf(dir, sizeof dir, "/tmp/ntg-ckpt-%d", (int)getpid());
    ntg_plan *full = train(p, s, "30", "-1", NULL, 0, NULL, NULL);
    /* stop after step 12 (the newest checkpoint is step 10), then resume to 30 */
    stop_at stop = {12, 0, 0};
    ntg_plan *part = train(p, s, "30", "-1", dir, 0, &stop, NULL);
    ntg_train_report r;
    ntg_train_report_init(&r);
    ntg_plan *resumed = train(p, s, "30", "-1", dir, 1, NULL, &r);
    cr_assert_eq(r.resumed_from, 10);
    cr_assert_eq(r.steps, 30);
    cr_assert(same_weights(full, resumed), "resumed run differs from the uninterrupted one");
    cr_assert(!same_weights(full, part));
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    ntg_plan_destroy(full);
    ntg_plan_destroy(part);
    ntg_plan_destroy(resumed);
    ntg_series_destroy(s);
    ntg_plan_destroy(p);
    unlink(csv);
}

Test(train, early_stopping_restores_best_weights)
{
    ntg_plan *p = small_model("mae");
    const char *csv = synthetic_csv();
    ntg_series *s = load(csv);
    ntg_train_report r;
    ntg_train_report_init(&r);
    /* a high learning rate makes validation worsen sooner */
    ntg_plan *stopped = train(p, s, "400", "2", NULL, 0, NULL, &r);
    cr_assert(r.stopped_early, "expected patience to run out within 400 steps");
    cr_assert_gt(r.best_step, 0);
    cr_assert_lt(r.best_step, r.steps);
    /* the same run cut at best_step (no early stopping) ends with the same weights */
    char steps[32];
    snprintf(steps, sizeof steps, "%ld", r.best_step);
    stop_at cut = {r.best_step, 0, 0};
    ntg_plan *ref = train(p, s, "400", "-1", NULL, 0, &cut, NULL);
    cr_assert(same_weights(stopped, ref), "early stopping kept the best step's weights");
    ntg_plan_destroy(stopped);
    ntg_plan_destroy(ref);
    ntg_series_destroy(s);
    ntg_plan_destroy(p);
    unlink(csv);
}

Test(train, errors_name_the_problem)
{
    ntg_plan *p = small_model("mae");
    const char *csv = synthetic_csv();
    ntg_series *s = load(csv);
    ntg_train_options o;
    ntg_train_options_init(&o);
    ntg_plan *out = NULL;
    ntg_error err;
    cr_assert_eq(ntg_train(p, s, &o, &out, NULL, &err), NTG_ERR_INVALID_ARG);
    cr_assert_str_eq(err.message, "training needs a split");
    o.split = "400,100,100";
    ntg_define bad[] = {{"stepz", "3"}};
    o.settings = bad;
    o.n_settings = 1;
    cr_assert_eq(ntg_train(p, s, &o, &out, NULL, &err), NTG_ERR_INVALID_ARG);
    cr_assert(strstr(err.message, "unknown training setting 'stepz'"), "%s", err.message);
    ntg_define big[] = {{"batch", "64"}};
    o.settings = big;
    cr_assert_eq(ntg_train(p, s, &o, &out, NULL, &err), NTG_ERR_INVALID_ARG);
    cr_assert(strstr(err.message, "above the plan's maximum batch 32"), "%s", err.message);
    ntg_define small[] = {{"batch", "16"}};
    o.settings = small;
    o.columns = "a,zz";
    ntg_status st = ntg_train(p, s, &o, &out, NULL, &err);
    cr_assert_eq(st, NTG_ERR_NOT_FOUND, "%d: %s", st, err.message);
    cr_assert(strstr(err.message, "no column 'zz'"), "%s", err.message);
    cr_assert_null(out);
    /* an inference-only plan cannot train */
    ntg_compile_options co;
    ntg_compile_options_init(&co);
    co.flags = NTG_COMPILE_INFER_ONLY;
    ntg_define d[] = {{"h", "8"}, {"input_size", "24"}, {"hidden", "16"}};
    co.defines = d;
    co.n_defines = 3;
    ntg_plan *inf = NULL;
    cr_assert_eq(ntg_compile_file(tu_src("graphs/nhits.yaml"), &co, &inf, &err), NTG_OK);
    cr_assert_eq(ntg_plan_has_program(inf, "train_step"), 0);
    o.columns = NULL;
    cr_assert_eq(ntg_train(inf, s, &o, &out, NULL, &err), NTG_ERR_STATE);
    ntg_plan_destroy(inf);
    ntg_series_destroy(s);
    ntg_plan_destroy(p);
    unlink(csv);
}
