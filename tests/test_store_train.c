/* test_store_train.c — training into a store: checkpoints, exact resume, the registered version. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"
#include "store_testutil.h"

static char dir[256], db[300], csv[300];

static void setup(void)
{
    st_mkdtemp(dir, sizeof dir, "store-train");
    snprintf(db, sizeof db, "%s/models.db", dir);
    snprintf(csv, sizeof csv, "%s/series.csv", dir);
    FILE *f = fopen(csv, "w");
    cr_assert(f);
    fprintf(f, "date,a,b\n");
    tu_rng r = {5};
    for (int i = 0; i < 600; i++) {
        double a = 10 + 3 * sin(i * 2 * 3.14159265358979 / 24) + tu_uniform(&r, -0.3, 0.3);
        double b = -2 + sin(i * 2 * 3.14159265358979 / 12) + 0.01 * i + tu_uniform(&r, -0.2, 0.2);
        fprintf(f, "2020-01-%02d %02d:00:00,%.6f,%.6f\n", 1 + i / 24, i % 24, a, b);
    }
    fclose(f);
}

static void teardown(void)
{
    st_rmdir(dir);
}

TestSuite(store, .init = setup, .fini = teardown);

static ntg_plan *small_model(void)
{
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    ntg_define d[] = {{"h", "8"}, {"input_size", "24"}, {"hidden", "16"}};
    o.defines = d;
    o.n_defines = 3;
    o.max_batch = 32;
    ntg_plan *p = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(tu_src("graphs/nhits.yaml"), &o, &p, &err), NTG_OK, "%s",
                 err.message);
    return p;
}

static int stop_at(void *user, const ntg_train_progress *p)
{
    long *at = user;
    return at && *at > 0 && p->step >= *at;
}

/* Train 30 steps (checkpoints every 5 into the store when `store` is set). */
static ntg_plan *train(const ntg_plan *p, const ntg_series *s, int store, int resume, long stop,
                       ntg_train_report *rep)
{
    ntg_train_options o;
    ntg_train_options_init(&o);
    ntg_define set[] = {{"steps", "30"},    {"batch", "16"},    {"lr", "0.003"},
                        {"val_every", "5"}, {"patience", "-1"}, {"seed", "7"}};
    o.split = "400,100,100";
    o.settings = set;
    o.n_settings = 6;
    o.backend = "cpu";
    o.checkpoint_every = store ? 5 : 0;
    o.resume = resume;
    o.progress = stop_at;
    o.user = &stop;
    ntg_store_trainer *t = NULL;
    ntg_error err;
    if (store)
        cr_assert_eq(ntg_store_trainer_create(db, "run", 2, &o, &t, &err), NTG_OK, "%s",
                     err.message);
    ntg_plan *out = NULL;
    ntg_train_report r;
    ntg_train_report_init(&r);
    cr_assert_eq(ntg_train(p, s, &o, &out, &r, &err), NTG_OK, "%s", err.message);
    if (rep) *rep = r;
    if (store && !stop) {
        uint64_t v;
        cr_assert_eq(ntg_store_trainer_register(t, out, &r, csv, o.split, &v, &err), NTG_OK, "%s",
                     err.message);
    }
    ntg_store_trainer_destroy(t);
    return out;
}

static int same_weights(const ntg_plan *a, const ntg_plan *b)
{
    for (size_t i = 0; i < ntg_plan_param_count(a); i++) {
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        ntg_plan_param(a, i, &ti, NULL);
        if (memcmp(ntg_plan_param_data(a, i), ntg_plan_param_data(b, i), ti.nbytes)) return 0;
    }
    return 1;
}

