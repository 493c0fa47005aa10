/* test_alloc_fail.c — every allocation of compile, plan load, session create, train setup and
 * store open fails in turn: each time a clean error (or a success that got by) and no leak.
 *
 * SQLite's habit: the operation runs once to count its allocations, then again for N = 1, 2,
 * 3, ... with the Nth allocation failing (tests/alloc_fail.c), until a run reaches no injected
 * failure.  At every N the call must return NTG_OK or one of the statuses the operation
 * documents for a failed allocation (NTG_ERR_NOMEM; NTG_ERR_IO where a file is read, which
 * names the errno), with a non-empty message, and after everything it created is destroyed
 * the number of live allocations and mappings must equal the number before it.
 *
 * What is covered: malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign, strdup,
 * strndup and mmap called from our code: this executable, which links libntgraph statically;
 * the caller's return address decides.  What is not: allocations made inside libc on our
 * behalf (fopen, opendir, realpath, open_memstream), inside libyaml, XNNPACK and pthreadpool,
 * RocksDB (C++ operator new through libstdc++, and libc calls it makes) and libsodium: a
 * failure injected there would test those libraries, not us (RocksDB's C API, for one,
 * does not check its strdup of column family names; store.c now does).  Their allocations
 * still count for the leak check.  Thread stacks (pthread_create) are not injected.
 *
 * Under AddressSanitizer the interposer is compiled out and these tests skip.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc_fail.h"
#include "backend.h"
#include "ntgraph.h"
#include "testutil.h"

typedef ntg_status (*op_fn)(void *ctx, ntg_error *err);

static void need_interposer(void)
{
    if (getenv("NTG_SANITIZE") || !af_available())
        cr_skip_test("the sanitizers own malloc in this build");
    af_mark_thread();
}

/* Walks N over `op` (which destroys what it creates); `ok` lists the statuses allowed for a
 * failed allocation.  Returns the number of injection points (allocations from our code). */
static long walk_to(const char *what, op_fn op, void *ctx, const ntg_status *ok, size_t n_ok,
                    long max_n)
{
    ntg_error err;
    /* once without failures: lazy one-time set-up (XNNPACK's, libc's) happens here */
    af_inject(0);
    ntg_status st = op(ctx, &err);
    long points = af_inject_stop();
    cr_assert_eq(st, NTG_OK, "%s without injected failures: %s", what, err.message);
    cr_assert_gt(points, 0, "%s allocates nothing from our code?", what);
    long n = 1;
    for (; max_n <= 0 || n <= max_n; n++) {
        long before = 0, after = 0;
        int hit = 0;
        /* A leak must repeat: the same N is tried again (up to 3 times in all) before a
         * difference counts.  Our own code is deterministic, so a real leak shows every time;
         * what does not repeat is a one-time cache that libc or RocksDB fills on a later call
         * when the injected failure hit its first fill, or an allocation of a RocksDB
         * background thread that the scheduler ordered differently (they count for N too). */
        for (int attempt = 0; attempt < 3; attempt++) {
            before = af_live();
            memset(&err, 0, sizeof err);
            if (getenv("NTG_ALLOC_FAIL_TRACE")) fprintf(stderr, "%s: N=%ld\n", what, n);
            af_inject(n);
            st = op(ctx, &err);
            af_inject_stop();
            hit = af_injected();
            after = af_live();
            if (after == before) break;
            cr_log_info("%s, allocation %ld failing: %ld live allocations more (try %d)\n", what, n,
                        after - before, attempt + 1);
        }
        cr_assert_eq(after, before,
                     "%s, allocation %ld failing: %ld allocations leaked (status %d: %s)", what, n,
                     after - before, (int)st, err.message);
        if (!hit) {
            cr_assert_eq(st, NTG_OK, "%s, N=%ld (past the last allocation): %s", what, n,
                         err.message);
            break;
        }
        if (st == NTG_OK) continue; /* the failure was absorbed (a fallback, a retry) */
        int allowed = 0;
        for (size_t i = 0; i < n_ok; i++) allowed |= st == ok[i];
        cr_assert(allowed, "%s, allocation %ld failing: status %d (%s): %s", what, n, (int)st,
                  ntg_strerror(st), err.message);
        cr_assert_eq(err.status, st, "%s, allocation %ld: err.status %d, returned %d", what, n,
                     (int)err.status, (int)st);
        cr_assert(err.message[0], "%s, allocation %ld failing: no message", what, n);
    }
    cr_log_info("%s: %ld injection points (%ld walked)\n", what, points, n - 1);
    printf("alloc_fail: %s: %ld injection points, %ld walked\n", what, points, n - 1);
    return points;
}

