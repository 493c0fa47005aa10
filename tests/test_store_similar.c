/* test_store_similar.c — similarity search: exact cosine ranking, filters first, backup, stats. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "store.h"
#include "store_testutil.h"

static char dir[256], db[300];

static void setup(void)
{
    st_mkdtemp(dir, sizeof dir, "store-sim");
    snprintf(db, sizeof db, "%s/models.db", dir);
}

static void teardown(void)
{
    st_rmdir(dir);
}

TestSuite(store, .init = setup, .fini = teardown);

Test(store, similar_ranks_by_cosine_after_filters)
{
    ntg_plan *n1 = st_compile("graphs/nhits.yaml", 1, 1);
    ntg_plan *n2 = st_compile("graphs/nhits.yaml", 1, 2); /* other initial weights */
    ntg_plan *n3 = st_variant(n1, 0, 5);
    ntg_plan *lstm = st_compile("graphs/lstm_attention.yaml", 1, 1);
    ntg_plan *tf = st_compile("graphs/transformer.yaml", 1, 1);
    ntg_store *s = st_open(db, 0);
    st_put(s, "nhits-a", n1);
    st_put(s, "nhits-b", n2);
    st_put(s, "nhits-a", n3);
    st_put(s, "lstm", lstm);
    st_put(s, "tf", tf);
    ntg_error err;
    cr_assert_eq(ntg_store_tag(s, "tf@1", "team", "x", &err), NTG_OK);
    cr_assert_eq(ntg_store_tag(s, "nhits-b@1", "team", "x", &err), NTG_OK);

    ntg_store_list *l = NULL;
    cr_assert_eq(ntg_store_similar(s, "nhits-a@1", NULL, 10, &l, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_store_list_count(l), 4, "itself is not a result");
    for (size_t i = 0; i < 4; i++) {
        const ntg_store_version *v = ntg_store_list_at(l, i);
        cr_log_info("%zu. %s@%llu (%s) %.4f", i + 1, v->name, (unsigned long long)v->version,
                    v->kind, v->score);
        cr_assert(v->score >= -1 && v->score <= 1.0000001);
        if (i) cr_assert_geq(ntg_store_list_at(l, i - 1)->score, v->score);
    }
    /* the N-HiTS versions come before the other architectures */
    cr_assert_str_eq(ntg_store_list_at(l, 0)->kind, "nhits");
    cr_assert_str_eq(ntg_store_list_at(l, 1)->kind, "nhits");
    cr_assert_str_neq(ntg_store_list_at(l, 2)->kind, "nhits");
    ntg_store_list_destroy(l);

    ntg_store_filter f;
    ntg_store_filter_init(&f);
    f.kind = "transformer";
    cr_assert_eq(ntg_store_similar(s, "nhits-a@1", &f, 10, &l, &err), NTG_OK);
    cr_assert_eq(ntg_store_list_count(l), 1);
    cr_assert_str_eq(ntg_store_list_at(l, 0)->name, "tf");
    ntg_store_list_destroy(l);
    ntg_define team = {"team", "x"};
    ntg_store_filter_init(&f);
    f.tags = &team;
    f.n_tags = 1;
    cr_assert_eq(ntg_store_similar(s, "nhits-a@2", &f, 1, &l, &err), NTG_OK);
    cr_assert_eq(ntg_store_list_count(l), 1);
    cr_assert_str_eq(ntg_store_list_at(l, 0)->name, "nhits-b");
    ntg_store_list_destroy(l);

    cr_assert_eq(ntg_store_alias_set(s, "tf@1", "prod", &err), NTG_OK, "%s", err.message);
    ntg_store_filter_init(&f);
    f.alias = "prod";
    cr_assert_eq(ntg_store_similar(s, "nhits-a@1", &f, 5, &l, &err), NTG_OK);
    cr_assert_eq(ntg_store_list_count(l), 1);
    cr_assert_str_eq(ntg_store_list_at(l, 0)->name, "tf");
    ntg_store_list_destroy(l);

    /* a plan that is not stored: its own copy is the closest, at cosine 1 */
    cr_assert_eq(ntg_store_similar_plan(s, lstm, NULL, 2, &l, &err), NTG_OK);
    cr_assert_str_eq(ntg_store_list_at(l, 0)->name, "lstm");
    cr_assert_float_eq(ntg_store_list_at(l, 0)->score, 1.0, 1e-6);
    ntg_store_list_destroy(l);
    cr_assert_eq(ntg_store_similar(s, "nope@1", NULL, 3, &l, &err), NTG_ERR_NOT_FOUND);
    ntg_store_close(s);
    ntg_plan_destroy(n1);
    ntg_plan_destroy(n2);
    ntg_plan_destroy(n3);
    ntg_plan_destroy(lstm);
    ntg_plan_destroy(tf);
}