Test(store, training_resumes_exactly_from_the_store)
{
    ntg_plan *p = small_model();
    ntg_series *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg_series_load_csv(csv, NULL, &s, &err), NTG_OK, "%s", err.message);
    ntg_plan *full = train(p, s, 0, 0, 0, NULL);
    /* stopped after step 12: the store's newest checkpoint is step 10 */
    ntg_plan *part = train(p, s, 1, 0, 12, NULL);
    ntg_store *st = st_open(db, NTG_STORE_OPEN_READONLY);
    ntg_store_ckpts *c = NULL;
    cr_assert_eq(ntg_store_checkpoints(st, "run", &c, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_store_ckpts_count(c), 2); /* steps 5 and 10 */
    cr_assert_eq(ntg_store_ckpts_at(c, 1)->step, 10);
    cr_assert(isfinite(ntg_store_ckpts_at(c, 1)->train_loss));
    cr_assert(isfinite(ntg_store_ckpts_at(c, 1)->val_loss)); /* step 10 validated */
    ntg_store_ckpts_destroy(c);
    ntg_store_close(st);

    ntg_train_report r;
    ntg_train_report_init(&r);
    ntg_plan *resumed = train(p, s, 1, 1, 0, &r);
    cr_assert_eq(r.resumed_from, 10);
    cr_assert_eq(r.steps, 30);
    cr_assert(same_weights(full, resumed), "the run resumed from the store differs");
    cr_assert(!same_weights(full, part));

    /* the registered version: the trained plan, its metrics and data fingerprint */
    st = st_open(db, NTG_STORE_OPEN_READONLY);
    ntg_store_list *l = NULL;
    cr_assert_eq(ntg_store_show(st, "run", &l, &err), NTG_OK, "%s", err.message);
    const ntg_store_version *v = ntg_store_list_at(l, 0);
    cr_assert_eq(v->version, 1);
    char sha[65];
    cr_assert_eq(ntg_store_sha256_file(csv, sha, &err), NTG_OK);
    cr_assert_str_eq(v->data_sha256, sha);
    cr_assert_str_eq(v->data_split, "400,100,100");
    int have_loss = 0;
    for (size_t i = 0; i < v->n_metrics; i++)
        have_loss |= strcmp(v->metrics[i].name, "final_train_loss") == 0;
    cr_assert(have_loss);
    ntg_plan *g = NULL;
    cr_assert_eq(ntg_store_get_plan(st, "run@1", &g, &err), NTG_OK, "%s", err.message);
    cr_assert(st_same_bytes(g, resumed));
    ntg_plan_destroy(g);
    ntg_store_list_destroy(l);
    /* the pruned checkpoints' chunks were collected when the version was registered */
    ntg__store_check_report cr;
    cr_assert_eq(ntg__store_check(st, &cr, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(cr.problems, 0, "%s", cr.first);
    cr_assert_eq(cr.orphans, 0);
    ntg_store_close(st);

    /* a checkpoint of another run's settings is refused, naming the difference */
    ntg_train_options o;
    ntg_train_options_init(&o);
    ntg_define set[] = {{"steps", "31"},    {"batch", "16"},    {"lr", "0.003"},
                        {"val_every", "5"}, {"patience", "-1"}, {"seed", "7"}};
    o.split = "400,100,100";
    o.settings = set;
    o.n_settings = 6;
    o.backend = "cpu";
    o.resume = 1;
    ntg_store_trainer *t = NULL;
    cr_assert_eq(ntg_store_trainer_create(db, "run", 2, &o, &t, &err), NTG_OK);
    ntg_plan *out = NULL;
    cr_assert_eq(ntg_train(p, s, &o, &out, NULL, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "made with steps 30, this run has 31"), "%s", err.message);
    /* and a different learning rate by its name */
    set[0].value = "30";
    set[2].value = "0.0005";
    cr_assert_eq(ntg_train(p, s, &o, &out, NULL, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "learning rate 0.003, this run has 0.0005"), "%s", err.message);
    ntg_store_trainer_destroy(t);

    ntg_plan_destroy(full);
    ntg_plan_destroy(part);
    ntg_plan_destroy(resumed);
    ntg_series_destroy(s);
    ntg_plan_destroy(p);
}

/* Train `steps` steps of seed `seed` into the store as a run (checkpoints every 5, keep 2),
 * stopping after step `stop` (0: none); registers the version when it ran to the end.  *run
 * receives the run id, *version the version (0: none). */
static ntg_plan *train_run_lr(const ntg_plan *p, const ntg_series *s, const char *seed,
                              const char *lr, int resume, long stop, char run[80],
                              uint64_t *version, ntg_train_report *rep)
{
    ntg_train_options o;
    ntg_train_options_init(&o);
    ntg_define set[] = {{"steps", "30"},    {"batch", "16"},    {"lr", lr},
                        {"val_every", "5"}, {"patience", "-1"}, {"seed", seed}};
    o.split = "400,100,100";
    o.settings = set;
    o.n_settings = 6;
    o.backend = "cpu";
    o.checkpoint_every = 5;
    o.resume = resume;
    o.progress = stop_at;
    o.user = &stop;
    ntg_store_trainer *t = NULL;
    ntg_error err;
    cr_assert_eq(ntg_store_trainer_create(db, "run", 2, &o, &t, &err), NTG_OK, "%s", err.message);
    ntg_plan *out = NULL;
    ntg_train_report r;
    ntg_train_report_init(&r);
    cr_assert_eq(ntg_train(p, s, &o, &out, &r, &err), NTG_OK, "%s", err.message);
    snprintf(run, 80, "%s", ntg_store_trainer_run(t));
    *version = 0;
    if (!stop)
        cr_assert_eq(ntg_store_trainer_register(t, out, &r, csv, o.split, version, &err), NTG_OK,
                     "%s", err.message);
    if (rep) *rep = r;
    ntg_store_trainer_destroy(t);
    return out;
}

static ntg_plan *train_run(const ntg_plan *p, const ntg_series *s, const char *seed, int resume,
                           long stop, char run[80], uint64_t *version, ntg_train_report *rep)
{
    return train_run_lr(p, s, seed, "0.003", resume, stop, run, version, rep);
}

/* issue 11 §5: two `train --store DB --name X` runs pruned each other's checkpoints; the
 * first's --resume then failed ("made with seed 7, this run has 1") and lineage named the
 * other run as parent.  Checkpoints belong to a run now. */
Test(store, two_runs_of_one_model_keep_their_own_checkpoints)
{
    ntg_plan *p = small_model();
    ntg_series *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg_series_load_csv(csv, NULL, &s, &err), NTG_OK, "%s", err.message);
    ntg_plan *full = train(p, s, 0, 0, 0, NULL); /* seed 7, uninterrupted, no store */
    char run_a[80], run_b[80], again[80];
    uint64_t va, vb;
    /* run A (seed 7) stops after step 12: its checkpoints are steps 5 and 10 */
    ntg_plan *part = train_run(p, s, "7", 0, 12, run_a, &va, NULL);
    /* run B (seed 9) runs to the end meanwhile, checkpointing 6 times and registering @1 */
    ntg_plan *other = train_run(p, s, "9", 0, 0, run_b, &vb, NULL);
    cr_assert_eq(vb, 1);
    cr_assert_str_neq(run_a, run_b);
    ntg_store *st = st_open(db, NTG_STORE_OPEN_READONLY);
    ntg_store_ckpts *c = NULL;
    cr_assert_eq(ntg_store_checkpoints(st, "run", &c, &err), NTG_OK, "%s", err.message);
    int a_has_10 = 0;
    for (size_t i = 0; i < ntg_store_ckpts_count(c); i++) {
        const ntg_store_checkpoint *k = ntg_store_ckpts_at(c, i);
        for (size_t m = 0; m < k->n_meta; m++)
            if (strcmp(k->meta[m].name, "run") == 0 && strcmp(k->meta[m].value, run_a) == 0)
                a_has_10 |= k->step == 10;
    }
    cr_assert(a_has_10, "run B pruned run A's checkpoint of step 10");
    ntg_store_ckpts_destroy(c);
    ntg_store_close(st);
    /* --resume without a run id: B is finished, so A (the newest unfinished run) goes on, under
     * its own id, and ends with the weights of an uninterrupted run */
    ntg_train_report r;
    ntg_train_report_init(&r);
    ntg_plan *resumed = train_run(p, s, "7", 1, 0, again, &va, &r);
    cr_assert_eq(r.resumed_from, 10);
    cr_assert_str_eq(again, run_a);
    cr_assert(same_weights(full, resumed), "run A resumed differs from an uninterrupted run");
    cr_assert_eq(va, 2);
    /* lineage: A started before B registered @1, so @2 has no parent; each is tagged */
    st = st_open(db, NTG_STORE_OPEN_READONLY);
    ntg_store_list *l = NULL;
    cr_assert_eq(ntg_store_show(st, "run@2", &l, &err), NTG_OK, "%s", err.message);
    const ntg_store_version *v = ntg_store_list_at(l, 0);
    cr_assert_eq(v->parent, 0, "lineage names run B's version as the parent of run A's");
    int tagged = 0;
    for (size_t i = 0; i < v->n_tags; i++)
        tagged |= strcmp(v->tags[i].name, "train.run") == 0 && strcmp(v->tags[i].value, run_a) == 0;
    cr_assert(tagged);
    ntg_store_list_destroy(l);
    ntg_store_close(st);
    /* a run id that has no checkpoint is an error naming it */
    ntg_train_options o;
    ntg_train_options_init(&o);
    ntg_define set[] = {{"steps", "30"}, {"batch", "16"}, {"seed", "7"}};
    o.split = "400,100,100";
    o.settings = set;
    o.n_settings = 3;
    o.backend = "cpu";
    o.resume = 1;
    ntg_store_trainer *t = NULL;
    cr_assert_eq(ntg_store_trainer_create(db, "run", 2, &o, &t, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_store_trainer_set_run(t, "rnope", &err), NTG_OK, "%s", err.message);
    ntg_plan *out = NULL;
    cr_assert_eq(ntg_train(p, s, &o, &out, NULL, &err), NTG_ERR_NOT_FOUND);
    cr_assert(strstr(err.message, "no checkpoint of run rnope"), "%s", err.message);
    cr_assert_eq(ntg_store_trainer_set_run(t, "bad id!", &err), NTG_ERR_INVALID_ARG);
    ntg_store_trainer_destroy(t);
    ntg_plan_destroy(full);
    ntg_plan_destroy(part);
    ntg_plan_destroy(other);
    ntg_plan_destroy(resumed);
    ntg_series_destroy(s);
    ntg_plan_destroy(p);
}

/* --resume without --run continues the newest unfinished run of this run's configuration: a
 * newer unfinished run of another configuration (here another learning rate) is passed over,
 * an older one of the same configuration superseded. */
Test(store, resume_picks_the_unfinished_run_of_the_same_configuration)
{
    ntg_plan *p = small_model();
    ntg_series *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg_series_load_csv(csv, NULL, &s, &err), NTG_OK, "%s", err.message);
    ntg_plan *full = train(p, s, 0, 0, 0, NULL);
    char run_old[80], run_a[80], run_b[80], again[80];
    uint64_t v;
    /* an abandoned run of A's configuration, then A, then B (lr 0.001), all stopped early */
    ntg_plan *old = train_run(p, s, "7", 0, 7, run_old, &v, NULL);
    ntg_plan *part = train_run(p, s, "7", 0, 12, run_a, &v, NULL);
    ntg_plan *other = train_run_lr(p, s, "7", "0.001", 0, 12, run_b, &v, NULL);
    ntg_train_report r;
    ntg_train_report_init(&r);
    ntg_plan *resumed = train_run(p, s, "7", 1, 0, again, &v, &r);
    cr_assert_str_eq(again, run_a, "resumed %s (old %s, A %s, B %s)", again, run_old, run_a, run_b);
    cr_assert_eq(r.resumed_from, 10);
    cr_assert(same_weights(full, resumed));
    ntg_plan_destroy(full);
    ntg_plan_destroy(old);
    ntg_plan_destroy(part);
    ntg_plan_destroy(other);
    ntg_plan_destroy(resumed);
    ntg_series_destroy(s);
    ntg_plan_destroy(p);
}

/* The runs of model "run" in the store and how many checkpoints each has: fills runs/counts
 * (at most 16), returns how many runs; *total gets the checkpoints. */
static size_t runs_in_store(char runs[16][80], size_t counts[16], size_t *total)
{
    ntg_store *st = st_open(db, NTG_STORE_OPEN_READONLY);
    ntg_store_ckpts *c = NULL;
    ntg_error err;
    cr_assert_eq(ntg_store_checkpoints(st, "run", &c, &err), NTG_OK, "%s", err.message);
    size_t n = 0;
    *total = ntg_store_ckpts_count(c);
    for (size_t i = 0; i < ntg_store_ckpts_count(c); i++) {
        const ntg_store_checkpoint *k = ntg_store_ckpts_at(c, i);
        const char *run = "";
        for (size_t m = 0; m < k->n_meta; m++)
            if (strcmp(k->meta[m].name, "run") == 0) run = k->meta[m].value;
        size_t j = 0;
        while (j < n && strcmp(runs[j], run) != 0) j++;
        if (j == n && n < 16) {
            snprintf(runs[n], 80, "%s", run);
            counts[n++] = 0;
        }
        if (j < 16) counts[j]++;
    }
    ntg_store_ckpts_destroy(c);
    ntg_store_close(st);
    return n;
}

static size_t ckpts_of(const char *run)
{
    char runs[16][80];
    size_t counts[16], total;
    size_t n = runs_in_store(runs, counts, &total);
    for (size_t i = 0; i < n; i++)
        if (strcmp(runs[i], run) == 0) return counts[i];
    return 0;
}

/* issue 11 §5: "ten kills left 1.0 GB of orphans" — every killed run kept its newest two
 * checkpoints forever.  A run that is not running any more (killed, or stopped) and is
 * superseded by a newer run of its configuration keeps its newest checkpoint only while it is
 * the newest such run; older ones lose theirs.  Ten kill + restart cycles leave at most
 * keep + 1 checkpoints, and --resume continues the last run exactly. */
Test(store, abandoned_runs_are_reclaimed_and_resume_still_works)
{
    ntg_plan *p = small_model();
    ntg_series *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg_series_load_csv(csv, NULL, &s, &err), NTG_OK, "%s", err.message);
    ntg_plan *full = train(p, s, 0, 0, 0, NULL);
    char runs[10][80];
    uint64_t v, peak_bytes = 0;
    size_t peak = 0;
    long stop = 0;
    for (int i = 0; i < 10; i++) {
        /* killed after step 7, 12, ..., 27 (checkpoints every 5 steps): runs of one
         * configuration are deterministic, so runs killed at different steps hold different
         * checkpoints */
        stop = 7 + 5 * (i % 5);
        ntg_plan *part = train_run(p, s, "7", 0, stop, runs[i], &v, NULL);
        ntg_plan_destroy(part);
        char names[16][80];
        size_t counts[16], total;
        size_t n = runs_in_store(names, counts, &total);
        if (total > peak) peak = total;
        ntg_store *st = st_open(db, NTG_STORE_OPEN_READONLY);
        ntg_store_stats x;
        ntg_store_stats_init(&x);
        cr_assert_eq(ntg_store_stats_get(st, &x, &err), NTG_OK, "%s", err.message);
        ntg_store_close(st);
        if (x.chunk_bytes > peak_bytes) peak_bytes = x.chunk_bytes;
        cr_log_info("after run %d: %zu runs, %zu checkpoints, %llu chunk bytes", i + 1, n, total,
                    (unsigned long long)x.chunk_bytes);
        cr_assert_leq(total, 3, "after %d kills: %zu checkpoints", i + 1, total);
        cr_assert_eq(ckpts_of(runs[i]), stop / 5 < 2 ? 1 : 2);
        if (i > 0) cr_assert_eq(ckpts_of(runs[i - 1]), 1, "the previous run keeps its newest");
        if (i > 1) cr_assert_eq(ckpts_of(runs[i - 2]), 0);
    }
    /* bytes: three checkpoints (weights, Adam state, best) of the small model */
    ntg_store *st = st_open(db, NTG_STORE_OPEN_READONLY);
    ntg_store_ckpts *c = NULL;
    cr_assert_eq(ntg_store_get_checkpoint(st, "run", 0, &c, &err), NTG_OK, "%s", err.message);
    uint64_t one = 0;
    for (size_t b = 0; b < ntg_store_ckpts_at(c, 0)->n_blobs; b++)
        one += ntg_store_ckpts_at(c, 0)->blobs[b].nbytes;
    ntg_store_ckpts_destroy(c);
    ntg_store_close(st);
    cr_log_info("peak %zu checkpoints, %llu chunk bytes (one checkpoint: %llu bytes)", peak,
                (unsigned long long)peak_bytes, (unsigned long long)one);
    cr_assert_leq(peak_bytes, 3 * one);
    /* the last run's lock files of reclaimed runs are gone with their checkpoints */
    for (int i = 0; i < 8; i++) {
        char lock[400];
        snprintf(lock, sizeof lock, "%s/NTGRAPH-RUN-%s", db, runs[i]);
        cr_assert_neq(access(lock, F_OK), 0, "%s is left behind", lock);
    }
    /* --resume continues the newest abandoned run, exactly */
    char again[80];
    ntg_train_report r;
    ntg_plan *resumed = train_run(p, s, "7", 1, 0, again, &v, &r);
    cr_assert_str_eq(again, runs[9]);
    cr_assert_eq(r.resumed_from, stop / 5 * 5);
    cr_assert(same_weights(full, resumed), "the resumed run differs from an uninterrupted one");
    ntg_plan_destroy(full);
    ntg_plan_destroy(resumed);
    ntg_series_destroy(s);
    ntg_plan_destroy(p);
}

