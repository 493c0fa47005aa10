/* cmd_tune.c — `ntgraph tune`: hyperparameter search over a graph's hparams and train: keys
 * (NeuralForecast's Auto* models), random or TPE, each trial trained in a child process and
 * scored by its validation loss (docs/tuning.md). */
#define _GNU_SOURCE /* mkdtemp */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "json.h"
#include "model_io.h"
#include "ntg_error.h"
#include "tpool.h"
#include "tune_space.h"

/* Stopping signals (SIGINT, SIGTERM, SIGHUP) are blocked while the study runs and taken with
 * sigtimedwait by the loop that waits for the trials, so no handler and no global records them;
 * a trial gets the mask of before and dies of them as usual. A signal that was ignored when tune
 * started (a background job's SIGINT) stays out of the set and stays ignored. */
typedef struct {
    sigset_t set; /* the stopping signals taken, plus SIGCHLD to wake up when a trial ends */
    sigset_t old; /* the mask before */
    int active;
    int sig; /* the signal that asked tune to stop, 0 while none did */
} stop_watch;

static void stop_watch_start(stop_watch *w)
{
    static const int stop_sigs[3] = {SIGINT, SIGTERM, SIGHUP};
    sigemptyset(&w->set);
    for (int i = 0; i < 3; i++) {
        struct sigaction cur;
        if (sigaction(stop_sigs[i], NULL, &cur) == 0 && cur.sa_handler != SIG_IGN)
            sigaddset(&w->set, stop_sigs[i]);
    }
    sigaddset(&w->set, SIGCHLD);
    w->active = sigprocmask(SIG_BLOCK, &w->set, &w->old) == 0;
    w->sig = 0;
}

/* Waits up to ms for a signal of the set; records a stopping one. */
static void stop_watch_wait(stop_watch *w, long ms)
{
    if (!w->active) {
        struct timespec nap = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&nap, NULL);
        return;
    }
    struct timespec tick = {ms / 1000, (ms % 1000) * 1000000L};
    int s = sigtimedwait(&w->set, NULL, &tick);
    if (s > 0 && s != SIGCHLD && !w->sig) w->sig = s;
}

/* Takes a stopping signal already pending without waiting. */
static void stop_watch_poll(stop_watch *w)
{
    if (!w->active || w->sig) return;
    struct timespec zero = {0, 0};
    int s;
    while ((s = sigtimedwait(&w->set, NULL, &zero)) > 0)
        if (s != SIGCHLD && !w->sig) w->sig = s;
}

static void stop_watch_end(stop_watch *w)
{
    if (w->active) sigprocmask(SIG_SETMASK, &w->old, NULL);
    w->active = 0;
}

static const cli_opt tune_opts[] = {
    {"data", 0, "FILE.csv", 0, "the series (required)"},
    {"split", 0, "A,B,C", 0,
     "train/val/test rows or fractions (required); trials are scored on val, test is not used"},
    {"trials", 0, "N", 0, "trials to run (required)"},
    {"search", 0, "random|tpe", 0, "the sampler (default tpe)"},
    {"seed", 0, "S", 0,
     "the study's seed: the same seed proposes the same trials (default 1); the trials train "
     "with the graph's train seed unless train.seed is searched"},
    {"jobs", 0, "J", 0, "trials trained at once, each in its own process (default 1)"},
    {"space", 0, "FILE", 0, "the search space: NAME=SPEC lines"},
    {"param", 'p', "NAME=SPEC", 1,
     "one dimension of the space, e.g. train.lr=loguniform(1e-4,1e-2) (repeatable)"},
    {"startup", 0, "N", 0, "tpe: random trials before the first proposal (default trials/4, >= 2)"},
    {"metric", 0, "mse|mae", 0, "the validation score minimised (z-scored; default mse)"},
    {"no-default-trial", 0, NULL, 0,
     "draw trial 1 like the others (default: trial 1 is the graph's own values when they lie in "
     "the space)"},
    {"output", 'o', "PLAN", 0, "write the best trial's trained plan"},
    {"store", 0, "PATH", 0, "model store: every finished trial becomes a version of --name"},
    {"name", 0, "NAME", 0, "the model's name in --store"},
    {"study", 0, "ID", 0, "the study's tag in --store (default: made from the time)"},
    {"alias", 0, "A", 0, "--store: the alias moved to the best trial (default best)"},
    {"json", 0, NULL, 0, "print one JSON object with every trial and the best"},
    {"horizon", 0, "H", 0, "the forecast horizon: the graph's h hparam (default: the graph's)"},
    CLI_TRAIN_SHARED_OPTS,
    CLI_EXOG_OPTS,
    {"threads", 0, "N", 0, "threads of each trial (default: the CPUs this process may use / J)"},
};

