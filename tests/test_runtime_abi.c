/* test_runtime_abi.c — the ABI rules of ntgraph.h: the size field of every caller struct, the
 * version defined once, the soversion, ntg_free, and errors from the accessors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "abi.h"
#include "ntgraph.h"
#include "testutil.h"

/* ------------------------------------------------------------ the mechanism */

/* A struct as it was first published, and as a later version grew it: the new field starts
 * past the old size (ntgraph.h, CONVENTIONS, "Structs"). */
typedef struct v1_opts {
    size_t size;
    int a;
    double b;
} v1_opts;

typedef struct v2_opts {
    size_t size;
    int a;
    double b;
    const char *c; /* added in "v2"; default "dflt" */
    int d;         /* added in "v2"; default 7 */
} v2_opts;

static void v2_init(v2_opts *o)
{
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->c = "dflt";
    o->d = 7;
}

#define V2_IN(local, caller, err)                                                                  \
    ntg__abi_in((local), (caller), NTG__SIZE_THROUGH(v1_opts, b), sizeof(v2_opts), "v2_opts",      \
                "v2_take", (err))

Test(abi, older_size_takes_defaults)
{
    /* a program built against the v1 header passes its smaller struct */
    v1_opts old = {sizeof old, 3, 2.5};
    v2_opts o;
    v2_init(&o);
    ntg_error err = {0};
    cr_assert_eq(V2_IN(&o, &old, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(o.size, sizeof(v2_opts)); /* the library's view is whole */
    cr_assert_eq(o.a, 3);
    cr_assert_eq(o.b, 2.5);
    cr_assert_str_eq(o.c, "dflt");
    cr_assert_eq(o.d, 7);
    /* the current size: every field the caller's */
    v2_opts cur;
    v2_init(&cur);
    cur.a = 1;
    cur.c = "mine";
    cur.d = 9;
    v2_init(&o);
    cr_assert_eq(V2_IN(&o, &cur, &err), NTG_OK, "%s", err.message);
    cr_assert_str_eq(o.c, "mine");
    cr_assert_eq(o.d, 9);
    /* NULL: the defaults */
    v2_init(&o);
    cr_assert_eq(V2_IN(&o, NULL, &err), NTG_OK);
    cr_assert_eq(o.d, 7);
}

Test(abi, older_report_filled_as_far_as_its_size)
{
    /* a v1 report inside a larger buffer: the bytes past its size are not the library's */
    unsigned char buf[sizeof(v2_opts)];
    memset(buf, 0xEE, sizeof buf);
    v1_opts old = {sizeof old, 0, 0.0};
    memcpy(buf, &old, sizeof old);
    v2_opts full;
    v2_init(&full);
    full.a = 4;
    full.b = -1.0;
    full.d = 11;
    ntg_error err = {0};
    cr_assert_eq(ntg__abi_check(buf, NTG__SIZE_THROUGH(v1_opts, b), sizeof(v2_opts), "v2_opts",
                                "v2_fill", &err),
                 NTG_OK, "%s", err.message);
    ntg__abi_out(buf, &full);
    memcpy(&old, buf, sizeof old);
    cr_assert_eq(old.size, sizeof old);
    cr_assert_eq(old.a, 4);
    cr_assert_eq(old.b, -1.0);
    for (size_t i = sizeof old; i < sizeof buf; i++) cr_assert_eq(buf[i], 0xEE, "byte %zu", i);
}

Test(abi, bad_sizes_refused_by_the_mechanism)
{
    struct {
        size_t size;
        const char *want;
    } cases[] = {
        {0, "v2_take: v2_opts.size is 0: initialise the struct with v2_opts_init"},
        {sizeof(v2_opts) + 8, "larger than the"},
        {sizeof(size_t), "not the size of any v2_opts"},
        {sizeof(v2_opts) - 1, "not the size of any v2_opts"},
        {(size_t)0xA5A5A5A5A5A5A5A5u, "larger than the"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        v2_opts caller, o;
        v2_init(&caller);
        caller.size = cases[i].size;
        v2_init(&o);
        ntg_error err = {0};
        cr_assert_eq(V2_IN(&o, &caller, &err), NTG_ERR_INVALID_ARG, "size %zu", cases[i].size);
        cr_assert_eq(err.status, NTG_ERR_INVALID_ARG);
        cr_assert(strstr(err.message, cases[i].want), "size %zu: '%s' lacks '%s'", cases[i].size,
                  err.message, cases[i].want);
    }
}

/* ------------------------------------------------------- the public structs */

/* The three ways a caller gets a struct wrong: no _init (zeroed), stack garbage, a size from
 * a newer header.  Each must be refused with a message naming the struct and its _init. */
static const size_t n_bad = 3;
static size_t bad_size(size_t k, size_t cur)
{
    return k == 0 ? 0 : k == 1 ? (size_t)0xA5A5A5A5A5A5A5A5u : cur + 64;
}

static void expect_refused(ntg_status st, const ntg_error *err, const char *type, size_t size)
{
    cr_assert_eq(st, NTG_ERR_INVALID_ARG, "%s size %zu: status %d (%s)", type, size, st,
                 err->message);
    char want[96];
    snprintf(want, sizeof want, "%s.size is %zu", type, size);
    cr_assert(strstr(err->message, want), "'%s' lacks '%s'", err->message, want);
    snprintf(want, sizeof want, "%s_init", type);
    cr_assert(strstr(err->message, want), "'%s' lacks '%s'", err->message, want);
}

/* x [batch, 8] -> y [batch, 2]: a forecasting plan (input_size 8, h 2) without a scaler */
static const char *const tiny_graph = "ntgraph: 1\n"
                                      "name: t\n"
                                      "inputs:\n"
                                      "  x: [batch, 8]\n"
                                      "outputs:\n"
                                      "  y: [batch, 2]\n"
                                      "nodes:\n"
                                      "  - {op: dense, in: x, out: y, units: 2}\n";

static ntg_plan *tiny_plan(void)
{
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.max_batch = 4;
    ntg_plan *p = NULL;
    ntg_error err = {0};
    cr_assert_eq(ntg_compile_string(tiny_graph, strlen(tiny_graph), "t.yaml", &o, &p, &err), NTG_OK,
                 "%s", err.message);
    return p;
}

static ntg_series *tiny_series(void)
{
    double v[64];
    for (int i = 0; i < 64; i++) v[i] = sin(0.3 * i);
    const char *names[] = {"v"};
    const double *cols[] = {v};
    ntg_series *s = NULL;
    ntg_error err = {0};
    cr_assert_eq(ntg_series_create(64, 1, names, cols, NULL, 0, &s, &err), NTG_OK, "%s",
                 err.message);
    return s;
}

Test(abi, options_with_bad_sizes_refused)
{
    ntg_plan *p = tiny_plan();
    ntg_series *s = tiny_series();
    for (size_t k = 0; k < n_bad; k++) {
        ntg_error err = {0};
        ntg_plan *q = (ntg_plan *)(uintptr_t)1;

        ntg_compile_options co;
        ntg_compile_options_init(&co);
        co.size = bad_size(k, sizeof co);
        expect_refused(ntg_compile_string(tiny_graph, strlen(tiny_graph), "t.yaml", &co, &q, &err),
                       &err, "ntg_compile_options", co.size);
        cr_assert_null(q);

        ntg_session_options so;
        ntg_session_options_init(&so);
        so.size = bad_size(k, sizeof so);
        ntg_session *sess = (ntg_session *)(uintptr_t)1;
        expect_refused(ntg_session_create(p, &so, &sess, &err), &err, "ntg_session_options",
                       so.size);
        cr_assert_null(sess);
        ntg_forecaster *fc = NULL;
        expect_refused(ntg_forecaster_create(p, &so, &fc, &err), &err, "ntg_session_options",
                       so.size);
        cr_assert_null(fc);
        ntg_forecast *f = NULL;
        expect_refused(ntg_forecast_series(p, s, NULL, &so, &f, &err), &err, "ntg_session_options",
                       so.size);
        cr_assert_null(f);

        ntg_series_options sro;
        ntg_series_options_init(&sro);
        sro.size = bad_size(k, sizeof sro);
        ntg_series *s2 = NULL;
        expect_refused(ntg_series_load_csv(tu_src("data/ETTh1.csv"), &sro, &s2, &err), &err,
                       "ntg_series_options", sro.size);
        cr_assert_null(s2);

        ntg_train_options to;
        ntg_train_options_init(&to);
        to.split = "40,12,12";
        to.size = bad_size(k, sizeof to);
        expect_refused(ntg_train(p, s, &to, &q, NULL, &err), &err, "ntg_train_options", to.size);
        cr_assert_null(q);

        ntg_eval_options eo;
        ntg_eval_options_init(&eo);
        eo.split = "40,12,12";
        eo.size = bad_size(k, sizeof eo);
        ntg_scores sc;
        ntg_scores_init(&sc);
        expect_refused(ntg_evaluate(p, s, &eo, &sc, NULL, 0, &err), &err, "ntg_eval_options",
                       eo.size);
    }
    ntg_series_destroy(s);
    ntg_plan_destroy(p);
}

Test(abi, reports_with_bad_sizes_refused)
{
    ntg_plan *p = tiny_plan();
    ntg_series *s = tiny_series();
    for (size_t k = 0; k < n_bad; k++) {
        ntg_error err = {0};
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        ti.size = bad_size(k, sizeof ti);
        expect_refused(ntg_plan_input(p, 0, &ti, &err), &err, "ntg_tensor_info", ti.size);
        expect_refused(ntg_plan_output(p, 0, &ti, &err), &err, "ntg_tensor_info", ti.size);
        expect_refused(ntg_plan_param(p, 0, &ti, &err), &err, "ntg_tensor_info", ti.size);

        ntg_train_options to;
        ntg_train_options_init(&to);
        to.split = "40,12,12";
        ntg_train_report rep;
        ntg_train_report_init(&rep);
        rep.size = bad_size(k, sizeof rep);
        ntg_plan *q = NULL;
        expect_refused(ntg_train(p, s, &to, &q, &rep, &err), &err, "ntg_train_report", rep.size);
        cr_assert_null(q);

        ntg_eval_options eo;
        ntg_eval_options_init(&eo);
        eo.split = "40,12,12";
        ntg_scores sc[2];
        ntg_scores_init(&sc[0]);
        ntg_scores_init(&sc[1]);
        sc[0].size = bad_size(k, sizeof sc[0]);
        expect_refused(ntg_evaluate(p, s, &eo, &sc[0], NULL, 0, &err), &err, "ntg_scores",
                       sc[0].size);
        ntg_scores all;
        ntg_scores_init(&all);
        expect_refused(ntg_evaluate(p, s, &eo, &all, sc, 2, &err), &err, "ntg_scores", sc[0].size);
        /* an array: each element initialised */
        ntg_scores_init(&sc[0]);
        sc[1].size = bad_size(k, sizeof sc[1]);
        cr_assert_eq(ntg_evaluate(p, s, &eo, &all, sc, 2, &err), NTG_ERR_INVALID_ARG);
        cr_assert(strstr(err.message, "per_column[1].size"), "%s", err.message);
        cr_assert(strstr(err.message, "ntg_scores_init"), "%s", err.message);
    }
    ntg_series_destroy(s);
    ntg_plan_destroy(p);
}

Test(abi, window_with_bad_size_refused)
{
    ntg_plan *p = tiny_plan();
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "cpu";
    ntg_forecaster *fc = NULL;
    ntg_error err = {0};
    cr_assert_eq(ntg_forecaster_create(p, &so, &fc, &err), NTG_OK, "%s", err.message);
    double v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    ntg_window w;
    ntg_window_init(&w);
    w.values = v;
    w.n_values = 8;
    ntg_forecast *out = NULL;
    cr_assert_eq(ntg_forecaster_run(fc, &w, 1, &out, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_forecast_horizon(out), 2u);
    ntg_forecast_destroy(out);
    out = NULL;
    for (size_t k = 0; k < n_bad; k++) {
        w.size = bad_size(k, sizeof w);
        expect_refused(ntg_forecaster_run(fc, &w, 1, &out, &err), &err, "ntg_window", w.size);
        cr_assert_null(out);
    }
    ntg_forecaster_destroy(fc);
    ntg_plan_destroy(p);
}

#ifdef NTG_HAVE_STORE
Test(abi, store_structs_with_bad_sizes_refused)
{
    char dir[] = "/tmp/ntg_abi_store_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/db", dir);
    for (size_t k = 0; k < n_bad; k++) {
        ntg_error err = {0};
        ntg_store_options o;
        ntg_store_options_init(&o);
        o.size = bad_size(k, sizeof o);
        ntg_store *st = NULL;
        expect_refused(ntg_store_open(path, &o, &st, &err), &err, "ntg_store_options", o.size);
        cr_assert_null(st);
    }
    ntg_error err = {0};
    ntg_store *st = NULL;
    cr_assert_eq(ntg_store_open(path, NULL, &st, &err), NTG_OK, "%s", err.message);
    ntg_plan *p = tiny_plan();
    for (size_t k = 0; k < n_bad; k++) {
        ntg_store_put_options po;
        ntg_store_put_options_init(&po);
        po.size = bad_size(k, sizeof po);
        uint64_t v = 1;
        expect_refused(ntg_store_put(st, "m", p, &po, &v, &err), &err, "ntg_store_put_options",
                       po.size);
        cr_assert_eq(v, 0u);

        ntg_store_filter f;
        ntg_store_filter_init(&f);
        f.size = bad_size(k, sizeof f);
        ntg_store_list *l = NULL;
        expect_refused(ntg_store_list_versions(st, &f, &l, &err), &err, "ntg_store_filter", f.size);
        cr_assert_null(l);
        expect_refused(ntg_store_similar_plan(st, p, &f, 3, &l, &err), &err, "ntg_store_filter",
                       f.size);

        ntg_store_checkpoint ck;
        ntg_store_checkpoint_init(&ck);
        ck.size = bad_size(k, sizeof ck);
        uint64_t id = 1;
        expect_refused(ntg_store_put_checkpoint(st, "m", &ck, 0, &id, &err), &err,
                       "ntg_store_checkpoint", ck.size);

        ntg_store_gc_report g;
        ntg_store_gc_report_init(&g);
        g.size = bad_size(k, sizeof g);
        expect_refused(ntg_store_gc(st, &g, &err), &err, "ntg_store_gc_report", g.size);
        ntg_store_verify_report vr;
        ntg_store_verify_report_init(&vr);
        vr.size = bad_size(k, sizeof vr);
        expect_refused(ntg_store_verify(st, &vr, &err), &err, "ntg_store_verify_report", vr.size);
        ntg_store_stats ss;
        ntg_store_stats_init(&ss);
        ss.size = bad_size(k, sizeof ss);
        expect_refused(ntg_store_stats_get(st, &ss, &err), &err, "ntg_store_stats", ss.size);
    }
    /* and the well-initialised ones work, with the library's size in what it hands out */
    ntg_store_put_options po;
    ntg_store_put_options_init(&po);
    uint64_t v = 0;
    cr_assert_eq(ntg_store_put(st, "m", p, &po, &v, &err), NTG_OK, "%s", err.message);
    ntg_store_list *l = NULL;
    cr_assert_eq(ntg_store_list_versions(st, NULL, &l, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_store_list_count(l), 1u);
    cr_assert_eq(ntg_store_list_at(l, 0)->size, sizeof(ntg_store_version));
    ntg_store_list_destroy(l);
    ntg_store_stats ss;
    ntg_store_stats_init(&ss);
    cr_assert_eq(ntg_store_stats_get(st, &ss, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ss.size, sizeof ss);
    cr_assert_eq(ss.versions, 1u);
    ntg_plan_destroy(p);
    ntg_store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}
#endif

/* ------------------------------------------------- accessors report errors */

Test(abi, accessors_fill_the_error)
{
    ntg_plan *p = tiny_plan();
    ntg_tensor_info ti;
    ntg_tensor_info_init(&ti);
    ntg_error err = {0};
    cr_assert_eq(ntg_plan_input(p, 0, &ti, &err), NTG_OK, "%s", err.message);
    cr_assert_str_eq(ti.name, "x");
    cr_assert_eq(ti.size, sizeof ti);
    cr_assert_eq(ntg_plan_input(p, 5, &ti, &err), NTG_ERR_RANGE);
    cr_assert_eq(err.status, NTG_ERR_RANGE);
    cr_assert(strstr(err.message, "ntg_plan_input: index 5, but the plan has 1 inputs"), "%s",
              err.message);
    cr_assert_eq(ntg_plan_output(p, 1, &ti, &err), NTG_ERR_RANGE);
    cr_assert(strstr(err.message, "ntg_plan_output: index 1"), "%s", err.message);
    cr_assert_eq(ntg_plan_param(p, 99, &ti, &err), NTG_ERR_RANGE);
    cr_assert(strstr(err.message, "ntg_plan_param: index 99, but the plan has 2 parameters"), "%s",
              err.message);
    cr_assert_eq(ntg_plan_param(NULL, 0, &ti, &err), NTG_ERR_INVALID_ARG);
    cr_assert(strstr(err.message, "ntg_plan_param: NULL argument"), "%s", err.message);
    const char *key = NULL;
    size_t nm = ntg_plan_meta_count(p);
    cr_assert_eq(ntg_plan_meta_at(p, nm, &key, NULL, &err), NTG_ERR_RANGE);
    cr_assert(strstr(err.message, "ntg_plan_meta_at: index"), "%s", err.message);
    cr_assert_eq(ntg_plan_meta_at(NULL, 0, &key, NULL, &err), NTG_ERR_INVALID_ARG);
    cr_assert(strstr(err.message, "plan is NULL"), "%s", err.message);
    ntg_plan_destroy(p);
}

/* ------------------------------------------------------- memory, version */

Test(abi, serialized_plan_released_with_ntg_free)
{
    ntg_plan *p = tiny_plan();
    void *data = NULL;
    size_t n = 0;
    ntg_error err = {0};
    cr_assert_eq(ntg_plan_serialize(p, &data, &n, &err), NTG_OK, "%s", err.message);
    cr_assert_gt(n, 0u);
    ntg_plan *q = NULL;
    cr_assert_eq(ntg_plan_load_memory(data, n, 0, &q, &err), NTG_OK, "%s", err.message);
    ntg_plan_destroy(q);
    ntg_free(data);
    ntg_free(NULL);
    ntg_plan_destroy(p);
}

Test(abi, version_is_the_projects)
{
    const char *want = getenv("NTG_PROJECT_VERSION");
    cr_assert_not_null(want, "NTG_PROJECT_VERSION is not set (run under meson test)");
    cr_assert_str_eq(ntg_version_string(), want);
    cr_assert_str_eq(NTG_VERSION_STRING, want);
    char num[32];
    snprintf(num, sizeof num, "%d.%d.%d", ntg_version_number() / 10000,
             ntg_version_number() / 100 % 100, ntg_version_number() % 100);
    cr_assert_str_eq(num, want);
    cr_assert_eq(ntg_version_number(), NTG_VERSION_NUMBER);
}

Test(abi, shared_library_has_the_soversion)
{
    const char *build = getenv("NTG_BUILD_ROOT");
    cr_assert_not_null(build);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "command -v readelf >/dev/null || exit 77; readelf -d '%s/libntgraph.so' | "
             "grep SONAME",
             build);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    char line[512] = "";
    size_t got = fread(line, 1, sizeof line - 1, f);
    line[got] = 0;
    int rc = pclose(f);
    if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77) cr_skip_test("readelf is not installed");
    char want[64];
    snprintf(want, sizeof want, "[libntgraph.so.%d]", NTG_SOVERSION);
    cr_assert(strstr(line, want), "SONAME line '%s' lacks '%s'", line, want);
}
