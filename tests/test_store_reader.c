/* test_store_reader.c — a reader process sees consistent states while another process commits. */
#include <criterion/criterion.h>
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
static pid_t writer; /* killed in teardown too, should an assertion end the test early */

static void setup(void)
{
    st_mkdtemp(dir, sizeof dir, "store-reader");
    snprintf(db, sizeof db, "%s/models.db", dir);
    snprintf(plan_path, sizeof plan_path, "%s/base.plan", dir);
}

static void teardown(void)
{
    if (writer > 0) {
        kill(writer, SIGKILL);
        waitpid(writer, NULL, 0);
    }
    st_rmdir(dir);
}

TestSuite(store, .init = setup, .fini = teardown);

static void sleep_us(long us)
{
    struct timespec t = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&t, NULL);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* One consistent listing: per model, versions 1..n with n the model's count, latest on n,
 * each version tagged with the seq that made it, whose plan it holds bit for bit. */
static uint64_t check_listing(ntg_store *s, const ntg_plan *base)
{
    ntg_store_filter f;
    ntg_store_filter_init(&f);
    f.all_versions = 1;
    ntg_store_list *l = NULL;
    ntg_error err;
    cr_assert_eq(ntg_store_list_versions(s, &f, &l, &err), NTG_OK, "%s", err.message);
    uint64_t total = 0, expect = 1;
    const char *model = "";
    for (size_t i = 0; i < ntg_store_list_count(l); i++) {
        const ntg_store_version *v = ntg_store_list_at(l, i);
        if (strcmp(v->name, model) != 0) {
            model = v->name;
            expect = 1;
        }
        cr_assert_eq(v->version, expect, "%s: version %llu where %llu was expected", v->name,
                     (unsigned long long)v->version, (unsigned long long)expect);
        expect++;
        int latest = 0;
        for (size_t a = 0; a < v->n_aliases; a++) latest |= strcmp(v->aliases[a], "latest") == 0;
        cr_assert_eq(latest, v->version == v->model_versions, "%s@%llu: latest misplaced", v->name,
                     (unsigned long long)v->version);
        cr_assert_eq(v->n_tags, 1, "%s@%llu has no seq tag", v->name,
                     (unsigned long long)v->version);
        if (v->version == v->model_versions) {
            /* the newest version loads bit-exactly (its chunks are visible too) */
            char ref[64];
            snprintf(ref, sizeof ref, "%s@%llu", v->name, (unsigned long long)v->version);
            ntg_plan *g = NULL, *want = crash_plan(base, strtoull(v->tags[0].value, NULL, 10));
            cr_assert_eq(ntg_store_get_plan(s, ref, &g, &err), NTG_OK, "%s", err.message);
            cr_assert(st_same_bytes(g, want), "%s is not bit-exact", ref);
            ntg_plan_destroy(g);
            ntg_plan_destroy(want);
        }
        total++;
    }
    ntg_store_list_destroy(l);
    return total;
}

Test(store, readers_see_consistent_states_while_a_writer_commits, .timeout = 240)
{
    ntg_plan *compiled = st_compile("graphs/nhits.yaml", 1, 3);
    ntg_error err;
    cr_assert_eq(ntg_plan_save(compiled, plan_path, &err), NTG_OK, "%s", err.message);
    ntg_plan_destroy(compiled);
    ntg_plan *base = NULL;
    cr_assert_eq(ntg_plan_load_file(plan_path, &base, &err), NTG_OK);
    char child[4096];
    snprintf(child, sizeof child, "%s", tu_build("tests/store_crash_child"));
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    writer = pid;
    if (pid == 0) {
        /* the writer dies with this test, however it ends */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* acknowledgements are not needed here */
        freopen("/dev/null", "w", stdout);
        execl(child, "store_crash_child", db, plan_path, "1", (char *)NULL);
        _exit(127);
    }
    /* wait for the store to exist */
    ntg_store *s = NULL;
    ntg_store_options o;
    ntg_store_options_init(&o);
    o.flags = NTG_STORE_OPEN_READONLY;
    double t0 = now();
    while (ntg_store_open(db, &o, &s, &err) != NTG_OK) {
        cr_assert_lt(now() - t0, 30, "the writer did not create the store: %s", err.message);
        sleep_us(20000);
    }
    ntg_store_close(s);
    uint64_t first = 0, last = 0, checks = 0, refreshed = 0;
    int most_tries = 0;
    t0 = now();
    while (now() - t0 < 4 || last < first + 5) {
        cr_assert_lt(now() - t0, 120, "the writer made no progress");
        /* a new reader each time (a process opening the store), and one refreshed */
        s = NULL;
        cr_assert_eq(ntg_store_open(db, &o, &s, &err), NTG_OK, "%s", err.message);
        uint64_t n = check_listing(s, base);
        if (!checks) first = n;
        last = n;
        checks++;
        sleep_us(5000);
        cr_assert_eq(ntg_store_refresh(s, &err), NTG_OK, "%s", err.message);
        check_listing(s, base);
        refreshed++;
        /* the full record check, retried while the view misses a commit a flush moved */
        ntg__store_check_report r;
        int tries = 0;
        for (;; tries++) {
            cr_assert_eq(ntg__store_check(s, &r, &err), NTG_OK, "%s", err.message);
            if (r.problems == 0 || tries == 40) break;
            sleep_us(5000);
            cr_assert_eq(ntg_store_refresh(s, &err), NTG_OK);
        }
        if (tries > most_tries) most_tries = tries;
        cr_assert_eq(r.problems, 0, "%s", r.first);
        ntg_store_close(s);
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    writer = 0;
    cr_assert(WIFSIGNALED(status), "the writer stopped by itself (status %d)", status);
    cr_log_info("%llu consistent listings (+%llu after refresh) while the writer went from %llu to "
                "%llu versions; the full check needed up to %d reopens",
                (unsigned long long)checks, (unsigned long long)refreshed,
                (unsigned long long)first, (unsigned long long)last, most_tries);
    ntg_plan_destroy(base);
}