typedef struct trial {
    double x[TUNE_MAX_PARAMS];
    char val[TUNE_MAX_PARAMS][256]; /* the values as text */
    int ok;
    int defaults; /* the graph's own values (trial 1) */
    double val_mse, val_mae, score, seconds;
    long steps;
    char error[1100];
    char plan[600]; /* its trained plan in the study's folder ("" when none) */
    uint64_t version;
} trial;

/* --------------------------------------------------------- the default spaces */

/* NeuralForecast's AutoNHITS space, trimmed to what 20 trials on two cores can explore
 * (docs/tuning.md says what differs). */
static int default_space(const cli_cmd *cmd, const ntg_plan *plan, const ntg_model_io *io,
                         tune_space *s)
{
    char msg[512], line[512];
    const char *kind = ntg_plan_meta(plan, "model.kind");
    size_t h = io->h;
    const char *nhits[] = {
        NULL, /* input_size, made from h */
        "hparams.pools=choice([2,2,1],[1,1,1],[2,2,2],[4,4,4],[8,4,1],[16,8,1])",
        "hparams.downsample=choice([4,2,1],[168,24,1],[24,12,1],[180,60,1],[60,8,1],[40,20,1],"
        "[1,1,1])",
        "train.lr=loguniform(1e-4,1e-2)",
        "train.window_scaler=choice(identity,robust,standard)",
        "train.steps=choice(200,300,500)",
        "train.batch=choice(128,256,512)",
        "train.seed=int(1,20)",
    };
    const char *generic[] = {"train.lr=loguniform(1e-4,1e-2)", "train.batch=choice(64,128,256)",
                             "train.seed=int(1,20)"};
    int is_nhits = kind && strcmp(kind, "nhits") == 0;
    const char **lines = is_nhits ? nhits : generic;
    size_t n = is_nhits ? sizeof nhits / sizeof nhits[0] : sizeof generic / sizeof generic[0];
    for (size_t i = 0; i < n; i++) {
        if (!lines[i]) {
            snprintf(line, sizeof line, "hparams.input_size=choice(%zu,%zu,%zu,%zu)", 2 * h, 3 * h,
                     5 * h, 7 * h);
            lines[i] = line;
        }
        if (tune_space_add(s, lines[i], msg, sizeof msg)) {
            fprintf(stderr, "ntgraph %s: error: the default space: %s\n", cmd->name, msg);
            return CLI_FAIL;
        }
    }
    return CLI_OK;
}

/* ------------------------------------------------------------ one trial (child) */

typedef struct study {
    const cli_cmd *cmd;
    cli_args *a;
    const tune_space *space;
    const ntg_series *series;
    const cli_defines *dv, *tv; /* the command line's -D and -T */
    long batch_flag;
    int threads;
    int use_mae;
    char dir[256];
} study;

