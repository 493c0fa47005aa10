/* cmd_train.c — `ntgraph train` and `ntgraph eval`: fit a graph to a series, score a plan. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "json.h"
#include "model_io.h"
#include "naive2.h"
#include "ntg_error.h"
#include "train_dp.h"

static void panel_warn(const ntg_plan *plan, const ntg_series *s, const char *split);

static const cli_opt train_opts[] = {
    {"data", 0, "FILE.csv", 0, "the series (required)"},
    {"split", 0, "A,B,C", 0, "train/val/test rows (8640,2880,2880) or fractions (required)"},
    {"columns", 0, "all|C1,C2", 0, "columns to train on, channel-independently (default all)"},
    {"output", 'o', "PLAN", 0, "where to write the trained plan (required)"},
    {"define", 'D', "NAME=VALUE", 1, "override a graph hparam (repeatable)"},
    {"steps", 0, "N", 0, "optimizer steps"},
    {"batch", 0, "B", 0, "windows per step"},
    {"lr", 0, "X", 0, "learning rate"},
    {"optimizer", 0, "O", 0, "adam, adamw or sgd"},
    {"loss", 0, "L", 0, "mae, mse, huber, mqloss, normal, studentt or xent"},
    {"class-threshold", 0, "X", 0,
     "xent: 3 classes (down, flat, up) with this dead band on the scaled axis (train key "
     "class_threshold; the graph's output needs 3 classes: nhits_cls.yaml -D n_classes=3)"},
    {"conformal", 0, "L1,L2,..", 0,
     "after training, split-conformal intervals at these levels from the val split's "
     "residuals, stored in the plan"},
    {"quantiles", 0, "Q1,Q2,..", 0,
     "levels: mqloss trains them; normal/studentt forecast them (train key quantiles)"},
    {"lr-decays", 0, "K", 0, "halve the learning rate K times, evenly spaced"},
    {"val-every", 0, "N", 0, "validate every N steps (0: never)"},
    {"patience", 0, "P", 0,
     "stop after P validations without improvement (-1: never; needs validation)"},
    {"seed", 0, "S", 0, "seed of initialisation and window sampling"},
    {"scaler", 0, "K", 0, "global scaler: zscore, log (z-score of ln x) or none"},
    {"window-scaler", 0, "K", 0, "per-window scaler: identity, standard, robust, minmax"},
    CLI_EXOG_OPTS,
    {"train", 'T', "KEY=VALUE", 1, "override any key of the graph's train section"},
    {"fill", 0, "F", 0, "empty or bad cells: error (default), zero, ffill, interpolate"},
    {"dates", 0, "M", 0, "strict (default: dates must be valid and increase) or loose"},
    {"id-col", 0, "NAME", 0, "long format: the series id column (default unique_id)"},
    {"date-col", 0, "NAME", 0, "long format: the date column (default ds)"},
    {"target", 0, "NAME", 0, "long format: the value column (default y)"},
    {"log-csv", 0, "F", 0,
     "write the loss curve (step, train_loss, val_loss, lr, ...; grad_norm when clipping, "
     "world with --mesh)"},
    {"checkpoint-dir", 0, "D", 0, "write checkpoints there"},
    {"checkpoint-every", 0, "N", 0, "steps between checkpoints (default: at validations)"},
    {"resume", 0, NULL, 0, "continue from the newest checkpoint in --checkpoint-dir or --store"},
    {"stop-at", 0, "STEP", 0,
     "stop after step STEP as if preempted: its checkpoint and plan are written, --resume "
     "continues with the same steps and schedule"},
    {"store", 0, "PATH", 0, "model store: checkpoints and the trained version go there"},
    {"name", 0, "NAME", 0, "the model's name in --store"},
    {"run", 0, "ID", 0,
     "with --store --resume: the run to continue (default: the newest unfinished one)"},
    {"init", 0, "PLAN", 0,
     "fine-tune: start from this plan's (or store:PATH:NAME@REF's) weights and scaler"},
    {"refit-scaler", 0, NULL, 0, "--init: fit a new scaler on the train rows instead"},
    {"backend", 0, "B", 0, "backend: auto (default), {backends}"},
    {"threads", 0, "N", 0,
     "threads (default: the CPUs this process may use: affinity, cgroup quota)"},
    /* data-parallel training (cli/cmd_mesh.c, docs/mesh.md) */
    {"mesh", 0, NULL, 0,
     "data-parallel training: this process is one worker (rank, world and rendezvous from the "
     "launcher: Open MPI, PMI, Slurm, torchrun; or the flags below)"},
    {"rank", 0, "R", 0, "--mesh: this worker's rank (0 .. world-1)"},
    {"world", 0, "N", 0, "--mesh: the number of workers"},
    {"rendezvous", 0, "tcp://HOST:PORT", 0, "--mesh: where rank 0 listens"},
    {"mesh-keys", 0, "DIR", 0, "--mesh: CURVE keys and allowed peers (ntgraph mesh keygen)"},
    {"mesh-insecure", 0, NULL, 0, "--mesh: allow plain TCP on addresses beyond loopback"},
    {"mesh-timeout", 0, "MS", 0,
     "--mesh: a worker silent this long is lost (default 4000, or NTG_MESH_TIMEOUT_MS; "
     "heartbeats every MS/8)"},
    {"mesh-join", 0, NULL, 0,
     "--mesh: join a running job at its next generation (a replacement worker; rank 0 assigns "
     "the rank)"},
    {"mesh-tcp", 0, NULL, 0,
     "--mesh: send ring data over TCP even between workers on one host (default: through "
     "shared memory there, the sharded step's floats read in place, NTG_MESH_IN_PLACE=off "
     "copies them; or NTG_MESH_TRANSPORT=tcp)"},
    {"mesh-bucket-mb", 0, "MB", 0,
     "--mesh: all-reduce the gradients in buckets of about MB megabytes while backward runs "
     "(default 4; 0: one all-reduce after backward)"},
    {"mesh-shard-optimizer", 0, "on|off", 0,
     "--mesh: each worker runs the optimizer only on the 1/N of the weights it sums in the ring's "
     "reduce-scatter, and the all-gather carries the updated weights (ZeRO-1; default on; "
     "off: every worker updates all weights; the weights are the same bits either way)"},
};

