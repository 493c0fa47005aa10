/* test_store_basic.c — the model store: bit-exact round trips, versions, aliases, tags, filters. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>
#include <math.h>
#include <string.h>

#include "store.h"
#include "store_int.h"
#include "store_testutil.h"

static char dir[256], db[300];

static void setup(void)
{
    st_mkdtemp(dir, sizeof dir, "store");
    snprintf(db, sizeof db, "%s/models.db", dir);
}

static void teardown(void)
{
    st_rmdir(dir);
}

TestSuite(store, .init = setup, .fini = teardown);

static void assert_consistent(ntg_store *s)
{
    ntg__store_check_report r;
    ntg_error err;
    cr_assert_eq(ntg__store_check(s, &r, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(r.problems, 0, "%s", r.first);
    cr_assert_eq(r.missing, 0);
}

Test(store, put_get_bit_exact)
{
    ntg_plan *p = st_compile("graphs/nhits.yaml", 0, 1);
    ntg_plan *q = st_variant(p, 3, 42);
    ntg_store *s = st_open(db, 0);
    cr_assert_eq(st_put(s, "nhits", p), 1);
    cr_assert_eq(st_put(s, "nhits", q), 2);
    ntg_plan *g1 = NULL, *g2 = NULL, *gl = NULL;
    ntg_error err;
    cr_assert_eq(ntg_store_get_plan(s, "nhits@1", &g1, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_store_get_plan(s, "nhits@2", &g2, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_store_get_plan(s, "nhits", &gl, &err), NTG_OK, "%s", err.message);
    cr_assert(st_same_bytes(g1, p));
    cr_assert(st_same_bytes(g2, q));
    cr_assert(st_same_bytes(gl, q));
    uint64_t v;
    cr_assert_eq(ntg_store_resolve(s, "nhits@latest", &v, &err), NTG_OK);
    cr_assert_eq(v, 2);
    assert_consistent(s);
    ntg_plan_destroy(g1);
    ntg_plan_destroy(g2);
    ntg_plan_destroy(gl);
    ntg_store_close(s);
    /* again after reopening, and through a reader */
    s = st_open(db, NTG_STORE_OPEN_READONLY);
    cr_assert_eq(ntg_store_get_plan(s, "nhits@1", &g1, &err), NTG_OK, "%s", err.message);
    cr_assert(st_same_bytes(g1, p));
    ntg_plan_destroy(g1);
    ntg_store_close(s);
    ntg_plan_destroy(p);
    ntg_plan_destroy(q);
}