static void write_result(const char *path, const trial *t)
{
    FILE *f = fopen(path, "w");
    if (!f) return;
    if (t->ok)
        fprintf(f, "ok %.17g %.17g %ld %.17g\n", t->val_mse, t->val_mae, t->steps, t->seconds);
    else
        fprintf(f, "error %s\n", t->error);
    fclose(f);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Compile, train and score trial k; the result (and the plan) into the study's folder. */
static int run_trial(const study *S, size_t k, trial *t)
{
    cli_defines dv, settings, ctv;
    memset(&dv, 0, sizeof dv);
    memset(&settings, 0, sizeof settings);
    memset(&ctv, 0, sizeof ctv);
    for (size_t i = 0; i < S->dv->n; i++) cli_defines_add(&dv, S->dv->v[i].name, S->dv->v[i].value);
    /* the trial's values come after the command line's, so they win */
    cli_split_train_keys(S->a, S->tv, &settings, &ctv, 0);
    for (size_t j = 0; j < S->space->n; j++) {
        const tune_param *p = &S->space->p[j];
        if (p->target == TUNE_HPARAM)
            cli_defines_add(&dv, p->name, t->val[j]);
        else
            cli_defines_add(cli_is_run_key(p->name) ? &settings : &ctv, p->name, t->val[j]);
    }
    long batch = S->batch_flag;
    for (size_t i = 0; i < settings.n; i++)
        if (strcmp(settings.v[i].name, "batch") == 0) batch = strtol(settings.v[i].value, NULL, 10);
    ntg_compile_options co;
    ntg_compile_options_init(&co);
    co.defines = dv.v;
    co.n_defines = dv.n;
    co.train = ctv.v;
    co.n_train = ctv.n;
    co.max_batch = batch > 256 ? (int)batch : 256;
    ntg_plan *plan = NULL, *trained = NULL;
    ntg_error err;
    double t0 = now_s();
    ntg_status st = ntg_compile_file(S->a->pos[0], &co, &plan, &err);
    if (!st) {
        ntg_train_options to;
        ntg_train_options_init(&to);
        to.columns = cli_get(S->a, "columns");
        to.split = cli_get(S->a, "split");
        to.settings = settings.v;
        to.n_settings = settings.n;
        to.backend = cli_get(S->a, "backend");
        to.threads = S->threads;
        ntg_train_report r;
        ntg_train_report_init(&r);
        st = ntg_train(plan, S->series, &to, &trained, &r, &err);
        t->steps = r.steps;
    }
    ntg_scores sc;
    ntg_scores_init(&sc);
    if (!st) {
        ntg_eval_options eo;
        ntg_eval_options_init(&eo);
        eo.columns = cli_get(S->a, "columns");
        eo.split = cli_get(S->a, "split");
        eo.part = "val";
        eo.backend = cli_get(S->a, "backend");
        eo.threads = S->threads;
        st = ntg_evaluate(trained, S->series, &eo, &sc, NULL, 0, &err);
    }
    if (!st) st = ntg_plan_save(trained, t->plan, &err);
    t->seconds = now_s() - t0;
    if (st) {
        t->ok = 0;
        snprintf(t->error, sizeof t->error, "%s", err.message);
        for (char *c = t->error; *c; c++)
            if (*c == '\n') *c = ' ';
    } else {
        t->ok = 1;
        t->val_mse = sc.mse;
        t->val_mae = sc.mae;
    }
    char res[700];
    snprintf(res, sizeof res, "%s/trial-%zu.res", S->dir, k + 1);
    write_result(res, t);
    ntg_plan_destroy(plan);
    ntg_plan_destroy(trained);
    cli_defines_free(&dv);
    return t->ok ? 0 : 1;
}

/* The child's result file back into t (a child that died without one failed). */
static void read_result(const study *S, size_t k, int status, trial *t)
{
    char res[700], line[1024];
    snprintf(res, sizeof res, "%s/trial-%zu.res", S->dir, k + 1);
    FILE *f = fopen(res, "r");
    t->ok = 0;
    if (f && fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n') line[n - 1] = '\0';
        if (strncmp(line, "ok ", 3) == 0 && sscanf(line + 3, "%lf %lf %ld %lf", &t->val_mse,
                                                   &t->val_mae, &t->steps, &t->seconds) == 4)
            t->ok = 1;
        else if (strncmp(line, "error ", 6) == 0)
            snprintf(t->error, sizeof t->error, "%s", line + 6);
        else
            snprintf(t->error, sizeof t->error, "unreadable result '%s'", line);
    } else if (WIFSIGNALED(status))
        snprintf(t->error, sizeof t->error, "the trial's process died of signal %d (%s)",
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(t->error, sizeof t->error,
                 "the trial's process exited with status %d and no result",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    if (f) fclose(f);
    t->score = t->ok ? (S->use_mae ? t->val_mae : t->val_mse) : NAN;
    if (t->ok && !isfinite(t->score)) {
        t->ok = 0;
        snprintf(t->error, sizeof t->error, "validation score is not finite (%g)", t->score);
    }
    if (!t->ok) {
        t->score = NAN;
        if (t->plan[0]) unlink(t->plan);
        t->plan[0] = '\0';
    }
}

/* --------------------------------------------------------------- the study */

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    int bad = !in || !out;
    char buf[1 << 16];
    size_t n;
    while (!bad && (n = fread(buf, 1, sizeof buf, in)) > 0) bad = fwrite(buf, 1, n, out) != n;
    bad |= in && ferror(in);
    if (in) fclose(in);
    if (out) bad |= fclose(out) != 0;
    return bad ? -1 : 0;
}

static void put_trial_json(FILE *f, const tune_space *s, const trial *t, size_t k)
{
    fprintf(f, "{\"trial\":%zu,\"params\":{", k + 1);
    for (size_t j = 0; j < s->n; j++) {
        char key[80];
        snprintf(key, sizeof key, "%s.%s", s->p[j].target == TUNE_HPARAM ? "hparams" : "train",
                 s->p[j].name);
        fprintf(f, "%s", j ? "," : "");
        ntg__json_put_string(f, key);
        putc(':', f);
        ntg__json_put_string(f, t->val[j]);
    }
    fprintf(f, "}%s,\"status\":\"%s\"", t->defaults ? ",\"defaults\":true" : "",
            t->ok ? "ok" : "failed");
    if (t->ok) {
        fprintf(f, ",\"val_mse\":");
        ntg__json_put_number(f, t->val_mse);
        fprintf(f, ",\"val_mae\":");
        ntg__json_put_number(f, t->val_mae);
        fprintf(f, ",\"steps\":%ld", t->steps);
    } else {
        fprintf(f, ",\"error\":");
        ntg__json_put_string(f, t->error);
    }
    fprintf(f, ",\"seconds\":");
    ntg__json_put_number(f, t->seconds);
    if (t->version) fprintf(f, ",\"version\":%llu", (unsigned long long)t->version);
    putc('}', f);
}

/* Store trial k as the next version of --name, tagged with the study and its values. */
static ntg_status store_trial(ntg_store *db, const study *S, const char *study_id, size_t k,
                              trial *t, ntg_error *err)
{
    ntg_plan *plan = NULL;
    ntg_status st = ntg_plan_load_file(t->plan, &plan, err);
    if (st) return st;
    ntg_define tags[TUNE_MAX_PARAMS + 3];
    char keys[TUNE_MAX_PARAMS][96], num[32];
    size_t nt = 0;
    snprintf(num, sizeof num, "%zu", k + 1);
    tags[nt++] = (ntg_define){"tune.study", study_id};
    tags[nt++] = (ntg_define){"tune.trial", num};
    for (size_t j = 0; j < S->space->n; j++) {
        snprintf(keys[j], sizeof keys[j], "tune.%s.%s",
                 S->space->p[j].target == TUNE_HPARAM ? "hparams" : "train", S->space->p[j].name);
        tags[nt++] = (ntg_define){keys[j], t->val[j]};
    }
    ntg_store_metric m[2] = {{"val_mse", t->val_mse}, {"val_mae", t->val_mae}};
    char desc[200];
    snprintf(desc, sizeof desc, "ntgraph tune: trial %zu of study %s", k + 1, study_id);
    ntg_store_put_options po;
    ntg_store_put_options_init(&po);
    po.description = desc;
    po.parent = 0;
    po.metrics = m;
    po.n_metrics = 2;
    po.tags = tags;
    po.n_tags = nt;
    po.data_split = cli_get(S->a, "split");
    st = ntg_store_put(db, cli_get(S->a, "name"), plan, &po, &t->version, err);
    ntg_plan_destroy(plan);
    return st;
}

/* Whether the command line sets p (-D for an hparam; -T or a flag for a train key). */
static int fixed(const cli_args *a, const cli_defines *dv, const cli_defines *tv,
                 const tune_param *p)
{
    const cli_defines *d = p->target == TUNE_HPARAM ? dv : tv;
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->v[i].name, p->name) == 0) return 1;
    static const char *const flags[][2] = {
        {"steps", "steps"}, {"batch", "batch"}, {"lr", "lr"}, {"val_every", "val-every"}};
    for (size_t f = 0; p->target == TUNE_TRAIN && f < 4; f++)
        if (strcmp(p->name, flags[f][0]) == 0 && cli_get(a, flags[f][1])) return 1;
    return 0;
}