typedef struct progress_ctx {
    FILE *log;
    int log_grad_norm; /* the plan clips: its grad_norm goes to the log */
    int log_world;     /* --mesh: the world size of each step goes to the log */
    int tty;
    long last_val_step;
    double last_val;
    long stop_at; /* --stop-at: stop after this step (0: never) */
    int stopped;  /* --stop-at stopped the run before its last step */
} progress_ctx;

static int on_progress(void *user, const ntg_train_progress *p)
{
    progress_ctx *c = user;
    if (!isnan(p->val_loss)) {
        c->last_val = p->val_loss;
        c->last_val_step = p->step;
    }
    if (c->log) {
        fprintf(c->log, "%ld,%.9g,", p->step, p->train_loss);
        if (!isnan(p->val_loss)) fprintf(c->log, "%.9g", p->val_loss);
        fprintf(c->log, ",%.9g,%.1f,%.3f", p->lr, p->windows_per_s, p->elapsed_s);
        if (c->log_grad_norm) fprintf(c->log, ",%.9g", p->grad_norm);
        if (c->log_world) fprintf(c->log, ",%d", p->world);
        fputc('\n', c->log);
    }
    if (c->tty && (p->step == p->steps || p->step % 5 == 0 || !isnan(p->val_loss))) {
        double eta = p->windows_per_s > 0 && p->elapsed_s > 0
                         ? p->elapsed_s / (double)p->step * (double)(p->steps - p->step)
                         : 0;
        char val[32] = "-";
        if (c->last_val_step) snprintf(val, sizeof val, "%.4f", c->last_val);
        fprintf(stderr,
                "\r\033[Kstep %ld/%ld  train %.4f  val %s  lr %.2e  %.0f win/s  ETA %ld:%02ld",
                p->step, p->steps, p->train_loss, val, p->lr, p->windows_per_s, (long)eta / 60,
                (long)eta % 60);
        fflush(stderr);
    }
    if (c->stop_at > 0 && p->step >= c->stop_at && p->step < p->steps) {
        c->stopped = 1;
        return NTG_TRAIN_STOP_CHECKPOINT;
    }
    return 0;
}

static void add_setting(cli_defines *d, const cli_args *a, const char *opt, const char *key)
{
    const char *v = cli_get(a, opt);
    if (v) cli_defines_add(d, key, v);
}

/* --conformal 0.8,0.95: levels in (0, 1), ascending; -1 after a usage message. */
static int conformal_levels(const cli_cmd *cmd, const cli_args *a, double *lv, size_t *n)
{
    *n = 0;
    const char *spec = cli_get(a, "conformal");
    if (!spec) return 0;
    char *buf, *parts[32];
    int np = cli_split(spec, ',', &buf, parts, 32);
    int bad = np < 1 || np > 31;
    for (int i = 0; !bad && i < np; i++) {
        char *end;
        lv[i] = strtod(parts[i], &end);
        bad =
            end == parts[i] || *end || !(lv[i] > 0 && lv[i] < 1) || (i > 0 && !(lv[i] > lv[i - 1]));
    }
    free(buf);
    if (bad) {
        cli_usage_error(cmd, "--conformal '%s': 1 to 31 ascending levels in (0, 1), e.g. 0.8,0.95",
                        spec);
        return -1;
    }
    *n = (size_t)np;
    return 0;
}