static long walk(const char *what, op_fn op, void *ctx, const ntg_status *ok, size_t n_ok)
{
    return walk_to(what, op, ctx, ok, n_ok, 0);
}

static const ntg_status nomem[] = {NTG_ERR_NOMEM};
static const ntg_status nomem_io[] = {NTG_ERR_NOMEM, NTG_ERR_IO};

static const ntg_define small[] = {{"h", "8"}, {"input_size", "24"}, {"hidden", "16"}};

static void small_options(ntg_compile_options *o)
{
    ntg_compile_options_init(o);
    o->defines = small;
    o->n_defines = sizeof small / sizeof small[0];
    o->max_batch = 4;
}

/* ---- compile ---- */

static ntg_status op_compile_file(void *ctx, ntg_error *err)
{
    ntg_compile_options o;
    small_options(&o);
    ntg_plan *p = NULL;
    ntg_status st = ntg_compile_file(ctx, &o, &p, err);
    ntg_plan_destroy(p);
    return st;
}

typedef struct text {
    char *data;
    size_t size;
    const char *name; /* where `extends:` is resolved from */
} text;

static ntg_status op_compile_string(void *ctx, ntg_error *err)
{
    const text *t = ctx;
    ntg_compile_options o;
    small_options(&o);
    ntg_plan *p = NULL;
    ntg_status st = ntg_compile_string(t->data, t->size, t->name, &o, &p, err);
    ntg_plan_destroy(p);
    return st;
}

Test(alloc_fail, compile)
{
    need_interposer();
    char path[4096];
    snprintf(path, sizeof path, "%s", tu_src("graphs/nhits_brief.yaml"));
    walk("compile_file nhits_brief", op_compile_file, path, nomem_io, 2);
    text t;
    t.data = tu_read_file(path, &t.size);
    t.name = path;
    cr_assert(t.data);
    walk("compile_string nhits_brief", op_compile_string, &t, nomem_io, 2);
    free(t.data);
}

/* ---- plan load ---- */

static ntg_plan *small_plan(int trainable)
{
    ntg_compile_options o;
    small_options(&o);
    (void)trainable;
    ntg_plan *p = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(tu_src("graphs/nhits_brief.yaml"), &o, &p, &err), NTG_OK, "%s",
                 err.message);
    return p;
}

static ntg_status op_load_memory(void *ctx, ntg_error *err)
{
    const text *t = ctx;
    ntg_plan *p = NULL;
    ntg_status st = ntg_plan_load_memory(t->data, t->size, 0, &p, err);
    ntg_plan_destroy(p);
    return st;
}

static ntg_status op_load_file(void *ctx, ntg_error *err)
{
    ntg_plan *p = NULL;
    ntg_status st = ntg_plan_load_file(ctx, &p, err);
    ntg_plan_destroy(p);
    return st;
}

static ntg_status op_load_file_copy(void *ctx, ntg_error *err)
{
    ntg_plan *p = NULL;
    ntg_status st = ntg_plan_load_file_ex(ctx, NTG_LOAD_COPY, &p, err);
    ntg_plan_destroy(p);
    return st;
}

Test(alloc_fail, plan_load)
{
    need_interposer();
    ntg_plan *p = small_plan(0);
    text t = {NULL, 0, NULL};
    ntg_error err;
    void *bytes = NULL;
    cr_assert_eq(ntg_plan_serialize(p, &bytes, &t.size, &err), NTG_OK, "%s", err.message);
    t.data = bytes;
    walk("plan_load_memory", op_load_memory, &t, nomem, 1);
    char path[] = "/tmp/ntg_alloc_fail_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(ntg_plan_save(p, path, &err), NTG_OK, "%s", err.message);
    walk("plan_load_file (mapped)", op_load_file, path, nomem_io, 2);
    walk("plan_load_file_ex COPY", op_load_file_copy, path, nomem_io, 2);
    unlink(path);
    ntg_free(bytes);
    ntg_plan_destroy(p);
}

/* ---- session create ---- */

typedef struct sess_ctx {
    const ntg_plan *plan;
    const char *backend;
    unsigned flags;
} sess_ctx;