static int tune_run(const cli_cmd *cmd, cli_args *a)
{
    if (a->n_pos != 1) return cli_usage_error(cmd, "expected one graph file");
    const char *data = cli_get(a, "data"), *split = cli_get(a, "split");
    const char *store = cli_get(a, "store"), *name = cli_get(a, "name");
    if (!data || !split || !cli_get(a, "trials"))
        return cli_usage_error(cmd, "needs --data, --split and --trials");
    if (!store != !name) return cli_usage_error(cmd, "--store and --name go together");
    if (!store && (cli_get(a, "study") || cli_get(a, "alias")))
        return cli_usage_error(cmd, "--study and --alias go with --store");
    const char *search = cli_get(a, "search") ? cli_get(a, "search") : "tpe";
    if (strcmp(search, "tpe") != 0 && strcmp(search, "random") != 0)
        return cli_usage_error(cmd, "--search '%s': random or tpe", search);
    const char *metric = cli_get(a, "metric") ? cli_get(a, "metric") : "mse";
    if (strcmp(metric, "mse") != 0 && strcmp(metric, "mae") != 0)
        return cli_usage_error(cmd, "--metric '%s': mse or mae", metric);
    long trials = 0, jobs = 1, seed = 1, startup = -1, threads = 0, horizon = 0, batch = 0, tmp;
    double dtmp;
    if (cli_int(cmd, a, "trials", 1, 10000, &trials) < 0 ||
        cli_int(cmd, a, "jobs", 1, 256, &jobs) < 0 ||
        cli_int(cmd, a, "seed", 0, 0x7fffffffL, &seed) < 0 ||
        cli_int(cmd, a, "startup", 0, 10000, &startup) < 0 ||
        cli_int(cmd, a, "threads", 0, 1024, &threads) < 0 ||
        cli_int(cmd, a, "horizon", 1, 1L << 30, &horizon) < 0 ||
        cli_int(cmd, a, "batch", 1, 1 << 20, &batch) < 0 ||
        cli_int(cmd, a, "steps", 1, 1L << 40, &tmp) < 0 ||
        cli_int(cmd, a, "val-every", 0, 1L << 40, &tmp) < 0 ||
        cli_double(cmd, a, "lr", 1e-12, 1e6, &dtmp) < 0)
        return CLI_USAGE;
    if (startup < 0) startup = trials / 4 > 2 ? trials / 4 : 2;
    if (threads == 0) {
        int cpus = ntg__cpu_default_threads(NULL);
        threads = cpus / jobs > 1 ? cpus / jobs : 1;
    }

    tune_space space;
    memset(&space, 0, sizeof space);
    char msg[1024];
    const char **params;
    int n_params = cli_get_all(a, "param", &params);
    if (cli_get(a, "space") && tune_space_load(&space, cli_get(a, "space"), msg, sizeof msg)) {
        tune_space_free(&space);
        return cli_usage_error(cmd, "--space: %s", msg);
    }
    for (int i = 0; i < n_params; i++)
        if (tune_space_add(&space, params[i], msg, sizeof msg)) {
            tune_space_free(&space);
            return cli_usage_error(cmd, "--param: %s", msg);
        }

    cli_defines dv, tv;
    memset(&dv, 0, sizeof dv);
    memset(&tv, 0, sizeof tv);
    int rc = CLI_OK;
    ntg_plan *plan = NULL;
    ntg_series *series = NULL;
    ntg_store *db = NULL;
    trial *T = NULL;
    double *X = NULL, *Y = NULL;
    study S;
    memset(&S, 0, sizeof S);
    stop_watch sw;
    memset(&sw, 0, sizeof sw);
    ntg_error err;
    ntg_status st = NTG_OK;
    if (cli_collect_defines(cmd, a, "define", NULL, &dv) ||
        cli_collect_defines(cmd, a, "train", NULL, &tv)) {
        rc = CLI_USAGE;
        goto done;
    }
    if (horizon) cli_defines_add(&dv, "h", cli_get(a, "horizon"));
    /* a space parameter also given with -D / -T / a flag: the trial's value would be ambiguous */
    for (size_t j = 0; j < space.n; j++)
        if (fixed(a, &dv, &tv, &space.p[j])) {
            rc = cli_usage_error(cmd,
                                 "parameter '%s.%s' is searched and also fixed on the command "
                                 "line: drop one",
                                 space.p[j].target == TUNE_HPARAM ? "hparams" : "train",
                                 space.p[j].name);
            goto done;
        }

    /* the graph as given: errors in it or in -D / -T come out now, not in every trial */
    cli_defines settings0, ctv0;
    memset(&settings0, 0, sizeof settings0);
    memset(&ctv0, 0, sizeof ctv0);
    cli_split_train_keys(a, &tv, &settings0, &ctv0, 0);
    ntg_compile_options co;
    ntg_compile_options_init(&co);
    co.defines = dv.v;
    co.n_defines = dv.n;
    co.train = ctv0.v;
    co.n_train = ctv0.n;
    if ((st = ntg_compile_file(a->pos[0], &co, &plan, &err))) goto fail;
    ntg_model_io io;
    if ((st = ntg__model_io(plan, &io, &err))) goto fail;
    if (space.n == 0) { /* the default space, less what the command line fixes */
        if ((rc = default_space(cmd, plan, &io, &space)) != CLI_OK) goto done;
        size_t kept = 0;
        for (size_t j = 0; j < space.n; j++) {
            tune_param p = space.p[j];
            if (fixed(a, &dv, &tv, &p)) {
                for (size_t c = 0; c < p.n_choices; c++) free(p.choices[c]);
                continue;
            }
            space.p[kept++] = p;
        }
        space.n = kept;
        if (kept == 0) {
            rc = cli_usage_error(cmd, "the command line fixes every parameter of the default "
                                      "space: give one with --space or -p");
            goto done;
        }
    }
    ntg_series_options so;
    cli_series_options(a, &so);
    if ((st = ntg_series_load_csv(data, &so, &series, &err))) goto fail;
    if (store && (st = ntg_store_open(store, NULL, &db, &err))) goto fail;
    char study_id[64];
    if (cli_get(a, "study"))
        snprintf(study_id, sizeof study_id, "%s", cli_get(a, "study"));
    else
        snprintf(study_id, sizeof study_id, "t%lx%04x", (unsigned long)time(NULL),
                 (unsigned)getpid() & 0xffffu);

    S.cmd = cmd;
    S.a = a;
    S.space = &space;
    S.series = series;
    S.dv = &dv;
    S.tv = &tv;
    S.batch_flag = batch;
    S.threads = (int)threads;
    S.use_mae = strcmp(metric, "mae") == 0;
    const char *tmpd = getenv("TMPDIR");
    snprintf(S.dir, sizeof S.dir, "%s/ntg-tune-XXXXXX", tmpd && *tmpd ? tmpd : "/tmp");
    stop_watch_start(&sw); /* from here a stop removes the folder */
    if (!mkdtemp(S.dir)) {
        fprintf(stderr, "ntgraph tune: error: cannot make a folder in %s: %s\n",
                tmpd && *tmpd ? tmpd : "/tmp", strerror(errno));
        S.dir[0] = '\0';
        rc = CLI_FAIL;
        goto done;
    }
    T = calloc((size_t)trials, sizeof *T);
    X = calloc((size_t)trials * (space.n ? space.n : 1), sizeof *X);
    Y = calloc((size_t)trials, sizeof *Y);
    if (!T || !X || !Y) {
        st = ntg__fail(&err, NTG_ERR_NOMEM, "out of memory");
        goto fail;
    }
    int json = cli_flag(a, "json");
    FILE *tab = json ? stderr : stdout; /* --json: the rows go to stderr as they finish */
    /* Trial 1 is the graph's own values of the searched parameters (as compiled with -D/-T),
     * so that a study never ends worse on its score than not tuning; only when every one of
     * them is a point of the space, or TPE would learn from a point it cannot propose. */
    double x_default[TUNE_MAX_PARAMS];
    int default_first = !cli_flag(a, "no-default-trial");
    for (size_t j = 0; default_first && j < space.n; j++) {
        char key[96];
        snprintf(key, sizeof key, "%s.%s", space.p[j].target == TUNE_HPARAM ? "hparam" : "train",
                 space.p[j].name);
        const char *v = ntg_plan_meta(plan, key);
        if (tune_value_of(&space.p[j], v, &x_default[j])) {
            fprintf(tab,
                    "note: the graph's %s.%s = %s is not in the space: trial 1 is drawn like "
                    "the others\n",
                    space.p[j].target == TUNE_HPARAM ? "hparams" : "train", space.p[j].name,
                    v ? v : "(none)");
            default_first = 0;
        }
    }
    fprintf(tab, "%-5s %10s %10s %6s %8s  %s\n", "trial", "val MSE", "val MAE", "steps", "seconds",
            "parameters");
    fflush(tab);
    size_t best = (size_t)-1, n = (size_t)trials, J = (size_t)jobs;
    int use_tpe = strcmp(search, "tpe") == 0;
    tune_tpe_options to = {0.25, 24};
    for (size_t b = 0; b < n && !sw.sig; b += J) {
        size_t e = b + J < n ? b + J : n;
        pid_t pids[256];
        /* the batch's proposals: all from the trials before it, so a batch is the same
         * whatever order its trials finish in */
        for (size_t k = b; k < e; k++) {
            trial *t = &T[k];
            t->defaults = k == 0 && default_first;
            if (t->defaults)
                memcpy(t->x, x_default, space.n * sizeof *t->x);
            else if (use_tpe && k >= (size_t)startup)
                tune_sample_tpe(&space, X, Y, b, &to, (uint64_t)seed, k, t->x);
            else
                tune_sample_random(&space, (uint64_t)seed, k, t->x);
            for (size_t j = 0; j < space.n; j++) {
                X[k * space.n + j] = t->x[j];
                tune_format(&space.p[j], t->x[j], t->val[j], sizeof t->val[j]);
            }
            snprintf(t->plan, sizeof t->plan, "%s/trial-%zu.plan", S.dir, k + 1);
        }
        fflush(NULL);
        pid_t self = getpid();
        (void)self;
        for (size_t k = b; k < e; k++) {
            pid_t pid = fork();
            if (pid == 0) {
                /* a trial dies of the signal that stops tune */
                if (sw.active) sigprocmask(SIG_SETMASK, &sw.old, NULL);
                if (sw.sig) _exit(1);
#ifdef __linux__
                /* a trial does not outlive tune (killed, or ^C) */
                prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (getppid() != self) _exit(1);
#endif
                _exit(run_trial(&S, k, &T[k]));
            }
            if (pid < 0) {
                snprintf(T[k].error, sizeof T[k].error, "cannot start a process: %s",
                         strerror(errno));
                T[k].plan[0] = '\0';
            }
            pids[k - b] = pid;
        }
        for (size_t k = b; k < e; k++) {
            int status = 0;
            if (pids[k - b] > 0) {
                int killed = 0;
                for (;;) {
                    pid_t r = waitpid(pids[k - b], &status, WNOHANG);
                    if (r == pids[k - b] || (r < 0 && errno != EINTR)) break;
                    stop_watch_poll(&sw);
                    /* stopped: end the batch's trials not yet reaped (ours, by their ids) */
                    if (sw.sig && !killed) {
                        for (size_t m = k; m < e; m++)
                            if (pids[m - b] > 0) kill(pids[m - b], SIGTERM);
                        killed = 1;
                    }
                    stop_watch_wait(&sw, 200);
                }
                read_result(&S, k, status, &T[k]);
            }
            trial *t = &T[k];
            Y[k] = t->ok ? t->score : NAN;
            if (t->ok && db && (st = store_trial(db, &S, study_id, k, t, &err))) goto fail;
            char plist[2048] = "";
            size_t used = 0;
            for (size_t j = 0; j < space.n && used < sizeof plist; j++)
                used += (size_t)snprintf(plist + used, sizeof plist - used, "%s%s=%s", j ? " " : "",
                                         space.p[j].name, t->val[j]);
            const char *mark = t->defaults ? " (the graph's defaults)" : "";
            if (t->ok)
                fprintf(tab, "%-5zu %10.4f %10.4f %6ld %8.1f  %s%s\n", k + 1, t->val_mse,
                        t->val_mae, t->steps, t->seconds, plist, mark);
            else
                fprintf(tab, "%-5zu %10s %10s %6s %8.1f  %s%s\n      failed: %s\n", k + 1, "-", "-",
                        "-", t->seconds, plist, mark, t->error);
            fflush(tab);
            if (t->ok && (best == (size_t)-1 || t->score < T[best].score)) {
                if (best != (size_t)-1 && T[best].plan[0]) unlink(T[best].plan);
                best = k;
            } else if (t->plan[0]) {
                unlink(t->plan);
            }
        }
    }
    stop_watch_poll(&sw);
    if (sw.sig) {
        rc = CLI_FAIL;
        goto done;
    }
    if (best == (size_t)-1) {
        fprintf(stderr, "ntgraph tune: error: all %zu trials failed; the first: %s\n", n,
                T[0].error);
        rc = CLI_USAGE;
        goto done;
    }
    const char *out = cli_get(a, "output");
    if (out && copy_file(T[best].plan, out)) {
        fprintf(stderr, "ntgraph tune: error: cannot write %s\n", out);
        rc = CLI_FAIL;
        goto done;
    }
    const char *alias = cli_get(a, "alias") ? cli_get(a, "alias") : "best";
    char ref[300];
    if (db) {
        snprintf(ref, sizeof ref, "%s@%llu", name, (unsigned long long)T[best].version);
        if ((st = ntg_store_alias_set(db, ref, alias, &err))) goto fail;
    }
    size_t n_ok = 0;
    for (size_t k = 0; k < n; k++) n_ok += T[k].ok != 0;
    if (json) {
        printf("{\"search\":\"%s\",\"seed\":%ld,\"metric\":\"%s\",\"trials\":[", search, seed,
               metric);
        for (size_t k = 0; k < n; k++) {
            if (k) putchar(',');
            put_trial_json(stdout, &space, &T[k], k);
        }
        printf("],\"best\":");
        put_trial_json(stdout, &space, &T[best], best);
        if (db) {
            printf(",\"study\":");
            ntg__json_put_string(stdout, study_id);
        }
        printf("}\n");
    } else {
        printf("best: trial %zu, val %s %.4f (%zu of %zu trials finished, %s search, seed %ld)\n",
               best + 1, metric, T[best].score, n_ok, n, search, seed);
        if (out) printf("wrote %s\n", out);
        if (db)
            printf("stored %zu versions of %s in %s (tag tune.study=%s); %s@%s is trial %zu\n",
                   n_ok, name, store, study_id, name, alias, best + 1);
    }
    goto done;
fail:
    rc = cli_fail(cmd, st, &err);
done:
    if (S.dir[0]) {
        for (size_t k = 0; T && k < (size_t)trials; k++) {
            char p[700];
            snprintf(p, sizeof p, "%s/trial-%zu.res", S.dir, k + 1);
            unlink(p);
            if (T[k].plan[0]) unlink(T[k].plan);
        }
        rmdir(S.dir);
    }
    if (sw.sig) {
        fprintf(stderr, "ntgraph tune: stopped by signal %d (%s); the trials' folder is removed\n",
                sw.sig, strsignal(sw.sig));
        fflush(stderr);
        stop_watch_end(&sw);
        signal(sw.sig, SIG_DFL);
        raise(sw.sig); /* the exit status says which signal stopped it */
    }
    stop_watch_end(&sw);
    free(T);
    free(X);
    free(Y);
    ntg_store_close(db);
    ntg_series_destroy(series);
    ntg_plan_destroy(plan);
    cli_defines_free(&dv);
    cli_defines_free(&tv);
    tune_space_free(&space);
    return rc;
}