static int train_run(const cli_cmd *cmd, cli_args *a)
{
    if (a->n_pos != 1) return cli_usage_error(cmd, "expected one graph file");
    const char *data = cli_get(a, "data"), *split = cli_get(a, "split"),
               *out = cli_get(a, "output");
    const char *store = cli_get(a, "store"), *name = cli_get(a, "name");
    if (!data || !split || (!out && !store))
        return cli_usage_error(cmd, "needs --data, --split and -o PLAN (or --store PATH)");
    if (!store != !name) return cli_usage_error(cmd, "--store and --name go together");
    if (store && cli_get(a, "checkpoint-dir"))
        return cli_usage_error(cmd, "checkpoints go to --store or --checkpoint-dir, not both");
    if (cli_flag(a, "resume") && !cli_get(a, "checkpoint-dir") && !store)
        return cli_usage_error(cmd, "--resume needs --checkpoint-dir or --store");
    if (cli_get(a, "run") && (!store || !cli_flag(a, "resume")))
        return cli_usage_error(cmd, "--run ID goes with --store and --resume");
    if (cli_flag(a, "refit-scaler") && !cli_get(a, "init"))
        return cli_usage_error(cmd, "--refit-scaler goes with --init");
    long batch = 0, seed = -1, threads = 0, ckpt_every = 0, stop_at = 0, tmp;
    double dtmp;
    if (cli_int(cmd, a, "batch", 1, 1 << 20, &batch) < 0 ||
        cli_int(cmd, a, "seed", 0, 0x7fffffffL, &seed) < 0 ||
        cli_int(cmd, a, "threads", 0, 1024, &threads) < 0 ||
        cli_int(cmd, a, "checkpoint-every", 1, 1L << 40, &ckpt_every) < 0 ||
        cli_int(cmd, a, "stop-at", 1, 1L << 40, &stop_at) < 0 ||
        cli_int(cmd, a, "steps", cli_get(a, "init") ? 0 : 1, 1L << 40, &tmp) < 0 ||
        cli_int(cmd, a, "lr-decays", 0, 1000, &tmp) < 0 ||
        cli_int(cmd, a, "val-every", 0, 1L << 40, &tmp) < 0 ||
        cli_int(cmd, a, "patience", -1, 1L << 40, &tmp) < 0 ||
        cli_double(cmd, a, "lr", 1e-12, 1e6, &dtmp) < 0)
        return CLI_USAGE;

    double conf[32];
    size_t n_conf = 0;
    if (conformal_levels(cmd, a, conf, &n_conf)) return CLI_USAGE;

    cli_defines dv, tv, settings;
    if (cli_collect_defines(cmd, a, "define", NULL, &dv)) return CLI_USAGE;
    if (cli_collect_defines(cmd, a, "train", NULL, &tv)) {
        cli_defines_free(&dv);
        return CLI_USAGE;
    }
    memset(&settings, 0, sizeof settings);
    add_setting(&tv, a, "loss", "loss");
    add_setting(&tv, a, "class-threshold", "class_threshold");
    /* --quantiles 0.1,0.5,0.9: the train key's list [0.1,0.5,0.9] */
    char qlist[512];
    if (cli_get(a, "quantiles")) {
        if (strlen(cli_get(a, "quantiles")) > sizeof qlist - 3) {
            cli_defines_free(&dv);
            cli_defines_free(&tv);
            return cli_usage_error(cmd, "--quantiles: too long a list");
        }
        snprintf(qlist, sizeof qlist, "[%s]", cli_get(a, "quantiles"));
        cli_defines_add(&tv, "quantiles", qlist);
    }
    add_setting(&tv, a, "optimizer", "optimizer");
    add_setting(&settings, a, "steps", "steps");
    add_setting(&settings, a, "batch", "batch");
    add_setting(&settings, a, "lr", "lr");
    add_setting(&settings, a, "lr-decays", "lr_decays");
    add_setting(&settings, a, "val-every", "val_every");
    add_setting(&settings, a, "patience", "patience");
    add_setting(&settings, a, "seed", "seed");
    add_setting(&settings, a, "scaler", "scaler");
    add_setting(&settings, a, "window-scaler", "window_scaler");
    add_setting(&settings, a, "hist-exog", "hist_exog");
    add_setting(&settings, a, "futr-exog", "futr_exog");
    add_setting(&settings, a, "static", "static");
    /* -T keys that are run settings go to the trainer, the rest to the compiler (after the
     * flags above, as before: cli_split_train_keys adds the flags last) */
    cli_defines ctv;
    memset(&ctv, 0, sizeof ctv);
    for (size_t i = 0; i < tv.n; i++)
        cli_defines_add(cli_is_run_key(tv.v[i].name) ? &settings : &ctv, tv.v[i].name,
                        tv.v[i].value);
    /* runs validate the settings too; the compiler checks them against the graph first */
    ntg_compile_options co;
    ntg_compile_options_init(&co);
    co.defines = dv.v;
    co.n_defines = dv.n;
    co.train = ctv.v;
    co.n_train = ctv.n;
    co.max_batch = batch > 256 ? (int)batch : 256;
    co.seed = seed >= 0 ? (uint64_t)seed : 0;

    ntg_plan *plan = NULL, *trained = NULL, *init = NULL;
    ntg_series *series = NULL;
    ntg_store_trainer *ts = NULL;
    cli_train_mesh *tm = NULL; /* --mesh: this worker's mesh */
    uint64_t version = 0;
    ntg_error err;
    int rc = CLI_OK;
    FILE *log = NULL;
    ntg_status st = ntg_compile_file(a->pos[0], &co, &plan, &err);
    if (st) goto fail;
    /* --init: fine-tuning starts from that plan's weights (checked against the graph's) */
    if (cli_get(a, "init") && (st = cli_load_plan(cli_get(a, "init"), &init, &err))) goto fail;
    ntg_series_options so;
    cli_series_options(a, &so);
    if ((st = ntg_series_load_csv(data, &so, &series, &err))) goto fail;
    panel_warn(plan, series, split);
    /* --mesh: join the mesh; only rank 0 ("lead") writes the log, checkpoints, store, plan */
    if ((rc = cli_train_mesh_open(cmd, a, &tm)) != CLI_OK) goto done;
    int lead = cli_train_mesh_rank(tm) == 0;
    if (cli_get(a, "log-csv") && lead) {
        log = fopen(cli_get(a, "log-csv"), "w");
        if (!log) {
            fprintf(stderr, "ntgraph train: error: cannot write %s\n", cli_get(a, "log-csv"));
            rc = CLI_USAGE;
            goto done;
        }
    }
    /* clipping computes the global gradient norm: log it (a column only then) */
    const char *clip = ntg_plan_meta(plan, "train.clip");
    int log_gn = log && clip && strtod(clip, NULL) > 0;
    int log_world = log && tm;
    if (log)
        fprintf(log, "step,train_loss,val_loss,lr,windows_per_s,elapsed_s%s%s\n",
                log_gn ? ",grad_norm" : "", log_world ? ",world" : "");
    progress_ctx pc = {log, log_gn, log_world, lead && isatty(2), 0, NAN, stop_at, 0};
    ntg_train_options to;
    ntg_train_options_init(&to);
    to.columns = cli_get(a, "columns");
    to.split = split;
    to.settings = settings.v;
    to.n_settings = settings.n;
    to.backend = cli_get(a, "backend");
    to.threads = (int)threads;
    to.checkpoint_dir = lead ? cli_get(a, "checkpoint-dir") : NULL;
    to.checkpoint_every = ckpt_every;
    to.resume = lead && cli_flag(a, "resume");
    to.progress = on_progress;
    to.user = &pc;
    to.init = init;
    to.refit_scaler = cli_flag(a, "refit-scaler");
    /* checkpoints to the store (keeping the newest two), --resume from its newest */
    if (store && lead && (st = ntg_store_trainer_create(store, name, 2, &to, &ts, &err))) goto fail;
    if (ts && cli_get(a, "run") && (st = ntg_store_trainer_set_run(ts, cli_get(a, "run"), &err)))
        goto fail;
    ntg_train_report r;
    ntg_train_report_init(&r);
    if (tm)
        st = ntg__train_dp_run(plan, series, &to, cli_train_mesh_dp(tm), &trained, &r, &err);
    else
        st = ntg_train(plan, series, &to, &trained, &r, &err);
    if (pc.tty) fputc('\n', stderr);
    if (st) goto fail;
    if (!lead) { /* a mesh worker: rank 0 reports and writes */
        fprintf(stderr,
                "ntgraph train: mesh worker %d of %d: %ld steps done; rank 0 writes the "
                "plan\n",
                cli_train_mesh_rank(tm), cli_train_mesh_world(tm), r.steps);
        goto done;
    }
    /* --conformal: intervals from the val split's residuals of the trained plan */
    uint64_t conf_n = 0;
    if (n_conf) {
        ntg_eval_options eo;
        ntg_eval_options_init(&eo);
        eo.columns = cli_get(a, "columns");
        eo.split = split;
        eo.part = "val";
        eo.backend = cli_get(a, "backend");
        eo.threads = (int)threads;
        ntg_plan *cal = NULL;
        if ((st = ntg_conformal_calibrate(trained, series, &eo, conf, n_conf, &cal, &err)))
            goto fail;
        ntg_plan_destroy(trained);
        trained = cal;
        const char *cn = ntg_plan_meta(trained, "conformal.n");
        conf_n = cn ? strtoull(cn, NULL, 10) : 0;
    }
    if (out && (st = ntg_plan_save(trained, out, &err))) goto fail;
    /* a run --stop-at stopped is not a model yet: its checkpoint waits for --resume */
    if (ts && !pc.stopped &&
        (st = ntg_store_trainer_register(ts, trained, &r, data, split, &version, &err)))
        goto fail;
    if (init && r.steps == 0)
        printf("%s: 0 steps: the weights of %s, unchanged, %s", a->pos[0], cli_get(a, "init"),
               to.refit_scaler ? "with a scaler fitted on the train rows" : "and its scaler");
    else
        printf("trained %s: %ld steps in %.1f s (%.0f windows/s), final train loss %.4f", a->pos[0],
               r.steps, r.seconds, r.windows_per_s, r.final_train_loss);
    if (r.best_step > 0)
        printf(", best val loss %.4f at step %ld%s", r.best_val_loss, r.best_step,
               r.stopped_early ? " (early stop: best weights kept)" : "");
    if (r.resumed_from) printf(", resumed from step %ld", r.resumed_from);
    if (pc.stopped)
        printf(", stopped after step %ld as --stop-at asked%s", r.steps,
               to.checkpoint_dir || ts ? " (--resume continues)" : " (no checkpoint to resume)");
    if (to.resume && !r.resumed_from)
        printf(" (--resume found no checkpoint: started from scratch)");
    if (tm) /* --mesh: how much of the run was communication (rank 0's view) */
        printf(", %d workers, %.1f s (%.0f %%) in all-reduce and broadcast",
               cli_train_mesh_world(tm), cli_train_mesh_comm_seconds(tm),
               100.0 * cli_train_mesh_comm_seconds(tm) / (r.seconds + 1e-12));
    if (tm) { /* --mesh: where a step's time went (rank 0) */
        char line[640];
        cli_train_mesh_summary(tm, line, sizeof line);
        if (line[0]) printf("\nmesh: %s", line);
    }
    if (n_conf) {
        printf("\nconformal intervals at levels");
        for (size_t l = 0; l < n_conf; l++) printf("%s%g", l ? ", " : " ", conf[l]);
        printf(" from %llu val windows", (unsigned long long)conf_n);
    }
    if (out) printf("\nwrote %s", out);
    if (ts && !pc.stopped)
        printf("\nregistered %s@%llu in %s (run %s)", name, (unsigned long long)version, store,
               ntg_store_trainer_run(ts));
    printf("\n");
    goto done;
fail:
    rc = cli_fail(cmd, st, &err);
done:
    ntg_store_trainer_destroy(ts);
    cli_train_mesh_close(tm);
    if (log) fclose(log);
    cli_defines_free(&dv);
    cli_defines_free(&tv);
    ntg_plan_destroy(trained);
    ntg_plan_destroy(plan);
    ntg_plan_destroy(init);
    ntg_series_destroy(series);
    return rc;
}

