/* test_store_crash.c — SIGKILL a committing writer anywhere: nothing acknowledged is lost or
 * partial.
 *
 * NTG_STORE_CRASH_ROUNDS sets the number of kills (CI: 10; scripts/store-crash-test: 100),
 * NTG_STORE_CRASH_SEED the random schedule.  Half the rounds kill at a random moment, half at
 * a random numbered step of the store's own commit protocols (its kill points).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "store_crash.h"
#include "store_testutil.h"

static char dir[256], db[300], plan_path[300];

static void setup(void)
{
    st_mkdtemp(dir, sizeof dir, "store-crash");
    snprintf(db, sizeof db, "%s/models.db", dir);
    snprintf(plan_path, sizeof plan_path, "%s/base.plan", dir);
}

static void teardown(void)
{
    st_rmdir(dir);
}

TestSuite(store, .init = setup, .fini = teardown);

typedef struct acked {
    int model;
    uint64_t version, seq;
} acked;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Run the child until it dies (killed by us after `kill_ms`, or by its kill point), appending
 * its acknowledgements to `out` (malloc'ed text).  Returns the wait status. */
static int run_child(uint64_t first, long kill_at, double kill_ms, char **out, size_t *n)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    char seq[32], at[32];
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)first);
    snprintf(at, sizeof at, "%ld", kill_at);
    char child[4096];
    snprintf(child, sizeof child, "%s", tu_build("tests/store_crash_child"));
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(child, "store_crash_child", db, plan_path, seq, kill_at > 0 ? at : NULL,
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t cap = 1 << 16;
    *out = malloc(cap);
    *n = 0;
    double t0 = now(), limit = kill_at > 0 ? 60.0 : kill_ms / 1000.0;
    int killed = 0;
    for (;;) {
        double left = t0 + limit - now();
        if (left <= 0 && !killed) {
            kill(pid, SIGKILL);
            killed = 1;
        }
        struct pollfd pf = {fds[0], POLLIN, 0};
        int r = poll(&pf, 1, killed ? 1000 : (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;
        if (*n + 4096 > cap) *out = realloc(*out, cap *= 2);
        ssize_t k = read(fds[0], *out + *n, cap - *n - 1);
        if (k <= 0) break;
        *n += (size_t)k;
    }
    (*out)[*n] = 0;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

static void check_version(ntg_store *s, const ntg_plan *base, const acked *a)
{
    char ref[64];
    snprintf(ref, sizeof ref, "m%d@%llu", a->model, (unsigned long long)a->version);
    ntg_plan *g = NULL, *want = crash_plan(base, a->seq);
    ntg_error err;
    cr_assert_eq(ntg_store_get_plan(s, ref, &g, &err), NTG_OK, "acknowledged %s lost: %s", ref,
                 err.message);
    cr_assert(st_same_bytes(g, want), "%s (seq %llu) is not bit-exact", ref,
              (unsigned long long)a->seq);
    ntg_plan_destroy(g);
    ntg_plan_destroy(want);
}

static void check_checkpoints(ntg_store *s, int model, uint64_t newest_acked)
{
    char name[8];
    snprintf(name, sizeof name, "m%d", model);
    ntg_store_ckpts *c = NULL;
    ntg_error err;
    ntg_status st = ntg_store_checkpoints(s, name, &c, &err);
    if (st == NTG_ERR_NOT_FOUND && newest_acked == 0) return;
    cr_assert_eq(st, NTG_OK, "%s", err.message);
    uint64_t max_id = 0;
    int have_acked = newest_acked == 0;
    uint8_t *buf = malloc(CRASH_CKPT_WEIGHTS);
    for (size_t i = 0; i < ntg_store_ckpts_count(c); i++) {
        const ntg_store_checkpoint *k = ntg_store_ckpts_at(c, i);
        if (k->id > max_id) max_id = k->id;
        have_acked |= k->id == newest_acked;
        /* every checkpoint present is whole: its blobs are exactly those of its seq */
        ntg_store_ckpts *one = NULL;
        cr_assert_eq(ntg_store_get_checkpoint(s, name, k->id, &one, &err), NTG_OK, "%s",
                     err.message);
        const ntg_store_checkpoint *f = ntg_store_ckpts_at(one, 0);
        uint64_t seq = strtoull(f->meta[0].value, NULL, 10);
        cr_assert_eq(f->n_blobs, 3);
        crash_fill(buf, CRASH_CKPT_WEIGHTS, seq);
        cr_assert_eq(memcmp(f->blobs[0].data, buf, CRASH_CKPT_WEIGHTS), 0);
        crash_fill(buf, CRASH_CKPT_STATE, seq + 1);
        cr_assert_eq(memcmp(f->blobs[1].data, buf, CRASH_CKPT_STATE), 0);
        crash_fill(buf, CRASH_CKPT_WEIGHTS, seq - 3);
        cr_assert_eq(memcmp(f->blobs[2].data, buf, CRASH_CKPT_WEIGHTS), 0);
        ntg_store_ckpts_destroy(one);
    }
    free(buf);
    /* keep = 2: the newest acknowledged one is there unless two newer ones pruned it */
    cr_assert(have_acked || max_id >= newest_acked + 2,
              "%s: acknowledged checkpoint %llu is gone (newest %llu)", name,
              (unsigned long long)newest_acked, (unsigned long long)max_id);
    ntg_store_ckpts_destroy(c);
}

Test(store, sigkill_anywhere_loses_nothing_acknowledged, .timeout = 3000)
{
    const char *e = getenv("NTG_STORE_CRASH_ROUNDS");
    int rounds = e ? atoi(e) : 10;
    e = getenv("NTG_STORE_CRASH_SEED");
    tu_rng rng = {e ? strtoull(e, NULL, 10) : (uint64_t)time(NULL)};
    cr_log_info("crash test: %d rounds, seed %llu", rounds, (unsigned long long)rng.s);
    ntg_plan *compiled = st_compile("graphs/nhits.yaml", 1, 3);
    ntg_error err;
    cr_assert_eq(ntg_plan_save(compiled, plan_path, &err), NTG_OK, "%s", err.message);
    ntg_plan_destroy(compiled);
    ntg_plan *base = NULL;
    cr_assert_eq(ntg_plan_load_file(plan_path, &base, &err), NTG_OK, "%s", err.message);

    acked *all = NULL;
    size_t n_all = 0, cap_all = 0;
    uint64_t next_seq = 1, newest_ckpt[2] = {0, 0}, last_version[2] = {0, 0};
    int mid_commit = 0;
    for (int r = 0; r < rounds; r++) {
        long kill_at = r % 2 ? 1 + (long)(tu_next(&rng) % 60) : 0;
        double kill_ms = 20 + (double)(tu_next(&rng) % 700);
        char *text;
        size_t n;
        int status = run_child(next_seq, kill_at, kill_ms, &text, &n);
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "round %d: the child was not killed (status %d): a store error?", r, status);
        size_t before = n_all;
        uint64_t max_seq = next_seq - 1;
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
            char kind, model[8];
            unsigned long long a = 0, b = 0;
            if (sscanf(line, "%c %7s %llu %llu", &kind, model, &a, &b) == 4 && kind == 'V') {
                if (n_all == cap_all)
                    all = realloc(all, (cap_all = cap_all ? 2 * cap_all : 64) * sizeof *all);
                int m = model[1] - '0';
                cr_assert_gt(a, last_version[m], "version numbers must grow");
                last_version[m] = a;
                all[n_all++] = (acked){m, a, b};
                if (b > max_seq) max_seq = b;
            } else if (kind == 'C') {
                newest_ckpt[model[1] - '0'] = a;
            }
        }
        free(text);
        next_seq = max_seq + 2; /* the commit in flight may be durable with seq max + 1 */
        mid_commit += n_all == before;

        ntg_store *s = st_open(db, 0);
        ntg__store_check_report cr;
        cr_assert_eq(ntg__store_check(s, &cr, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(cr.problems, 0, "round %d: %s", r, cr.first);
        cr_assert_eq(cr.missing, 0);
        /* this round's acknowledgements, and a sample of the older ones */
        for (size_t i = before; i < n_all; i++) check_version(s, base, &all[i]);
        for (int k = 0; k < 8 && before > 0; k++)
            check_version(s, base, &all[tu_next(&rng) % before]);
        for (int m = 0; m < 2; m++) check_checkpoints(s, m, newest_ckpt[m]);
        ntg_store_verify_report vr;
        ntg_store_verify_report_init(&vr);
        cr_assert_eq(ntg_store_verify(s, &vr, &err), NTG_OK, "round %d: %s", r, err.message);
        ntg_store_gc_report g;
        ntg_store_gc_report_init(&g);
        cr_assert_eq(ntg_store_gc(s, &g, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg__store_check(s, &cr, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(cr.orphans, 0, "round %d: gc left %llu orphans", r,
                     (unsigned long long)cr.orphans);
        cr_assert_eq(cr.problems, 0, "round %d: %s", r, cr.first);
        ntg_store_close(s);
    }
    /* at the end, every acknowledged version */
    ntg_store *s = st_open(db, NTG_STORE_OPEN_READONLY);
    for (size_t i = 0; i < n_all; i++) check_version(s, base, &all[i]);
    ntg_store_close(s);
    cr_log_info("crash test: %d kills, %zu acknowledged versions all bit-exact; %d kills landed "
                "before the round's first acknowledgement",
                rounds, n_all, mid_commit);
    free(all);
    ntg_plan_destroy(base);
}