static ntg_status op_session(void *ctx, ntg_error *err)
{
    const sess_ctx *c = ctx;
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = c->backend;
    so.threads = 1;
    so.flags = c->flags;
    ntg_session *s = NULL;
    ntg_status st = ntg_session_create(c->plan, &so, &s, err);
    ntg_session_destroy(s);
    return st;
}

static void sessions(const char *backend)
{
    need_interposer();
    const ntg_backend_class *cls = ntg__backend_find(backend);
    char info[256] = "";
    if (!cls) cr_skip_test("this build has no %s backend", backend);
    if (cls->available && !cls->available(info, sizeof info))
        cr_skip_test("the %s backend is not available here: %s", backend, info);
    ntg_plan *p = small_plan(0);
    char what[64];
    sess_ctx c = {p, backend, 0};
    snprintf(what, sizeof what, "session_create %s", backend);
    walk(what, op_session, &c, nomem, 1);
    c.flags = NTG_SESSION_TRAINABLE;
    snprintf(what, sizeof what, "session_create %s trainable", backend);
    walk(what, op_session, &c, nomem, 1);
    ntg_plan_destroy(p);
}

Test(alloc_fail, session_cpu)
{
    sessions("cpu");
}

Test(alloc_fail, session_xnnpack)
{
    sessions("xnnpack");
}

/* ---- train setup: one step on a tiny series ---- */

typedef struct train_ctx {
    const ntg_plan *plan;
    const ntg_series *series;
} train_ctx;

static ntg_status op_train(void *ctx, ntg_error *err)
{
    const train_ctx *c = ctx;
    ntg_train_options o;
    ntg_train_options_init(&o);
    static const ntg_define set[] = {
        {"steps", "1"}, {"batch", "4"}, {"val_every", "1"}, {"seed", "7"}};
    o.split = "60,20,20";
    o.settings = set;
    o.n_settings = sizeof set / sizeof set[0];
    o.backend = "cpu";
    o.threads = 1;
    ntg_plan *out = NULL;
    ntg_status st = ntg_train(c->plan, c->series, &o, &out, NULL, err);
    ntg_plan_destroy(out);
    return st;
}

Test(alloc_fail, train)
{
    need_interposer();
    ntg_plan *p = small_plan(1);
    enum { ROWS = 100 };
    static double v[ROWS];
    for (int i = 0; i < ROWS; i++) v[i] = (i % 12) * 0.5 + (i % 5) * 0.1;
    const double *cols[1] = {v};
    const char *names[1] = {"y"};
    ntg_series *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg_series_create(ROWS, 1, names, cols, NULL, 0, &s, &err), NTG_OK, "%s",
                 err.message);
    train_ctx c = {p, s};
    walk("train 1 step", op_train, &c, nomem, 1);
    ntg_series_destroy(s);
    ntg_plan_destroy(p);
}

/* ---- store open ---- */

static ntg_status op_store_open(void *ctx, ntg_error *err)
{
    ntg_store *st = NULL;
    ntg_status rc = ntg_store_open(ctx, NULL, &st, err);
    ntg_store_close(st);
    return rc;
}

Test(alloc_fail, store_open)
{
    need_interposer();
    char dir[] = "/tmp/ntg_alloc_fail_store_XXXXXX";
    cr_assert(mkdtemp(dir));
    char path[4096];
    snprintf(path, sizeof path, "%s/store", dir);
    ntg_store *st = NULL;
    ntg_error err;
    ntg_status rc = ntg_store_open(path, NULL, &st, &err);
    if (rc == NTG_ERR_UNSUPPORTED) {
        rmdir(dir);
        cr_skip_test("this build has no model store (RocksDB)");
    }
    cr_assert_eq(rc, NTG_OK, "%s", err.message);
    ntg_store_close(st);
    walk("store_open (existing store)", op_store_open, path, nomem_io, 2);
    /* RocksDB's own failures, as the store takes them: libc's allocations fail too (RocksDB
     * opens files, copies names with strdup through libc).  Its open makes thousands; the
     * first 200 cover reading CURRENT, the MANIFEST and the column family list, where a
     * failure used to read as a corrupted store or crash in check_families. */
    af_inject_libc(true);
    walk_to("store_open (existing store, libc included)", op_store_open, path, nomem_io, 2, 200);
    af_inject_libc(false);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}