const cli_cmd cli_cmd_train = {
    "train",
    "Train a graph on a series CSV",
    "ntgraph train GRAPH.yaml --data FILE.csv --split A,B,C -o PLAN [--columns all|C1,C2] "
    "[-D NAME=VALUE]... [-T KEY=VALUE]... [--steps N] [--batch B] [--lr X] [--optimizer O] "
    "[--loss L] [--quantiles Q,..] [--class-threshold X] [--conformal L,..] "
    "[--scaler K] [--window-scaler K] [--hist-exog C1,C2] [--futr-exog C1,C2] "
    "[--static K=V,..|FILE.csv|columns:C1,..] [--fill F] [--dates M] [--id-col C] [--date-col C] "
    "[--target C] "
    "[--lr-decays K] [--val-every N] [--patience P] [--seed S] [--log-csv F] "
    "[--checkpoint-dir D [--checkpoint-every N]] [--resume] [--stop-at STEP] "
    "[--store PATH --name NAME [--run ID]] "
    "[--init PLAN|store:PATH:NAME@REF [--refit-scaler]] [--backend B] [--threads N] "
    "[--mesh [--rank R --world N --rendezvous tcp://HOST:PORT] [--mesh-keys DIR] "
    "[--mesh-insecure] [--mesh-join] [--mesh-timeout MS] [--mesh-bucket-mb MB] [--mesh-tcp] "
    "[--mesh-shard-optimizer on|off]]",
    "Compiles GRAPH.yaml with its train section (flags override it), then trains on\n"
    "windows of every chosen column (channel-independent, one shared model): z-scored\n"
    "with the train rows' statistics, `batch` windows sampled per step from --seed,\n"
    "validated on the val split, early-stopped after --patience validations without\n"
    "improvement (restoring the best weights). The plan written holds the trained\n"
    "weights and the scaler, so `ntgraph run --data` takes and returns original units.\n"
    "--loss normal|studentt trains a distribution head (output [batch, 2|3, h]); run and\n"
    "eval give the quantiles of --quantiles (train key quantiles) from its parameters.\n"
    "--conformal 0.8,0.95 adds split-conformal intervals of a point model from the val\n"
    "split's residuals (per horizon step) to the plan: run prints them as quantile\n"
    "columns, eval scores their coverage.\n"
    "On a terminal one progress line is shown on stderr; in a pipe only the summary.\n"
    "With --mesh this process is one worker of a data-parallel job (docs/mesh.md): each\n"
    "step's batch is split across the workers and their gradients summed, so the result\n"
    "is the one-process model; rank 0 alone writes the plan, log, checkpoints and store.\n"
    "--init fine-tunes: training starts from that plan's (or store version's) weights,\n"
    "whose names and shapes must be the graph's (the first that differs is named), and\n"
    "keeps its scaler (--refit-scaler fits a new one); --steps 0 is then allowed.",
    train_opts,
    (int)(sizeof train_opts / sizeof train_opts[0]),
    train_run,
};

