/* test_store_full.c — a full disk: a clear error, nothing acknowledged lost, gc still works. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "store_testutil.h"

static char dir[256], db[300];
static int mounted;

/* A small file system of its own (tmpfs: we are root in CI and on the dev machine), so the
 * store can fill it without touching anyone else's disk. */
static void setup(void)
{
    st_mkdtemp(dir, sizeof dir, "store-full");
    snprintf(db, sizeof db, "%s/models.db", dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=12m tmpfs '%s' 2>/dev/null", dir);
    mounted = system(cmd) == 0;
}

static void teardown(void)
{
    char cmd[600];
    if (mounted) {
        snprintf(cmd, sizeof cmd, "umount '%s'", dir);
        cr_assert_eq(system(cmd), 0);
    }
    st_rmdir(dir);
}

TestSuite(store, .init = setup, .fini = teardown);

static void check_full_error(ntg_status st, const ntg_error *err)
{
    cr_assert_eq(st, NTG_ERR_IO, "%d: %s", st, err->message);
    cr_assert_eq(err->os_errno, ENOSPC, "%s", err->message);
    cr_assert(strstr(err->message, db), "%s", err->message);
    cr_assert(strstr(err->message, "the disk is full"), "%s", err->message);
    cr_assert(strstr(err->message, "nothing acknowledged was lost"), "%s", err->message);
}

Test(store, a_full_disk_is_a_clear_error_and_gc_still_works, .timeout = 300)
{
    if (!mounted) cr_skip_test("cannot mount a tmpfs here (needs root)");
    enum { MAXV = 200 };
    ntg_plan *plans[MAXV] = {0};
    uint64_t acked = 0;
    ntg_error err;
    ntg_status st = NTG_OK;
    /* versions of all-new weights (~290 KB each) until the disk is full */
    ntg_store *s = st_open(db, 0);
    for (int i = 0; i < MAXV; i++) {
        plans[i] = st_compile("graphs/nhits.yaml", 1, (uint64_t)i + 1);
        uint64_t v = 0;
        st = ntg_store_put(s, "m", plans[i], NULL, &v, &err);
        if (st) break;
        cr_assert_eq(v, (uint64_t)i + 1);
        acked = v;
    }
    cr_log_info("disk full after %llu versions: %s", (unsigned long long)acked, err.message);
    cr_assert_gt(acked, 3);
    check_full_error(st, &err);
    ntg_store_close(s);

    /* gc opens the full store and runs */
    s = NULL;
    ntg_store_options o;
    ntg_store_options_init(&o);
    st = ntg_store_open(db, &o, &s, &err);
    cr_assert_eq(st, NTG_OK, "a full store must open for gc: %s", err.message);
    ntg_store_gc_report g;
    ntg_store_gc_report_init(&g);
    st = ntg_store_gc(s, &g, &err);
    cr_assert_eq(st, NTG_OK, "gc on a full disk: %s", err.message);
    cr_log_info("gc removed %llu chunks", (unsigned long long)g.chunks_removed);
    /* checkpoints of 3 MiB (written around the WAL, then flushed) until it is full again */
    enum { BYTES = 3 << 20 };
    uint8_t *w = malloc(BYTES);
    tu_rng r = {3};
    uint64_t ck_acked = 0;
    for (int i = 0; i < 20; i++) {
        tu_fill(&r, (float *)(void *)w, BYTES / 4, -1, 1);
        ntg_store_blob blobs[] = {{"weights", w, BYTES}};
        ntg_store_checkpoint ck = {
            sizeof(ntg_store_checkpoint), 0, 0, i + 1, 0.5, NAN, NULL, 0, NULL, 0, blobs, 1};
        uint64_t id = 0;
        st = ntg_store_put_checkpoint(s, "m", &ck, 0, &id, &err);
        if (st) break;
        ck_acked = id;
    }
    cr_log_info("checkpoints: full after %llu: %s", (unsigned long long)ck_acked, err.message);
    check_full_error(st, &err);
    ntg_store_close(s);
    free(w);

    /* every acknowledged version is there, bit-exact */
    s = st_open(db, NTG_STORE_OPEN_READONLY);
    for (uint64_t v = 1; v <= acked; v++) {
        char ref[32];
        snprintf(ref, sizeof ref, "m@%llu", (unsigned long long)v);
        ntg_plan *got = NULL;
        cr_assert_eq(ntg_store_get_plan(s, ref, &got, &err), NTG_OK, "%s: %s", ref, err.message);
        cr_assert(st_same_bytes(got, plans[v - 1]), "%s is not bit-exact", ref);
        ntg_plan_destroy(got);
    }
    ntg__store_check_report cr;
    cr_assert_eq(ntg__store_check(s, &cr, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(cr.problems, 0, "%s", cr.first);
    ntg_store_close(s);
    /* gc again on the full disk, then the store takes commits once space is back */
    s = st_open(db, 0);
    cr_assert_eq(ntg_store_gc(s, &g, &err), NTG_OK, "%s", err.message);
    ntg_store_close(s);
    for (int i = 0; i < MAXV; i++) ntg_plan_destroy(plans[i]);
}

/* `ntgraph train --store` on a full disk: its checkpoint fails with the disk-full message, and
 * the store, still whole, runs gc. */
Test(store, train_checkpoints_on_a_full_disk, .timeout = 300)
{
    if (!mounted) cr_skip_test("cannot mount a tmpfs here (needs root)");
    char cmd[8192], out[400], bin[1024], graph[1024], data[1024];
    snprintf(out, sizeof out, "%s/../store-full-out.txt", dir);
    /* tu_src and tu_build return one static buffer each: copy before the next call */
    snprintf(bin, sizeof bin, "%s", tu_build("cli/ntgraph"));
    snprintf(graph, sizeof graph, "%s", tu_src("graphs/nhits.yaml"));
    snprintf(data, sizeof data, "%s", tu_src("data/ETTh1.csv"));
    /* leave about 1 MiB: less than a checkpoint of this model needs */
    snprintf(
        cmd, sizeof cmd,
        "cd '%s' && dd if=/dev/zero of=fill bs=64k count=$(( ($(stat -f -c %%a .) * $(stat -f -c "
        "%%S .) - 1048576) / 65536 )) 2>/dev/null; "
        "'%s' train '%s' -D h=8 -D input_size=24 -D hidden=256 --data '%s' --columns OT "
        "--split 400,100,100 --steps 8 --batch 8 --checkpoint-every 4 --store models.db "
        "--name run --backend cpu >'%s' 2>&1; echo \"rc=$?\" >>'%s'; "
        "'%s' store gc --db models.db >>'%s' 2>&1; echo \"gc=$?\" >>'%s'",
        dir, bin, graph, data, out, out, bin, out, out);
    cr_assert_neq(system(cmd), -1);
    char *text = tu_read_file(out, NULL);
    cr_assert(text);
    cr_log_info("%s", text);
    cr_assert(strstr(text, "the disk is full"), "%s", text);
    cr_assert(strstr(text, "nothing acknowledged was lost"), "%s", text);
    cr_assert(strstr(text, "rc=1"), "a full disk is a machine failure, exit 1: %s", text);
    cr_assert_null(strstr(text, "Abort"), "%s", text);
    cr_assert(strstr(text, "gc=0"), "gc on the full disk: %s", text);
    free(text);
    unlink(out);
}