const cli_cmd cli_cmd_tune = {
    "tune",
    "Search a graph's hyperparameters by validation loss (random or TPE)",
    "ntgraph tune GRAPH.yaml --data FILE.csv --split A,B,C --trials N [--search random|tpe] "
    "[--seed S] [--jobs J] [--space FILE] [-p NAME=SPEC]... [--metric mse|mae] [--startup N] "
    "[--no-default-trial] "
    "[-o BEST.plan] [--store PATH --name NAME [--study ID] [--alias A]] [--json] "
    "[-D NAME=VALUE]... [-T KEY=VALUE]... [--id-col C] [--date-col C] [--target C] "
    "[--threads N]",
    "Hyperparameter search, as NeuralForecast's Auto* models: N trials, each the graph\n"
    "compiled and trained with one point of the search space, scored by the MSE (or\n"
    "--metric mae) of its plan on the val split (z-scored, every window, as `eval --part\n"
    "val`); the test split is never looked at. The space is --space FILE and/or -p lines\n"
    "NAME=SPEC, NAME hparams.X (a graph hparam, as -D) or train.KEY (as -T), SPEC\n"
    "uniform(a,b), loguniform(a,b), int(a,b) or choice(v1,v2,...) (a value may be a\n"
    "[list]); without one, N-HiTS graphs get a space modelled on AutoNHITS and others\n"
    "train.lr, train.batch and train.seed, less what -D, -T and the flags fix\n"
    "(docs/tuning.md).\n"
    "Trial 1 is the graph's own values of the searched parameters when each lies in the\n"
    "space (so the best is never worse on val than not tuning; --no-default-trial draws it\n"
    "instead). --search random draws every other trial independently; tpe (the default)\n"
    "draws the first --startup trials (trial 1 included) at random and then proposes by a\n"
    "tree-structured Parzen estimator over the finished trials. Trials run in child processes, "
    "--jobs at a time; the\n"
    "proposals of each group of J trials use only the trials before the group, so a seed\n"
    "gives the same trials whatever order they finish in (and --search random the same\n"
    "for every J). A failed trial is reported and the search goes on. -o writes the best\n"
    "trial's trained plan; --store makes every finished trial a version of --name, tagged\n"
    "tune.study, tune.trial and its values, and moves --alias (default best) to the best.",
    tune_opts,
    (int)(sizeof tune_opts / sizeof tune_opts[0]),
    tune_run,
};