static const cli_opt eval_opts[] = {
    {"data", 0, "FILE.csv", 0, "the series (required)"},
    {"split", 0, "A,B,C", 0, "train/val/test rows or fractions (required)"},
    {"columns", 0, "all|C1,C2", 0, "columns to score (default all)"},
    {"part", 0, "test|val", 0, "which split to score (default test)"},
    {"seasonality", 0, "M", 0, "MASE's seasonal period (default 1: the naive forecast)"},
    {"owa", 0, NULL, 0, "also score the M4 Naive2 benchmark on the same windows and print the OWA"},
    {"json", 0, NULL, 0, "print one JSON object"},
    {"fill", 0, "F", 0, "empty or bad cells: error (default), zero, ffill, interpolate"},
    {"dates", 0, "M", 0, "strict (default: dates must be valid and increase) or loose"},
    {"id-col", 0, "NAME", 0, "long format: the series id column (default unique_id)"},
    {"date-col", 0, "NAME", 0, "long format: the date column (default ds)"},
    {"target", 0, "NAME", 0, "long format: the value column (default y)"},
    {"backend", 0, "B", 0, "backend: auto (default), {backends}"},
    {"threads", 0, "N", 0,
     "threads (default: the CPUs this process may use: affinity, cgroup quota)"},
};

