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