Test(store, lineage_metrics_hparams)
{
    ntg_plan *p = st_compile("graphs/nhits.yaml", 1, 1);
    ntg_store *s = st_open(db, 0);
    ntg_store_put_options o;
    ntg_store_put_options_init(&o);
    ntg_store_metric m[] = {{"mae", 0.25}, {"mse", 0.125}};
    ntg_define tags[] = {{"stage", "dev"}, {"data", "etth1"}};
    const char *aliases[] = {"champion"};
    o.metrics = m;
    o.n_metrics = 2;
    o.tags = tags;
    o.n_tags = 2;
    o.aliases = aliases;
    o.n_aliases = 1;
    o.description = "first";
    o.data_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    o.data_split = "8640,2880,2880";
    uint64_t v;
    ntg_error err;
    cr_assert_eq(ntg_store_put(s, "m", p, &o, &v, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(v, 1);
    o.aliases = NULL;
    o.n_aliases = 0;
    o.n_tags = 1;
    cr_assert_eq(ntg_store_put(s, "m", p, &o, &v, &err), NTG_OK, "%s", err.message);
    ntg_store_list *l = NULL;
    cr_assert_eq(ntg_store_show(s, "m@2", &l, &err), NTG_OK, "%s", err.message);
    const ntg_store_version *x = ntg_store_list_at(l, 0);
    cr_assert_eq(x->version, 2);
    cr_assert_eq(x->parent, 1);
    cr_assert_str_eq(x->kind, "nhits");
    cr_assert_str_eq(x->description, "first");
    cr_assert_str_eq(x->data_split, "8640,2880,2880");
    cr_assert_eq(x->n_metrics, 2);
    cr_assert_str_eq(x->metrics[0].name, "mae");
    cr_assert_eq(x->param_elements, ntg_plan_param_elements(p));
    int have_h = 0;
    for (size_t i = 0; i < x->n_hparams; i++)
        have_h |= strcmp(x->hparams[i].name, "h") == 0 && strcmp(x->hparams[i].value, "24") == 0;
    cr_assert(have_h);
    cr_assert_eq(x->n_tags, 1);
    cr_assert_eq(x->n_aliases, 1);
    cr_assert_str_eq(x->aliases[0], "latest");
    cr_assert_gt(x->n_tensors, 0);
    cr_assert_eq(strlen(x->tensors[0].hash), 64);
    ntg_store_list_destroy(l);
    cr_assert_eq(ntg_store_show(s, "m@champion", &l, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_store_list_at(l, 0)->version, 1);
    cr_assert_eq(ntg_store_list_at(l, 0)->parent, 0);
    ntg_store_list_destroy(l);
    assert_consistent(s);
    ntg_store_close(s);
    ntg_plan_destroy(p);
}

static size_t count(ntg_store *s, const ntg_store_filter *f)
{
    ntg_store_list *l = NULL;
    ntg_error err;
    cr_assert_eq(ntg_store_list_versions(s, f, &l, &err), NTG_OK, "%s", err.message);
    size_t n = ntg_store_list_count(l);
    ntg_store_list_destroy(l);
    return n;
}

Test(store, filters_tags_aliases)
{
    ntg_plan *a = st_compile("graphs/nhits.yaml", 1, 1);
    ntg_plan *b = st_compile("graphs/transformer.yaml", 1, 1);
    ntg_store *s = st_open(db, 0);
    st_put(s, "nhits-a", a);
    st_put(s, "nhits-a", a);
    st_put(s, "nhits-b", a);
    st_put(s, "tf", b);
    ntg_error err;
    cr_assert_eq(ntg_store_tag(s, "nhits-a@1", "stage", "prod", &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_store_tag(s, "nhits-b", "team", "x", &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_store_tag(s, "tf@1", "stage", "prod", &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_store_alias_set(s, "nhits-a@1", "champion", &err), NTG_OK, "%s", err.message);

    ntg_store_filter f;
    ntg_store_filter_init(&f);
    cr_assert_eq(count(s, &f), 3); /* the newest of each model */
    f.all_versions = 1;
    cr_assert_eq(count(s, &f), 4);
    f.all_versions = 0;
    f.kind = "nhits";
    cr_assert_eq(count(s, &f), 2);
    f.kind = "transformer";
    cr_assert_eq(count(s, &f), 1);
    f.kind = NULL;
    f.name_prefix = "nhits";
    cr_assert_eq(count(s, &f), 2);
    f.name_prefix = NULL;
    f.name = "nhits-a";
    f.all_versions = 1;
    cr_assert_eq(count(s, &f), 2);
    f.name = NULL;
    f.all_versions = 0;
    ntg_define prod = {"stage", "prod"}, team = {"team", "x"};
    f.tags = &prod;
    f.n_tags = 1;
    cr_assert_eq(count(s, &f), 2); /* nhits-a@1, tf@1 */
    f.kind = "nhits";
    ntg_store_list *l = NULL;
    cr_assert_eq(ntg_store_list_versions(s, &f, &l, &err), NTG_OK);
    cr_assert_eq(ntg_store_list_count(l), 1);
    cr_assert_str_eq(ntg_store_list_at(l, 0)->name, "nhits-a");
    cr_assert_eq(ntg_store_list_at(l, 0)->version, 1);
    ntg_store_list_destroy(l);
    f.kind = NULL;
    f.tags = &team; /* a model tag covers its versions */
    cr_assert_eq(count(s, &f), 1);
    f.n_tags = 0;
    f.alias = "champion";
    cr_assert_eq(count(s, &f), 1);
    f.alias = NULL;
    f.min_params = ntg_plan_param_elements(a) + 1;
    cr_assert_eq(count(s, &f), ntg_plan_param_elements(b) > ntg_plan_param_elements(a) ? 1 : 0);
    f.min_params = 0;
    f.max_params = ntg_plan_param_elements(a);
    cr_assert_eq(count(s, &f), 2 + (ntg_plan_param_elements(b) <= ntg_plan_param_elements(a)));
    f.max_params = 0;
    f.created_from = 1; /* 1 ms after 1970: everything */
    cr_assert_eq(count(s, &f), 3);
    f.created_to = 2; /* before anything */
    cr_assert_eq(count(s, &f), 0);

    /* removing a tag removes its index row; moving an alias */
    cr_assert_eq(ntg_store_tag(s, "nhits-a@1", "stage", NULL, &err), NTG_OK, "%s", err.message);
    ntg_store_filter_init(&f);
    f.tags = &prod;
    f.n_tags = 1;
    cr_assert_eq(count(s, &f), 1);
    cr_assert_eq(ntg_store_alias_set(s, "nhits-a@2", "champion", &err), NTG_OK);
    uint64_t v;
    cr_assert_eq(ntg_store_resolve(s, "nhits-a@champion", &v, &err), NTG_OK);
    cr_assert_eq(v, 2);
    cr_assert_eq(ntg_store_alias_remove(s, "nhits-a", "champion", &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_store_resolve(s, "nhits-a@champion", &v, &err), NTG_ERR_NOT_FOUND);
    cr_assert(strstr(err.message, "no alias 'champion' (aliases: latest)"), "%s", err.message);
    assert_consistent(s);
    ntg_store_close(s);
    ntg_plan_destroy(a);
    ntg_plan_destroy(b);
}

Test(store, reference_errors)
{
    ntg_plan *p = st_compile("graphs/nhits.yaml", 1, 1);
    ntg_store *s = st_open(db, 0);
    st_put(s, "m", p);
    ntg_error err;
    uint64_t v;
    cr_assert_eq(ntg_store_resolve(s, "nope", &v, &err), NTG_ERR_NOT_FOUND);
    cr_assert(strstr(err.message, "no model 'nope'"), "%s", err.message);
    cr_assert(strstr(err.message, db), "%s", err.message);
    cr_assert_eq(ntg_store_resolve(s, "m@7", &v, &err), NTG_ERR_NOT_FOUND);
    cr_assert(strstr(err.message, "has no version 7 (it has versions 1..1)"), "%s", err.message);
    cr_assert_eq(ntg_store_resolve(s, "m@prod", &v, &err), NTG_ERR_NOT_FOUND);
    cr_assert_eq(ntg_store_resolve(s, "m@-x", &v, &err), NTG_ERR_INVALID_ARG);
    cr_assert(strstr(err.message, "bad alias '-x'"), "%s", err.message);
    cr_assert_eq(ntg_store_resolve(s, "m@", &v, &err), NTG_ERR_INVALID_ARG);
    cr_assert_eq(ntg_store_resolve(s, "a b", &v, &err), NTG_ERR_INVALID_ARG);
    cr_assert_eq(ntg_store_alias_set(s, "m@1", "latest", &err), NTG_ERR_INVALID_ARG);
    cr_assert(strstr(err.message, "kept by the store"), "%s", err.message);
    cr_assert_eq(ntg_store_alias_set(s, "m@1", "9lives", &err), NTG_ERR_INVALID_ARG);
    cr_assert_eq(ntg_store_alias_set(s, "m@3", "ok", &err), NTG_ERR_NOT_FOUND);
    cr_assert_eq(ntg_store_alias_remove(s, "m", "ok", &err), NTG_ERR_NOT_FOUND);
    cr_assert_eq(ntg_store_tag(s, "m", "bad key", "v", &err), NTG_ERR_INVALID_ARG);
    cr_assert_eq(ntg_store_tag(s, "m@1", "k", NULL, &err), NTG_ERR_NOT_FOUND);
    cr_assert_eq(ntg_store_put(s, "bad/name", p, NULL, &v, &err), NTG_ERR_INVALID_ARG);
    ntg_store_put_options o;
    ntg_store_put_options_init(&o);
    o.parent = 5;
    cr_assert_eq(ntg_store_put(s, "m", p, &o, &v, &err), NTG_ERR_INVALID_ARG);
    cr_assert(strstr(err.message, "parent version 5"), "%s", err.message);
    /* nothing those failures touched changed the store */
    assert_consistent(s);
    ntg_store_stats stats;
    ntg_store_stats_init(&stats);
    cr_assert_eq(ntg_store_stats_get(s, &stats, &err), NTG_OK);
    cr_assert_eq(stats.versions, 1);
    cr_assert_eq(stats.models, 1);
    ntg_store_close(s);

    /* a reader cannot write */
    s = st_open(db, NTG_STORE_OPEN_READONLY);
    cr_assert_eq(ntg_store_put(s, "m", p, NULL, &v, &err), NTG_ERR_STATE);
    cr_assert(strstr(err.message, "read-only"), "%s", err.message);
    ntg_store_close(s);
    ntg_plan_destroy(p);
}

Test(store, checkpoints_keep_and_gc)
{
    ntg_store *s = st_open(db, 0);
    ntg_error err;
    enum { N = 3, BYTES = 3 << 20 };
    uint8_t *w = malloc(BYTES);
    tu_rng r = {5};
    uint64_t id = 0;
    for (int i = 0; i < N; i++) {
        tu_fill(&r, (float *)(void *)w, BYTES / 4, -1, 1);
        ntg_store_blob blobs[] = {{"weights", w, BYTES}, {"state", w, 1000}};
        ntg_define meta[] = {{"seed", "1"}};
        ntg_store_checkpoint ck = {
            sizeof(ntg_store_checkpoint), 0, 0, 10 * (i + 1), 0.5, NAN, NULL, 0, meta, 1, blobs, 2};
        cr_assert_eq(ntg_store_put_checkpoint(s, "run", &ck, 2, &id, &err), NTG_OK, "%s",
                     err.message);
        cr_assert_eq(id, (uint64_t)i + 1);
    }
    ntg_store_ckpts *c = NULL;
    cr_assert_eq(ntg_store_checkpoints(s, "run", &c, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_store_ckpts_count(c), 2);
    cr_assert_eq(ntg_store_ckpts_at(c, 0)->id, 2);
    cr_assert_eq(ntg_store_ckpts_at(c, 1)->step, 30);
    cr_assert_null(ntg_store_ckpts_at(c, 1)->blobs[0].data);
    ntg_store_ckpts_destroy(c);
    cr_assert_eq(ntg_store_get_checkpoint(s, "run", 0, &c, &err), NTG_OK, "%s", err.message);
    const ntg_store_checkpoint *k = ntg_store_ckpts_at(c, 0);
    cr_assert_eq(k->id, 3);
    cr_assert_eq(k->n_blobs, 2);
    cr_assert_eq(memcmp(k->blobs[0].data, w, BYTES), 0);
    cr_assert_eq(memcmp(k->blobs[1].data, w, 1000), 0);
    cr_assert_str_eq(k->meta[0].name, "seed");
    cr_assert(isnan(k->val_loss));
    ntg_store_ckpts_destroy(c);
    cr_assert_eq(ntg_store_get_checkpoint(s, "run", 1, &c, &err), NTG_ERR_NOT_FOUND);
    cr_assert_eq(ntg_store_get_checkpoint(s, "nobody", 0, &c, &err), NTG_ERR_NOT_FOUND);

    /* the pruned checkpoint's chunks went with its record: nothing is left for gc */
    ntg__store_check_report cr;
    cr_assert_eq(ntg__store_check(s, &cr, &err), NTG_OK);
    cr_assert_eq(cr.problems, 0, "%s", cr.first);
    cr_assert_eq(cr.orphans, 0);
    ntg_store_gc_report g;
    ntg_store_gc_report_init(&g);
    cr_assert_eq(ntg_store_gc(s, &g, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(g.chunks_removed, 0);
    cr_assert_eq(ntg__store_check(s, &cr, &err), NTG_OK);
    cr_assert_eq(cr.problems, 0, "%s", cr.first);
    cr_assert_eq(cr.orphans, 0);
    ntg_store_verify_report vr;
    ntg_store_verify_report_init(&vr);
    cr_assert_eq(ntg_store_verify(s, &vr, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(vr.checkpoints, 2);
    cr_assert_eq(ntg_store_get_checkpoint(s, "run", 2, &c, &err), NTG_OK, "%s", err.message);
    ntg_store_ckpts_destroy(c);
    free(w);
    ntg_store_close(s);
}

/* Flip one byte of the file at `path`, at offset `at`. */
static void flip_at(const char *path, long at)
{
    FILE *f = fopen(path, "r+b");
    cr_assert(f, "%s", path);
    cr_assert_eq(fseek(f, at, SEEK_SET), 0);
    int c = fgetc(f);
    cr_assert_eq(fseek(f, at, SEEK_SET), 0);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

/* issue 17: a read into an earlier result takes its buffers again (no fresh pages), and a large
 * chunk file, read in two halves on two threads (or mapped and checked on two), is still checked
 * whole.  Large blobs are mapped unless NTG_STORE_OPEN_NO_MAP: the buffer reuse is of reads. */
Test(store, a_checkpoint_read_into_an_earlier_result_reuses_its_memory)
{
    ntg_store *s = st_open(db, NTG_STORE_OPEN_NO_MAP);
    ntg_error err;
    enum { BIG = (6 << 20) + 12345, SMALL = 1000 };
    uint8_t *w[2] = {malloc(BIG), malloc(BIG)}, *st = malloc(SMALL);
    cr_assert(w[0] && w[1] && st);
    tu_rng r = {11};
    tu_fill(&r, (float *)(void *)st, SMALL / 4, -1, 1);
    for (int i = 0; i < 2; i++) {
        for (size_t j = 0; j < BIG; j++) w[i][j] = (uint8_t)(tu_next(&r) >> 7);
        ntg_store_blob blobs[] = {{"weights", w[i], BIG}, {"state", st, SMALL}};
        ntg_store_checkpoint ck;
        ntg_store_checkpoint_init(&ck);
        ck.step = i + 1;
        ck.blobs = blobs;
        ck.n_blobs = 2;
        uint64_t id;
        cr_assert_eq(ntg_store_put_checkpoint(s, "run", &ck, 0, &id, &err), NTG_OK, "%s",
                     err.message);
    }
    ntg_store_ckpts *c = NULL;
    cr_assert_eq(ntg_store_get_checkpoint_into(s, "run", 0, &c, &err), NTG_OK, "%s", err.message);
    const ntg_store_checkpoint *k = ntg_store_ckpts_at(c, 0);
    cr_assert_eq(k->id, 2);
    cr_assert_eq(memcmp(k->blobs[0].data, w[1], BIG), 0);
    const void *big = k->blobs[0].data, *small = k->blobs[1].data;
    cr_assert_eq(ntg_store_get_checkpoint_into(s, "run", 1, &c, &err), NTG_OK, "%s", err.message);
    k = ntg_store_ckpts_at(c, 0);
    cr_assert_eq(k->id, 1);
    cr_assert_eq(k->step, 1);
    cr_assert_eq(k->blobs[0].data, big, "the buffer of the same size is taken again");
    cr_assert_eq(k->blobs[1].data, small);
    cr_assert_eq(memcmp(k->blobs[0].data, w[0], BIG), 0);
    cr_assert_eq(memcmp(k->blobs[1].data, st, SMALL), 0);
    /* an error destroys the result */
    cr_assert_eq(ntg_store_get_checkpoint_into(s, "nobody", 0, &c, &err), NTG_ERR_NOT_FOUND);
    cr_assert_null(c);
    ntg_store_close(s);

    /* a byte changed in either half of the large chunk's file, or in its trailer, is seen */
    char path[600];
    uint8_t h[32];
    ntg__blake3(w[1], BIG, h);
    char hex[65];
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", h[i]);
    snprintf(path, sizeof path, "%s/chunks/%s", db, hex);
    long at[] = {7, BIG / 2 + 4097, BIG - 1, BIG + 2};
    for (int m = 0; m < 2; m++) /* mapped, then read */
        for (int i = 0; i < 4; i++) {
            flip_at(path, at[i]);
            s = st_open(db, NTG_STORE_OPEN_READONLY | (m ? NTG_STORE_OPEN_NO_MAP : 0));
            ntg_status rs = ntg_store_get_checkpoint(s, "run", 2, &c, &err);
            cr_assert_eq(rs, NTG_ERR_DATA, "byte %ld: %d %s", at[i], rs, err.message);
            cr_assert(strstr(err.message, "do not match their check"), "%s", err.message);
            ntg_store_close(s);
            flip_at(path, at[i]);
        }
    for (int m = 0; m < 2; m++) {
        s = st_open(db, NTG_STORE_OPEN_READONLY | (m ? NTG_STORE_OPEN_NO_MAP : 0));
        cr_assert_eq(ntg_store_get_checkpoint(s, "run", 2, &c, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(memcmp(ntg_store_ckpts_at(c, 0)->blobs[0].data, w[1], BIG), 0);
        /* a mapped result reads into new mappings, not into the old ones */
        cr_assert_eq(ntg_store_get_checkpoint_into(s, "run", 1, &c, &err), NTG_OK, "%s",
                     err.message);
        cr_assert_eq(memcmp(ntg_store_ckpts_at(c, 0)->blobs[0].data, w[0], BIG), 0);
        ntg_store_ckpts_destroy(c);
        ntg_store_close(s);
    }
    free(w[0]);
    free(w[1]);
    free(st);
}

/* Regular files in `path` (0 when it is absent). */
static int count_files(const char *path)
{
    DIR *d = opendir(path);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

/* Mappings of this process whose file is under `under` (from /proc/self/maps). */
static int count_mapped(const char *under)
{
    FILE *f = fopen("/proc/self/maps", "r");
    int n = 0;
    char line[1024];
    while (f && fgets(line, sizeof line, f)) n += strstr(line, under) != NULL;
    if (f) fclose(f);
    return n;
}

/* issue 17: a large blob is its chunk files mapped.  The mapping outlives the files (pruned and
 * collected while the result is alive), and a blob of several chunks maps each file at its
 * offset with the last chunk, where it is held in RocksDB, read into the memory between. */
Test(store, mapped_checkpoint_blobs_outlive_their_files_and_span_chunks)
{
    ntg_store *s = st_open(db, 0);
    ntg_error err;
    /* a: a 64 MiB file chunk and a 1000-byte tail in RocksDB; b: the same first chunk (one
     * file, mapped twice) and a 300 KiB + 5 tail in a file of its own, mapped at 64 MiB */
    const size_t CH = (size_t)64 << 20, A = CH + 1000, B = CH + (300 << 10) + 5;
    uint8_t *a = malloc(A), *b = malloc(B);
    cr_assert(a && b);
    tu_rng r = {5};
    tu_fill(&r, (float *)(void *)a, A / 4, -1, 1);
    memcpy(b, a, CH);
    tu_fill(&r, (float *)(void *)(b + CH), (B - CH) / 4, -1, 1);
    b[B - 1] = 0x77;
    ntg_store_blob blobs[] = {{"a", a, A}, {"b", b, B}};
    ntg_store_checkpoint ck;
    ntg_store_checkpoint_init(&ck);
    ck.step = 1;
    ck.blobs = blobs;
    ck.n_blobs = 2;
    uint64_t id;
    cr_assert_eq(ntg_store_put_checkpoint(s, "run", &ck, 1, &id, &err), NTG_OK, "%s", err.message);
    ntg_store_ckpts *c = NULL;
    cr_assert_eq(ntg_store_get_checkpoint(s, "run", 0, &c, &err), NTG_OK, "%s", err.message);
    const ntg_store_checkpoint *k = ntg_store_ckpts_at(c, 0);
    cr_assert_eq(k->blobs[0].nbytes, A);
    cr_assert_eq(k->blobs[1].nbytes, B);
    cr_assert_eq(memcmp(k->blobs[0].data, a, A), 0);
    cr_assert_eq(memcmp(k->blobs[1].data, b, B), 0);
    char chunks[400];
    snprintf(chunks, sizeof chunks, "%s/chunks", db);
    cr_assert_eq(count_mapped(chunks), 3, "a's file chunk, b's (the same file) and b's tail");
    /* the same bytes read into anonymous memory with NTG_STORE_OPEN_NO_MAP */
    ntg_store_close(s);
    s = st_open(db, NTG_STORE_OPEN_NO_MAP);
    ntg_store_ckpts *c2 = NULL;
    cr_assert_eq(ntg_store_get_checkpoint(s, "run", 0, &c2, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(count_mapped(chunks), 3);
    cr_assert_eq(memcmp(ntg_store_ckpts_at(c2, 0)->blobs[0].data, a, A), 0);
    cr_assert_eq(memcmp(ntg_store_ckpts_at(c2, 0)->blobs[1].data, b, B), 0);
    ntg_store_ckpts_destroy(c2);
    /* the next checkpoint (keep 1) prunes this one and removes its files; gc finds nothing
     * left; the result still holds the bytes it was given */
    uint8_t small[64] = {1};
    ntg_store_blob one[] = {{"a", small, sizeof small}};
    ck.step = 2;
    ck.blobs = one;
    ck.n_blobs = 1;
    cr_assert_eq(ntg_store_put_checkpoint(s, "run", &ck, 1, &id, &err), NTG_OK, "%s", err.message);
    ntg_store_gc_report g;
    ntg_store_gc_report_init(&g);
    cr_assert_eq(ntg_store_gc(s, &g, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(count_files(chunks), 0, "the pruned checkpoint's files are gone");
    cr_assert_eq(memcmp(k->blobs[0].data, a, A), 0);
    cr_assert_eq(memcmp(k->blobs[1].data, b, B), 0);
    ntg_store_ckpts_destroy(c);
    cr_assert_eq(count_mapped(chunks), 0);
    ntg_store_close(s);
    free(a);
    free(b);
}

/* issue 11 §5: pruned checkpoints stayed on disk until the run ended (a 90-step run peaked at
 * 909 MB for ~70 MB live).  Now the chunk bytes and the live blob files stay bounded by the
 * checkpoints kept, counted in bytes after every commit. */
Test(store, pruned_checkpoints_are_reclaimed_as_they_go)
{
    ntg_store *s = st_open(db, 0);
    ntg_error err;
    enum { N = 16, BYTES = 3 << 20, KEEP = 2 };
    uint8_t *w = malloc(BYTES), *st = malloc(BYTES);
    tu_rng r = {11};
    uint64_t id = 0, peak_chunks = 0, peak_blobs = 0;
    tu_fill(&r, (float *)(void *)st, BYTES / 4, -1, 1); /* the same in every checkpoint */
    for (int i = 0; i < N; i++) {
        tu_fill(&r, (float *)(void *)w, BYTES / 4, -1, 1);
        ntg_store_blob blobs[] = {{"weights", w, BYTES}, {"state", st, BYTES}};
        ntg_store_checkpoint ck = {
            sizeof(ntg_store_checkpoint), 0, 0, i + 1, 0.5, NAN, NULL, 0, NULL, 0, blobs, 2};
        cr_assert_eq(ntg_store_put_checkpoint(s, "run", &ck, KEEP, &id, &err), NTG_OK, "%s",
                     err.message);
        ntg_store_stats x;
        ntg_store_stats_init(&x);
        cr_assert_eq(ntg_store_stats_get(s, &x, &err), NTG_OK, "%s", err.message);
        if (x.chunk_bytes > peak_chunks) peak_chunks = x.chunk_bytes;
        if (x.blob_bytes > peak_blobs) peak_blobs = x.blob_bytes;
    }
    cr_log_info("peak: %llu chunk bytes, %llu bytes of live blob files",
                (unsigned long long)peak_chunks, (unsigned long long)peak_blobs);
    /* KEEP weights + the shared state, and the one being written */
    cr_assert_leq(peak_chunks, (uint64_t)(KEEP + 2) * BYTES);
    cr_assert_leq(peak_blobs, (uint64_t)(KEEP + 3) * BYTES);
    /* the shared state was not taken with the pruned checkpoints */
    ntg_store_ckpts *c = NULL;
    cr_assert_eq(ntg_store_get_checkpoint(s, "run", 0, &c, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(memcmp(ntg_store_ckpts_at(c, 0)->blobs[1].data, st, BYTES), 0);
    ntg_store_ckpts_destroy(c);
    ntg__store_check_report cr;
    cr_assert_eq(ntg__store_check(s, &cr, &err), NTG_OK);
    cr_assert_eq(cr.problems, 0, "%s", cr.first);
    cr_assert_eq(cr.orphans, 0);
    free(w);
    free(st);
    ntg_store_close(s);
}

static void exit_at_step(void *user, int step)
{
    if (step == *(int *)user) _exit(0);
}

/* issue 11 §5: ten kills left 1.0 GB of orphaned chunks until someone ran gc.  A writer that
 * opens after a crash reclaims them. */
Test(store, a_writer_after_a_crash_reclaims_orphans)
{
    enum { BYTES = 3 << 20 };
    /* no RocksDB in this process before the fork: its thread pools do not survive one */
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        ntg_store_options o;
        ntg_store_options_init(&o);
        ntg_store *c = NULL;
        ntg_error e;
        if (ntg_store_open(db, &o, &c, &e)) _exit(3);
        static int at = 3; /* NTG__KP_CHUNKS_DURABLE: the chunks are in, the record is not */
        ntg__store_set_killpoint(c, exit_at_step, &at);
        uint8_t *w = calloc(BYTES, 1);
        for (size_t i = 0; i < BYTES; i++) w[i] = (uint8_t)(i * 7 + i / 4096);
        ntg_store_blob blobs[] = {{"weights", w, BYTES}};
        ntg_store_checkpoint ck = {
            sizeof(ntg_store_checkpoint), 0, 0, 1, 0.5, NAN, NULL, 0, NULL, 0, blobs, 1};
        uint64_t id;
        ntg_store_put_checkpoint(c, "run", &ck, 2, &id, &e);
        _exit(4); /* the kill point was not reached */
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    /* a reader sees the orphans: it changes nothing */
    ntg_error err;
    ntg__store_check_report cr;
    ntg_store *s = st_open(db, NTG_STORE_OPEN_READONLY);
    cr_assert_eq(ntg__store_check(s, &cr, &err), NTG_OK, "%s", err.message);
    ntg_store_close(s);
    cr_assert_gt(cr.orphans, 0);
    s = st_open(db, 0);
    cr_assert_eq(ntg__store_check(s, &cr, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(cr.problems, 0, "%s", cr.first);
    cr_assert_eq(cr.orphans, 0, "the writer's open after the crash reclaims the orphans");
    ntg_store_stats x;
    ntg_store_stats_init(&x);
    cr_assert_eq(ntg_store_stats_get(s, &x, &err), NTG_OK, "%s", err.message);
    cr_assert_lt(x.blob_bytes, BYTES);
    ntg_store_close(s);
    /* a clean close leaves no presence file: the next open collects nothing */
    char mark[400];
    snprintf(mark, sizeof mark, "%s/NTGRAPH-WRITER", db);
    cr_assert_neq(access(mark, F_OK), 0);
}

Test(store, safetensors_import)
{
    ntg_plan *p = st_compile("graphs/nhits.yaml", 1, 1);
    ntg_plan *q = st_variant(p, 2, 9);
    ntg_store *s = st_open(db, 0);
    st_put(s, "m", p);
    /* q's parameter 2 as a safetensors file */
    ntg_tensor_info ti;
    ntg_tensor_info_init(&ti);
    cr_assert_eq(ntg_plan_param(q, 2, &ti, NULL), NTG_OK);
    char path[400];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    FILE *f = fopen(path, "wb");
    char hdr[512];
    int n = snprintf(hdr, sizeof hdr,
                     "{\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld,%lld],\"data_offsets\":[0,%zu]}}",
                     ti.name, (long long)ti.shape[0], (long long)ti.shape[1], ti.nbytes);
    uint64_t hl = (uint64_t)n;
    fwrite(&hl, 8, 1, f);
    fwrite(hdr, 1, (size_t)n, f);
    fwrite(ntg_plan_param_data(q, 2), 1, ti.nbytes, f);
    fclose(f);
    uint64_t v;
    ntg_error err;
    cr_assert_eq(ntg_store_put_safetensors(s, "m", path, NULL, &v, &err), NTG_OK, "%s",
                 err.message);
    cr_assert_eq(v, 2);
    ntg_plan *g = NULL;
    cr_assert_eq(ntg_store_get_plan(s, "m@2", &g, &err), NTG_OK, "%s", err.message);
    for (size_t i = 0; i < ntg_plan_param_count(g); i++) {
        ntg_tensor_info a;
        ntg_tensor_info_init(&a);
        ntg_plan_param(g, i, &a, NULL);
        cr_assert_eq(memcmp(ntg_plan_param_data(g, i), ntg_plan_param_data(q, i), a.nbytes), 0,
                     "param %zu", i);
    }
    ntg_plan_destroy(g);
    cr_assert_eq(ntg_store_put_safetensors(s, "nobody", path, NULL, &v, &err), NTG_ERR_NOT_FOUND);
    assert_consistent(s);
    ntg_store_close(s);
    ntg_plan_destroy(p);
    ntg_plan_destroy(q);
}