static void json_num(FILE *f, double v)
{
    ntg__json_put_number(f, v);
}

typedef struct score_key {
    const char *key;
    double v;
} score_key;

/* ,"key":value for each of n keys */
static void put_keys(FILE *f, const score_key *k, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fprintf(f, ",\"%s\":", k[i].key);
        json_num(f, k[i].v);
    }
}

#define PUT_KEYS(f, arr) put_keys(f, arr, sizeof arr / sizeof arr[0])

static void put_scores(FILE *f, const ntg_scores *s)
{
    fprintf(f, "{\"mse\":");
    json_num(f, s->mse);
    const score_key point[] = {{"mae", s->mae},           {"mse_orig", s->mse_orig},
                               {"mae_orig", s->mae_orig}, {"mape", s->mape},
                               {"smape", s->smape},       {"mase", s->mase}};
    PUT_KEYS(f, point);
    /* quantile, distribution and conformal plans add their probabilistic scores */
    const score_key cover[] = {{"coverage", s->coverage},
                               {"coverage_nominal", s->coverage_nominal}};
    if (!isnan(s->coverage)) PUT_KEYS(f, cover);
    const score_key prob[] = {{"pinball", s->pinball}, {"crps", s->crps}};
    if (!isnan(s->pinball)) PUT_KEYS(f, prob);
    /* classification heads: their scores and the majority-class baseline's */
    const score_key cls[] = {{"accuracy", s->accuracy},
                             {"log_loss", s->log_loss},
                             {"brier", s->brier},
                             {"majority_accuracy", s->base_accuracy},
                             {"majority_log_loss", s->base_log_loss},
                             {"majority_brier", s->base_brier}};
    if (!isnan(s->accuracy)) PUT_KEYS(f, cls);
    fprintf(f, ",\"n\":%llu}", (unsigned long long)s->n);
}

/* The probabilistic scores' table, when the plan has them. */
static void put_prob_table(const char *const *names, const ntg_scores *cols, size_t n,
                           const ntg_scores *all)
{
    if (isnan(all->coverage) && isnan(all->pinball)) return;
    printf("%-16s %10s %10s %10s %10s\n", "column", "coverage", "nominal", "pinball (z)",
           "CRPS (z)");
    for (size_t j = 0; j <= n; j++) {
        const ntg_scores *s = j < n ? &cols[j] : all;
        printf("%-16.16s %10.4f %10.4f %10.4f %10.4f\n", j < n ? names[j] : "overall", s->coverage,
               s->coverage_nominal, s->pinball, s->crps);
    }
}

/* A ragged panel: say which series are too short to give a training window. */
static void panel_warn(const ntg_plan *plan, const ntg_series *s, const char *split)
{
    ntg_model_io io;
    ntg_split sp;
    if (!s->first || ntg__model_io(plan, &io, NULL) ||
        ntg__split_parse(split, s->n_rows, &sp, NULL))
        return;
    size_t short_n = 0, eg = 0, lo = s->n_rows, hi = 0;
    for (size_t c = 0; c < s->n_cols; c++) {
        size_t len = s->n_rows - s->first[c];
        if (len < lo) lo = len;
        if (len > hi) hi = len;
        size_t tr = sp.train > s->first[c] ? sp.train - s->first[c] : 0;
        if (tr < io.L + io.h && !short_n++) eg = c;
    }
    fprintf(stderr, "ntgraph train: panel of %zu series, %zu to %zu rows\n", s->n_cols, lo, hi);
    if (short_n)
        fprintf(stderr,
                "ntgraph train: warning: %zu series have fewer train rows than input_size + h = "
                "%zu and give no training window (e.g. '%.60s'); they are skipped\n",
                short_n, io.L + io.h, s->names[eg]);
}