/* A checkpoint through the trainer's hook, as ntg_train makes one (seed 7, not finished). */
static void hook_put(ntg_train_options *o, long step)
{
    static float w[4096];
    for (size_t i = 0; i < 4096; i++) w[i] = (float)step + (float)i * 1e-3f;
    const char *names[] = {"weights"};
    const void *data[] = {w};
    size_t bytes[] = {sizeof w};
    char st[16];
    snprintf(st, sizeof st, "%ld", step);
    const char *meta[] = {"ntgraph.checkpoint", "1", "step", st, "seed", "7", "plan", "abc",
                          "finished",           "0"};
    ntg_train_checkpoint ck = {sizeof ck, step, 1.0, NAN, 1, names, data, bytes, 5, meta};
    ntg_error err;
    ntg_status s = o->checkpoint_put(o->checkpoint_user, &ck, &err);
    cr_assert_eq(s, NTG_OK, "%s", err.message);
}

/* A run that still runs (its process holds its lock) is never reclaimed, whatever newer runs
 * of its configuration do; once its process is killed, the next checkpoint of a newer run
 * reclaims all but its newest checkpoint. */
Test(store, a_live_run_is_not_reclaimed_and_a_killed_one_is)
{
    int pipefd[2];
    cr_assert_eq(pipe(pipefd), 0);
    /* no RocksDB in this process before the fork: its thread pools do not survive one */
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        ntg_train_options o;
        ntg_train_options_init(&o);
        ntg_store_trainer *t = NULL;
        ntg_error err;
        if (ntg_store_trainer_create(db, "run", 2, &o, &t, &err)) _exit(3);
        for (long step = 5; step <= 15; step += 5) hook_put(&o, step);
        char id[80];
        snprintf(id, sizeof id, "%s", ntg_store_trainer_run(t));
        if (write(pipefd[1], id, sizeof id) != (ssize_t)sizeof id) _exit(4);
        for (;;) pause();
    }
    char run_a[80];
    cr_assert_eq(read(pipefd[0], run_a, sizeof run_a), (ssize_t)sizeof run_a);
    ntg_train_options ob, oc;
    ntg_train_options_init(&ob);
    ntg_train_options_init(&oc);
    ntg_store_trainer *b = NULL, *c = NULL;
    ntg_error err;
    cr_assert_eq(ntg_store_trainer_create(db, "run", 2, &ob, &b, &err), NTG_OK, "%s", err.message);
    for (long step = 5; step <= 15; step += 5) hook_put(&ob, step);
    cr_assert_eq(ckpts_of(run_a), 2, "run B reclaimed the checkpoints of run A, which is running");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    hook_put(&ob, 20);
    cr_assert_eq(ckpts_of(run_a), 1, "the killed run A keeps its newest checkpoint");
    /* run C: B is still running, so B keeps both; A (not running) keeps its newest */
    char run_b[80];
    snprintf(run_b, sizeof run_b, "%s", ntg_store_trainer_run(b));
    cr_assert_eq(ntg_store_trainer_create(db, "run", 2, &oc, &c, &err), NTG_OK, "%s", err.message);
    hook_put(&oc, 5);
    cr_assert_eq(ckpts_of(run_b), 2);
    cr_assert_eq(ckpts_of(run_a), 1);
    /* B stops: C's next checkpoint leaves B its newest and takes A's last */
    ntg_store_trainer_destroy(b);
    hook_put(&oc, 10);
    cr_assert_eq(ckpts_of(run_b), 1);
    cr_assert_eq(ckpts_of(run_a), 0);
    char lock[400];
    snprintf(lock, sizeof lock, "%s/NTGRAPH-RUN-%s", db, run_a);
    cr_assert_neq(access(lock, F_OK), 0, "run A's lock file is left behind");
    ntg_store_trainer_destroy(c);
    ntg_store *st = st_open(db, 0);
    ntg__store_check_report cr;
    cr_assert_eq(ntg__store_check(st, &cr, &err), NTG_OK);
    cr_assert_eq(cr.problems, 0, "%s", cr.first);
    cr_assert_eq(cr.orphans, 0);
    ntg_store_close(st);
    close(pipefd[0]);
    close(pipefd[1]);
}
