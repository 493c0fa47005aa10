/* test_store_b3.c — the store's BLAKE3 against the reference implementation at every ISA cap,
 * and the two store formats: format 2 (BLAKE3) stores, format 1 (BLAKE2b) stores still read and
 * written, objects of several chunks in both. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_int.h"
#include "store_testutil.h"

/* BLAKE3-256 of bytes i % 251, from the reference implementation (the `blake3` Python package,
 * 1.0): the lengths cross every chunk, group (256 KiB) and store chunk (8 MiB) boundary kind. */
static const struct {
    size_t n;
    const char *hex;
} vectors[] = {
    {0, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"},
    {1, "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213"},
    {63, "e9bc37a594daad83be9470df7f7b3798297c3d834ce80ba85d6e207627b7db7b"},
    {64, "4eed7141ea4a5cd4b788606bd23f46e212af9cacebacdc7d1f4c6dc7f2511b98"},
    {65, "de1e5fa0be70df6d2be8fffd0e99ceaa8eb6e8c93a63f2d8d1c30ecb6b263dee"},
    {1023, "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11"},
    {1024, "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7"},
    {1025, "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444"},
    {2048, "e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a"},
    {2049, "5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b6879522563030"},
    {3072, "b98cb0ff3623be03326b373de6b9095218513e64f1ee2edd2525c7ad1e5cffd2"},
    {3073, "7124b49501012f81cc7f11ca069ec9226cecb8a2c850cfe644e327d22d3e1cd3"},
    {4096, "015094013f57a5277b59d8475c0501042c0b642e531b0a1c8f58d2163229e969"},
    {4097, "9b4052b38f1c5fc8b1f9ff7ac7b27cd242487b3d890d15c96a1c25b8aa0fb995"},
    {5120, "9cadc15fed8b5d854562b26a9536d9707cadeda9b143978f319ab34230535833"},
    {5121, "628bd2cb2004694adaab7bbd778a25df25c47b9d4155a55f8fbd79f2fe154cff"},
    {8193, "bab6c09cb8ce8cf459261398d2e7aef35700bf488116ceb94a36d0f5f1b7bc3b"},
    {16384, "f875d6646de28985646f34ee13be9a576fd515f76b5b0a26bb324735041ddde4"},
    {31744, "62b6960e1a44bcc1eb1a611a8d6235b6b4b78f32e7abc4fb4c6cdcce94895c47"},
    {102400, "bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085"},
    {262143, "4fbb10c248894f1b56ec8298555b96e597147150a061b1cf1af19f16dbc0557b"},
    {262144, "d57dc906e20d3fd326ffaa85535500486f46a0979f5a323f028dcabfd381fd4a"},
    {262145, "531c319935cf78f34869faebd865e5748266b1799039103bfb851a680d9ed30c"},
    {786437, "cc57404fb7a2d2fcc82a3581495424a1a675ef96f6daffe338bf899d96c69a03"},
    {1000000, "5e82c663d164c54e4fcdfcd70e3ca464662228bdbad45cce2e0c2bff999064ef"},
    {8388608, "1adedad9735f565ac6e22dab203db63b960c27098f2c0f0fda9adf9238d4c0c9"},
    {8388609, "249ef5d5043bde86396029c96497c8ac6c0e7f2f5ef97b7f9afabdf23167b7fb"},
    {20000000, "7b64655021b6e77e4ca87cf26aade7feef862c87aa9c0277699fd77977b40dc0"},
};

static void check_vectors(const char *isa)
{
    if (isa)
        setenv("NTG_CPU_ISA", isa, 1);
    else
        unsetenv("NTG_CPU_ISA");
    size_t max = 20000000;
    uint8_t *d = malloc(max);
    cr_assert(d);
    for (size_t i = 0; i < max; i++) d[i] = (uint8_t)(i % 251);
    for (size_t k = 0; k < sizeof vectors / sizeof vectors[0]; k++) {
        uint8_t h[32];
        char hex[65];
        ntg__blake3(d, vectors[k].n, h);
        ntg__hex(h, 32, hex);
        cr_expect_str_eq(hex, vectors[k].hex, "%s, %zu bytes", isa ? isa : "no cap", vectors[k].n);
    }
    free(d);
    unsetenv("NTG_CPU_ISA");
}

/* The caps only lower: on a CPU without AVX-512 (or AVX2) these run the narrower code. */
Test(blake3, matches_the_reference_portable)
{
    check_vectors("portable");
}

Test(blake3, matches_the_reference_avx2)
{
    check_vectors("avx2");
}

Test(blake3, matches_the_reference_widest)
{
    check_vectors(NULL);
}

/* ------------------------------------------------------------------ formats */

static char dir[256], db[300];

static void setup(void)
{
    st_mkdtemp(dir, sizeof dir, "store-b3");
    snprintf(db, sizeof db, "%s/models.db", dir);
}

static void teardown(void)
{
    st_rmdir(dir);
}

TestSuite(formats, .init = setup, .fini = teardown);

/* Give a new, empty store format marker `version` (1: as ntgraph before format 2 made it). */
static void set_format(const char *path, uint32_t version)
{
    ntg_store *s = st_open(path, 0);
    ntg_store_close(s);
    rocksdb_options_t *o = rocksdb_options_create();
    const rocksdb_options_t *cfo[NTG__STORE_NCF];
    for (int i = 0; i < NTG__STORE_NCF; i++) cfo[i] = o;
    rocksdb_column_family_handle_t *cf[NTG__STORE_NCF];
    char *e = NULL;
    rocksdb_t *d =
        rocksdb_open_column_families(o, path, NTG__STORE_NCF, ntg__store_cf_names, cfo, cf, &e);
    cr_assert_null(e, "%s", e);
    char val[sizeof NTG__FORMAT_MAGIC + 4];
    memcpy(val, NTG__FORMAT_MAGIC, sizeof NTG__FORMAT_MAGIC);
    memcpy(val + sizeof NTG__FORMAT_MAGIC, &version, 4);
    rocksdb_writeoptions_t *w = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(w, 1);
    rocksdb_put_cf(d, w, cf[NTG__CF_DEFAULT], "format", 6, val, sizeof val, &e);
    cr_assert_null(e, "%s", e);
    rocksdb_writeoptions_destroy(w);
    for (int i = 0; i < NTG__STORE_NCF; i++) rocksdb_column_family_handle_destroy(cf[i]);
    rocksdb_close(d);
    rocksdb_options_destroy(o);
}

/* Entries of a directory but . and .. (-1: no such directory). */
static int count_files(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* A checkpoint of two chunks (8 MiB + 1000 bytes) and a small one, read back, verified; the
 * small blob's hash in the record is `want` of its bytes. */
static void roundtrip(unsigned format)
{
    if (format < NTG__FORMAT_VERSION) set_format(db, format);
    ntg_store *s = st_open(db, 0);
    cr_assert_eq(s->format, format);
    size_t big = NTG__CHUNK_BYTES + 1000, small = 300000;
    uint8_t *a = malloc(big), *b = malloc(small);
    for (size_t i = 0; i < big; i++) a[i] = (uint8_t)(i * 7 + (i >> 13));
    for (size_t i = 0; i < small; i++) b[i] = (uint8_t)(i * 13 + 5);
    ntg_store_blob blobs[] = {{"big", a, big}, {"small", b, small}};
    ntg_store_checkpoint ck;
    ntg_store_checkpoint_init(&ck);
    ck.step = 1;
    ck.blobs = blobs;
    ck.n_blobs = 2;
    uint64_t id;
    ntg_error err;
    cr_assert_eq(ntg_store_put_checkpoint(s, "m", &ck, 0, &id, &err), NTG_OK, "%s", err.message);
    ntg_plan *p = st_compile("graphs/nhits.yaml", 1, 1);
    st_put(s, "m", p);
    ntg_store_close(s);

    s = st_open(db, NTG_STORE_OPEN_READONLY);
    cr_assert_eq(s->format, format);
    ntg_store_ckpts *c = NULL;
    cr_assert_eq(ntg_store_get_checkpoint(s, "m", id, &c, &err), NTG_OK, "%s", err.message);
    const ntg_store_checkpoint *k = ntg_store_ckpts_at(c, 0);
    cr_assert_eq(k->blobs[0].nbytes, big);
    cr_assert(memcmp(k->blobs[0].data, a, big) == 0);
    cr_assert(memcmp(k->blobs[1].data, b, small) == 0);
    ntg_store_ckpts_destroy(c);
    ntg_plan *g = NULL;
    cr_assert_eq(ntg_store_get_plan(s, "m", &g, &err), NTG_OK, "%s", err.message);
    cr_assert(st_same_bytes(p, g));
    ntg_plan_destroy(g);
    /* a tensor's hash (one chunk) is the format's hash of its bytes */
    ntg_store_list *l = NULL;
    cr_assert_eq(ntg_store_show(s, "m@1", &l, &err), NTG_OK, "%s", err.message);
    const ntg_store_version *ver = ntg_store_list_at(l, 0);
    cr_assert_gt(ver->n_tensors, 0);
    const ntg_store_tensor *t = &ver->tensors[0];
    ntg_tensor_info ti;
    ntg_tensor_info_init(&ti);
    size_t pi = 0;
    for (; pi < ntg_plan_param_count(p); pi++) {
        cr_assert_eq(ntg_plan_param(p, pi, &ti, &err), NTG_OK, "%s", err.message);
        if (strcmp(ti.name, t->name) == 0) break;
    }
    cr_assert_lt(pi, ntg_plan_param_count(p), "tensor %s", t->name);
    const void *data = ntg_plan_param_data(p, pi);
    uint8_t h[32];
    char hex[65];
    if (format == 1)
        crypto_generichash(h, 32, data, ti.nbytes, NULL, 0);
    else
        ntg__blake3(data, ti.nbytes, h);
    ntg__hex(h, 32, hex);
    cr_assert_str_eq(t->hash, hex, "format %u", format);
    ntg_store_list_destroy(l);
    ntg_store_verify_report r;
    ntg_store_verify_report_init(&r);
    cr_assert_eq(ntg_store_verify(s, &r, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(r.bad, 0);
    ntg_store_close(s);
    ntg_plan_destroy(p);
    free(a);
    free(b);
}

Test(formats, a_new_store_is_format_3_blake3_with_chunk_files)
{
    roundtrip(3);
    /* the 8 MiB chunk, the 300,000-byte blob and N-HiTS's large tensors went to their own
     * files; the 1000-byte chunk and the small tensors to RocksDB */
    char path[4096];
    snprintf(path, sizeof path, "%s/" NTG__FILES_DIR, db);
    cr_assert_geq(count_files(path), 2);
}

Test(formats, a_format_2_store_is_still_read_and_written_without_chunk_files)
{
    /* the store is written through the format-2 path (chunks as RocksDB blob values), as
     * ntgraph before format 3 wrote it */
    roundtrip(2);
    char path[4096];
    snprintf(path, sizeof path, "%s/" NTG__FILES_DIR, db);
    cr_assert_eq(count_files(path), -1, "a format-2 store has no chunk directory");
}

Test(formats, a_format_1_store_is_still_read_and_written_with_blake2b)
{
    roundtrip(1);
}

Test(formats, a_newer_format_is_refused_naming_both)
{
    set_format(db, 4);
    ntg_store *s = NULL;
    ntg_error err;
    ntg_store_options o;
    ntg_store_options_init(&o);
    o.flags = NTG_STORE_OPEN_READONLY;
    ntg_status st = ntg_store_open(db, &o, &s, &err);
    cr_assert_eq(st, NTG_ERR_VERSION, "%d %s", st, err.message);
    cr_assert(strstr(err.message, "store format 4; this ntgraph reads formats 1..3"), "%s",
              err.message);
    cr_assert_null(s);
}

/* Stores written before the 96-dimensional similarity embedding hold 32-dimensional rows:
 * `similar` reads their filters and recomputes their vectors from the plans, ranking as a
 * fresh store does. */
Test(formats, similar_recomputes_an_older_embedding_layout)
{
    ntg_plan *n1 = st_compile("graphs/nhits.yaml", 1, 1);
    ntg_plan *n2 = st_variant(n1, 0, 5);
    ntg_plan *lstm = st_compile("graphs/lstm_attention.yaml", 1, 1);
    ntg_store *s = st_open(db, 0);
    st_put(s, "a", n1);
    st_put(s, "b", n2);
    st_put(s, "lstm", lstm);
    ntg_store_list *l = NULL;
    ntg_error err;
    cr_assert_eq(ntg_store_similar(s, "a", NULL, 5, &l, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_store_list_count(l), 2);
    double want[2];
    const char *names[2] = {ntg_store_list_at(l, 0)->name, ntg_store_list_at(l, 1)->name};
    char keep[2][16];
    for (int i = 0; i < 2; i++) {
        want[i] = ntg_store_list_at(l, i)->score;
        snprintf(keep[i], sizeof keep[i], "%s", names[i]);
    }
    ntg_store_list_destroy(l);
    ntg_store_close(s);

    /* rewrite every embedding row as the old layout: 32 zero floats, then the same filters */
    rocksdb_options_t *o = rocksdb_options_create();
    const rocksdb_options_t *cfo[NTG__STORE_NCF];
    for (int i = 0; i < NTG__STORE_NCF; i++) cfo[i] = o;
    rocksdb_column_family_handle_t *cf[NTG__STORE_NCF];
    char *e = NULL;
    rocksdb_t *d =
        rocksdb_open_column_families(o, db, NTG__STORE_NCF, ntg__store_cf_names, cfo, cf, &e);
    cr_assert_null(e, "%s", e);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_writeoptions_t *w = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(w, 1);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(d, ro, cf[NTG__CF_EMBED]);
    int rows = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        cr_assert_gt(vl, 1 + 4 * NTG__EMBED_DIM);
        cr_assert_eq((unsigned char)v[0], NTG__EMBED_DIM);
        size_t tail = vl - 1 - 4 * NTG__EMBED_DIM, nl = 1 + 4 * 32 + tail;
        char *nv = calloc(1, nl);
        cr_assert(nv);
        nv[0] = 32;
        memcpy(nv + 1 + 4 * 32, v + 1 + 4 * NTG__EMBED_DIM, tail);
        rocksdb_put_cf(d, w, cf[NTG__CF_EMBED], k, kl, nv, nl, &e);
        cr_assert_null(e, "%s", e);
        free(nv);
        rows++;
    }
    cr_assert_eq(rows, 3);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    rocksdb_writeoptions_destroy(w);
    for (int i = 0; i < NTG__STORE_NCF; i++) rocksdb_column_family_handle_destroy(cf[i]);
    rocksdb_close(d);
    rocksdb_options_destroy(o);

    s = st_open(db, 0);
    cr_assert_eq(ntg_store_similar(s, "a", NULL, 5, &l, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_store_list_count(l), 2);
    for (int i = 0; i < 2; i++) {
        cr_assert_str_eq(ntg_store_list_at(l, i)->name, keep[i]);
        cr_assert_float_eq(ntg_store_list_at(l, i)->score, want[i], 1e-9);
    }
    ntg_store_list_destroy(l);
    ntg_store_filter f;
    ntg_store_filter_init(&f);
    f.kind = "nhits"; /* filters still read off the old rows */
    cr_assert_eq(ntg_store_similar(s, "a", &f, 5, &l, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_store_list_count(l), 1);
    cr_assert_str_eq(ntg_store_list_at(l, 0)->name, "b");
    ntg_store_list_destroy(l);
    ntg_store_close(s);
    ntg_plan_destroy(n1);
    ntg_plan_destroy(n2);
    ntg_plan_destroy(lstm);
}