/* --owa: Naive2's overall sMAPE and MASE on the windows eval scored (naive2.h). */
static ntg_status eval_naive2(const ntg_plan *plan, const ntg_series *s, const ntg_eval_options *eo,
                              ntg_metric_values *out, ntg_error *err)
{
    ntg_model_io io;
    ntg_split sp;
    ntg_windows w;
    int *cols = NULL;
    size_t nc = 0;
    ntg_metrics *acc = NULL;
    ntg_split_part part = eo->part && strcmp(eo->part, "val") == 0 ? NTG_SPLIT_VAL : NTG_SPLIT_TEST;
    ntg_status st = ntg__model_io(plan, &io, err);
    if (!st) st = ntg__select_columns(s, eo->columns, &cols, &nc, err);
    if (!st) st = ntg__split_parse(eo->split, s->n_rows, &sp, err);
    if (!st) st = ntg__windows_make(&sp, part, io.L, io.h, cols, nc, &w, err);
    if (!st) st = ntg__windows_panel(&w, s, NULL, err);
    if (!st)
        st = ntg__metrics_create(s, cols, nc, NULL, sp.train, (size_t)eo->seasonality, &acc, err);
    if (!st) st = ntg__naive2_score(s, &w, (size_t)eo->seasonality, acc, err);
    if (!st) ntg__metrics_total(acc, out);
    ntg__metrics_free(acc);
    free(cols);
    return st;
}