Test(store, backup_is_a_consistent_copy)
{
    ntg_plan *p = st_compile("graphs/nhits.yaml", 1, 1);
    ntg_store *s = st_open(db, 0);
    st_put(s, "m", p);
    ntg_error err;
    /* a checkpoint of 1 MiB: in a format-3 store a chunk file, which the backup must carry */
    enum { N = 1 << 20 };
    uint8_t *blob = malloc(N);
    for (size_t i = 0; i < N; i++) blob[i] = (uint8_t)(i * 31 + (i >> 11));
    ntg_store_blob blobs[] = {{"weights", blob, N}};
    ntg_store_checkpoint ck;
    ntg_store_checkpoint_init(&ck);
    ck.step = 1;
    ck.blobs = blobs;
    ck.n_blobs = 1;
    uint64_t id;
    cr_assert_eq(ntg_store_put_checkpoint(s, "m", &ck, 0, &id, &err), NTG_OK, "%s", err.message);
    char bk[400];
    snprintf(bk, sizeof bk, "%s/backup", dir);
    cr_assert_eq(ntg_store_backup(s, bk, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_store_backup(s, bk, &err), NTG_ERR_INVALID_ARG);
    cr_assert(strstr(err.message, "must not exist"), "%s", err.message);
    /* the store goes on; the backup keeps the state it had */
    st_put(s, "m", p);
    ntg_store_close(s);
    ntg_store *b = st_open(bk, NTG_STORE_OPEN_READONLY);
    uint64_t v;
    cr_assert_eq(ntg_store_resolve(b, "m", &v, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(v, 1);
    ntg_plan *g = NULL;
    cr_assert_eq(ntg_store_get_plan(b, "m@1", &g, &err), NTG_OK, "%s", err.message);
    cr_assert(st_same_bytes(g, p));
    ntg_plan_destroy(g);
    ntg_store_verify_report r;
    ntg_store_verify_report_init(&r);
    cr_assert_eq(ntg_store_verify(b, &r, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(r.versions, 1);
    cr_assert_eq(r.checkpoints, 1);
    ntg_store_ckpts *c = NULL;
    cr_assert_eq(ntg_store_get_checkpoint(b, "m", id, &c, &err), NTG_OK, "%s", err.message);
    cr_assert(memcmp(ntg_store_ckpts_at(c, 0)->blobs[0].data, blob, N) == 0);
    ntg_store_ckpts_destroy(c);
    free(blob);
    cr_assert_eq(ntg_store_backup(b, "/tmp/never", &err), NTG_ERR_STATE);
    ntg_store_close(b);
    ntg_plan_destroy(p);
}

Test(store, a_second_writer_waits_then_gives_up)
{
    ntg_store *s = st_open(db, 0);
    ntg_store_options o;
    ntg_store_options_init(&o);
    o.lock_wait_ms = 100;
    ntg_store *t = NULL;
    ntg_error err;
    cr_assert_eq(ntg_store_open(db, &o, &t, &err), NTG_ERR_STATE);
    cr_assert(strstr(err.message, "in use by another writer"), "%s", err.message);
    /* readers are not blocked */
    o.flags = NTG_STORE_OPEN_READONLY;
    cr_assert_eq(ntg_store_open(db, &o, &t, &err), NTG_OK, "%s", err.message);
    ntg_store_close(t);
    ntg_store_close(s);
    ntg_store_close(NULL);
}

/* A synthetic hourly series of n rows: kind 0 a daily season (phase and amplitude vary with
 * `variant`), kind 1 a random walk. */
static ntg_series *synthetic(int kind, int variant, size_t n)
{
    double *v = malloc(n * sizeof *v);
    cr_assert(v);
    uint64_t r = 12345u + (uint64_t)variant * 777u;
    double walk = 0;
    for (size_t t = 0; t < n; t++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(r >> 11) / 9007199254740992.0 - 0.5;
        if (kind == 0)
            v[t] = (1 + 0.2 * variant) *
                       sin(2 * 3.14159265358979323846 * ((double)t + 3 * variant) / 24) +
                   0.2 * u;
        else
            v[t] = walk += u;
    }
    const char *names[] = {"y"};
    const double *cols[] = {v};
    ntg_series *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg_series_create(n, 1, names, cols, NULL, 0, &s, &err), NTG_OK, "%s",
                 err.message);
    free(v);
    return s;
}

static ntg_plan *trained(const ntg_plan *p, const ntg_series *s, const char *seed)
{
    ntg_train_options o;
    ntg_train_options_init(&o);
    ntg_define set[] = {
        {"steps", "60"}, {"batch", "8"}, {"val_every", "0"}, {"seed", seed}, {"lr", "0.001"}};
    o.split = "0.8,0.1,0.1";
    o.settings = set;
    o.n_settings = 5;
    o.backend = "auto";
    o.threads = 1;
    ntg_plan *out = NULL;
    ntg_error err;
    cr_assert_eq(ntg_train(p, s, &o, &out, NULL, &err), NTG_OK, "%s", err.message);
    return out;
}

static double score_of(const ntg_store_list *l, const char *name)
{
    for (size_t i = 0; i < ntg_store_list_count(l); i++)
        if (strcmp(ntg_store_list_at(l, i)->name, name) == 0) return ntg_store_list_at(l, i)->score;
    cr_assert_fail("%s is not among the results", name);
    return 0;
}

/* Issue 16: the same architecture trained on similar data ranks first; an untrained copy,
 * the same architecture trained on other data and another architecture rank below it. */
Test(store, similar_separates_what_models_learned)
{
    ntg_plan *p1 = st_compile("graphs/nhits.yaml", 0, 1);
    ntg_plan *p2 = st_compile("graphs/nhits.yaml", 0, 2);
    ntg_series *season = synthetic(0, 0, 1500), *season2 = synthetic(0, 1, 1500),
               *walk = synthetic(1, 0, 1500);
    ntg_plan *a = trained(p1, season, "1"), *a2 = trained(p2, season2, "2"),
             *b = trained(p1, walk, "1");
    ntg_plan *lstm = st_compile("graphs/lstm_attention.yaml", 1, 1);
    ntg_store *s = st_open(db, 0);
    st_put(s, "season", a);
    st_put(s, "season-other", a2);
    st_put(s, "walk", b);
    st_put(s, "untrained", p1);
    st_put(s, "lstm", lstm);
    ntg_store_list *l = NULL;
    ntg_error err;
    cr_assert_eq(ntg_store_similar(s, "season", NULL, 10, &l, &err), NTG_OK, "%s", err.message);
    for (size_t i = 0; i < ntg_store_list_count(l); i++)
        cr_log_info("%zu. %s %.4f", i + 1, ntg_store_list_at(l, i)->name,
                    ntg_store_list_at(l, i)->score);
    cr_assert_str_eq(ntg_store_list_at(l, 0)->name, "season-other");
    double sim = score_of(l, "season-other"), walk_s = score_of(l, "walk"),
           untr = score_of(l, "untrained"), other = score_of(l, "lstm");
    cr_assert_gt(sim, 0.85, "similar data: %.4f", sim);
    cr_assert_lt(untr, sim - 0.2, "an untrained copy no longer scores like a trained one: %.4f",
                 untr);
    cr_assert_lt(walk_s, sim - 0.15, "other data: %.4f", walk_s);
    cr_assert_lt(other, 0.6, "another architecture: %.4f", other);
    ntg_store_list_destroy(l);
    ntg_store_close(s);
    ntg_series_destroy(season);
    ntg_series_destroy(season2);
    ntg_series_destroy(walk);
    ntg_plan_destroy(a);
    ntg_plan_destroy(a2);
    ntg_plan_destroy(b);
    ntg_plan_destroy(p1);
    ntg_plan_destroy(p2);
    ntg_plan_destroy(lstm);
}