static int eval_run(const cli_cmd *cmd, cli_args *a)
{
    if (a->n_pos != 1) return cli_usage_error(cmd, "expected one plan file");
    if (!cli_get(a, "data") || !cli_get(a, "split"))
        return cli_usage_error(cmd, "needs --data and --split");
    long m = 1, threads = 0;
    if (cli_int(cmd, a, "seasonality", 1, 1 << 20, &m) < 0 ||
        cli_int(cmd, a, "threads", 0, 1024, &threads) < 0)
        return CLI_USAGE;
    ntg_plan *plan = NULL;
    ntg_series *series = NULL;
    ntg_scores *cols = NULL;
    ntg_error err;
    int rc = CLI_OK;
    ntg_status st = cli_load_plan(a->pos[0], &plan, &err);
    if (st) return cli_fail(cmd, st, &err);
    ntg_series_options so;
    cli_series_options(a, &so);
    if ((st = ntg_series_load_csv(cli_get(a, "data"), &so, &series, &err))) goto fail;
    ntg_eval_options eo;
    ntg_eval_options_init(&eo);
    eo.columns = cli_get(a, "columns");
    eo.split = cli_get(a, "split");
    eo.part = cli_get(a, "part");
    eo.seasonality = (int)m;
    eo.backend = cli_get(a, "backend");
    eo.threads = (int)threads;
    /* the chosen columns, in order, for the per-column lines */
    size_t nc = ntg_series_columns(series);
    const char **names = calloc(nc + 1, sizeof *names);
    cols = calloc(nc + 1, sizeof *cols);
    if (!names || !cols) {
        free(names);
        fprintf(stderr, "ntgraph eval: out of memory\n");
        rc = CLI_FAIL;
        goto done;
    }
    for (size_t j = 0; j <= nc; j++) ntg_scores_init(&cols[j]);
    size_t n_named = 0;
    const char *spec = eo.columns;
    if (!spec || strcmp(spec, "all") == 0) {
        for (size_t c = 0; c < nc; c++) names[n_named++] = ntg_series_column_name(series, c);
    } else {
        char *buf, *parts[256];
        int np = cli_split(spec, ',', &buf, parts, 256);
        for (int i = 0; i < np && (size_t)i < nc; i++)
            for (size_t c = 0; c < nc; c++)
                if (strcmp(parts[i], ntg_series_column_name(series, c)) == 0)
                    names[n_named++] = ntg_series_column_name(series, c);
        free(buf);
    }
    ntg_scores all;
    ntg_scores_init(&all);
    st = ntg_evaluate(plan, series, &eo, &all, cols, n_named, &err);
    ntg_metric_values n2;
    memset(&n2, 0, sizeof n2);
    double owa = NAN;
    if (!st && cli_flag(a, "owa")) {
        st = eval_naive2(plan, series, &eo, &n2, &err);
        owa = ntg__owa(all.smape, all.mase, n2.smape, n2.mase);
    }
    if (st) {
        free(names);
        goto fail;
    }
    if (cli_flag(a, "json")) {
        printf("{\"part\":\"%s\",", eo.part ? eo.part : "test");
        printf("\"mse\":");
        json_num(stdout, all.mse);
        printf(",\"mae\":");
        json_num(stdout, all.mae);
        printf(",\"overall\":");
        put_scores(stdout, &all);
        if (cli_flag(a, "owa")) {
            printf(",\"naive2\":{\"smape\":");
            json_num(stdout, n2.smape);
            printf(",\"mase\":");
            json_num(stdout, n2.mase);
            printf("},\"owa\":");
            json_num(stdout, owa);
        }
        printf(",\"columns\":{");
        for (size_t j = 0; j < n_named; j++) {
            if (j) putchar(',');
            ntg__json_put_string(stdout, names[j]);
            putchar(':');
            put_scores(stdout, &cols[j]);
        }
        printf("}}\n");
    } else if (!isnan(all.accuracy)) { /* a classification head */
        printf("%-16s %9s %9s | %9s %9s | %9s %9s\n", "column", "accuracy", "majority", "log-loss",
               "majority", "Brier", "majority");
        for (size_t j = 0; j <= n_named; j++) {
            const ntg_scores *c = j < n_named ? &cols[j] : &all;
            printf("%-16.16s %9.4f %9.4f | %9.4f %9.4f | %9.4f %9.4f\n",
                   j < n_named ? names[j] : "overall", c->accuracy, c->base_accuracy, c->log_loss,
                   c->base_log_loss, c->brier, c->base_brier);
        }
        printf("(%s split, %llu labels, every window with stride 1; majority: the train split's "
               "class frequencies)\n",
               eo.part ? eo.part : "test", (unsigned long long)all.n);
    } else {
        printf("%-16s %10s %10s | %12s %10s %10s %8s\n", "column", "MSE (z)", "MAE (z)", "MAE",
               "MAPE %", "sMAPE %", "MASE");
        for (size_t j = 0; j < n_named; j++)
            printf("%-16.16s %10.4f %10.4f | %12.4f %10.2f %10.2f %8.3f\n", names[j], cols[j].mse,
                   cols[j].mae, cols[j].mae_orig, cols[j].mape, cols[j].smape, cols[j].mase);
        printf("%-16s %10.4f %10.4f | %12.4f %10.2f %10.2f %8.3f\n", "overall", all.mse, all.mae,
               all.mae_orig, all.mape, all.smape, all.mase);
        if (cli_flag(a, "owa"))
            printf("%-16s %10s %10s | %12s %10s %10.2f %8.3f\n"
                   "OWA %.3f (0.5 (sMAPE / Naive2's + MASE / Naive2's), MASE seasonality %d)\n",
                   "Naive2", "", "", "", "", n2.smape, n2.mase, owa, eo.seasonality);
        put_prob_table(names, cols, n_named, &all);
        printf("(%s split, %llu forecast points, every window with stride 1)\n",
               eo.part ? eo.part : "test", (unsigned long long)all.n);
    }
    free(names);
    goto done;
fail:
    rc = cli_fail(cmd, st, &err);
done:
    free(cols);
    ntg_series_destroy(series);
    ntg_plan_destroy(plan);
    return rc;
}

const cli_cmd cli_cmd_eval = {
    "eval",
    "Score a plan on the test split of a series",
    "ntgraph eval PLAN --data FILE.csv --split A,B,C [--columns all|C1,C2] [--part test|val] "
    "[--seasonality M] [--owa] [--json]",
    "Rolling-origin evaluation over every window of the test (or val) split, stride 1:\n"
    "MSE and MAE on the z-scored scale (the literature's protocol) and MAE, MAPE, sMAPE\n"
    "and MASE in original units, per column and overall. --json prints one object with\n"
    "mse and mae (overall, z-scored), the overall scores and each column's.\n"
    "Quantile and distribution plans add interval coverage (of [lowest, highest\n"
    "level]) with its nominal level, the mean pinball loss and the CRPS (z-scored;\n"
    "closed form for normal/studentt heads, 2 x mean pinball for quantile heads):\n"
    "a second table, and the keys coverage, coverage_nominal, pinball, crps in --json.\n"
    "--owa also scores the M4 competition's Naive2 benchmark (seasonality test and\n"
    "multiplicative decomposition at --seasonality) on the same windows and prints its\n"
    "sMAPE and MASE and the OWA (keys naive2 and owa in --json). A long-format panel\n"
    "(unique_id, ds, y) is scored per series: --split rest,0,48 scores the last 48\n"
    "values of every series (the M4 protocol; docs/data.md).\n"
    "Classification heads (loss xent) are scored against the classes derived from the\n"
    "data instead: accuracy, log-loss and Brier score, each beside the majority-class\n"
    "baseline (predicting the train split's class frequencies); keys accuracy,\n"
    "log_loss, brier, majority_accuracy, majority_log_loss, majority_brier in --json.",
    eval_opts,
    (int)(sizeof eval_opts / sizeof eval_opts[0]),
    eval_run,
};
