/* cli.h — what the ntgraph subcommands share: argument parsing, errors, exit codes. */
#ifndef NTG_CLI_H
#define NTG_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "ntgraph.h"

/* Exit statuses: 0 success, 1 a failure of the machine or of ntgraph (backend,
 * memory, internal), 2 bad usage or bad input (flags, graphs, plans, data). */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

typedef struct cli_opt {
    const char *name;    /* long name without dashes: "batch" */
    char short_name;     /* 'o', or 0 */
    const char *metavar; /* "N" for options with a value; NULL for flags */
    int repeat;          /* may be given more than once (values collected) */
    const char *help;
} cli_opt;

#define CLI_MAX_OPTS 64 /* cli_parse refuses a command with more (exit 1) */
#define CLI_MAX_VALUES 64
#define CLI_MAX_POS 8

typedef struct cli_args {
    const cli_opt *opts;
    int n_opts;
    const char *value[CLI_MAX_OPTS]; /* last value (or "1" for a flag given) */
    const char *values[CLI_MAX_OPTS][CLI_MAX_VALUES];
    int n_values[CLI_MAX_OPTS];
    const char *pos[CLI_MAX_POS];
    int n_pos;
    int help; /* --help / -h given */
    /* `mesh` only: the arguments after "--", verbatim (main sets them; NULL otherwise) */
    char **rest;
    int n_rest;
} cli_args;

typedef struct cli_cmd {
    const char *name;
    const char *summary;
    const char *usage;       /* "ntgraph compile GRAPH.yaml -o PLAN [options]" */
    const char *description; /* paragraphs after the usage */
    const cli_opt *opts;
    int n_opts;
    int (*run)(const struct cli_cmd *cmd, cli_args *a);
} cli_cmd;

/* Parse argv (after the command name).  On a usage error prints it (with the
 * command's usage line) and returns CLI_USAGE; otherwise 0. */
int cli_parse(const cli_cmd *cmd, int argc, char **argv, cli_args *a);
/* Value of option `name` or NULL. */
const char *cli_get(const cli_args *a, const char *name);
int cli_flag(const cli_args *a, const char *name);
/* All values of a repeatable option. */
int cli_get_all(const cli_args *a, const char *name, const char ***values);
/* Integer option in [lo, hi]; prints an error and returns -1 when bad, 0 when
 * absent (out untouched), 1 when set. */
int cli_int(const cli_cmd *cmd, const cli_args *a, const char *name, long lo, long hi, long *out);
int cli_double(const cli_cmd *cmd, const cli_args *a, const char *name, double lo, double hi,
               double *out);
/* Print the command's full help to f. */
void cli_help(const cli_cmd *cmd, FILE *f);
/* Print "ntgraph CMD: message" for a usage error and return CLI_USAGE. */
int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Print an ntg_error as "ntgraph CMD: error: message" and map its status to an exit code. */
int cli_fail(const cli_cmd *cmd, ntg_status st, const ntg_error *err);
/* The exit status for a failure: 1 for the machine's (out of memory, a device, a full
 * disk or an I/O error: NTG_ERR_IO with a machine errno), 2 for bad input. */
int cli_exit_code(ntg_status st, const ntg_error *err);

/* NAME=VALUE options collected into ntg_define pairs (names copied, values borrowed). */
typedef struct cli_defines {
    ntg_define v[CLI_MAX_VALUES + 4];
    char *names[CLI_MAX_VALUES + 4];
    size_t n;
} cli_defines;
/* Collect every value of option `opt` ("define": -D NAME=VALUE); prints a usage error
 * and returns CLI_USAGE on a value without '='. */
int cli_collect_defines(const cli_cmd *cmd, const cli_args *a, const char *opt, const char *unused,
                        cli_defines *d);
void cli_defines_add(cli_defines *d, const char *name, const char *value);
void cli_defines_free(cli_defines *d);

/* The options of the commands that train a graph on a series besides `train` (cv, tune): one
 * table, spliced into each command's own. */
#define CLI_TRAIN_SHARED_OPTS                                                                      \
    {"columns", 0, "all|C1,C2", 0, "columns to train on and score (default all)"},                 \
        {"define", 'D', "NAME=VALUE", 1, "override a graph hparam (repeatable)"},                  \
        {"train", 'T', "KEY=VALUE", 1, "override any key of the graph's train section"},           \
        {"steps", 0, "N", 0, "optimizer steps of each training"},                                  \
        {"batch", 0, "B", 0, "windows per step"}, {"lr", 0, "X", 0, "learning rate"},              \
        {"val-every", 0, "N", 0, "validate every N steps (0: never)"},                             \
        {"fill", 0, "F", 0, "empty or bad cells: error (default), zero, ffill, interpolate"},      \
        {"dates", 0, "M", 0, "strict (default: dates must be valid and increase) or loose"},       \
        {"id-col", 0, "NAME", 0, "long format: the series id column (default unique_id)"},         \
        {"date-col", 0, "NAME", 0, "long format: the date column (default ds)"},                   \
        {"target", 0, "NAME", 0, "long format: the value column (default y)"},                     \
    {                                                                                              \
        "backend", 0, "B", 0, "backend: auto (default), {backends}"                                \
    }
/* The covariate flags of train, cv and tune (the run settings hist_exog, futr_exog, static). */
#define CLI_EXOG_OPTS                                                                              \
    {"hist-exog", 0, "C1,C2", 0,                                                                   \
     "historic covariates: columns known up to the forecast origin (C or C:NORM, NORM zscore, "    \
     "minmax, robust, log, none)"},                                                                \
        {"futr-exog", 0, "C1,C2", 0,                                                               \
         "future-known covariates: columns or calendar:FEATURE (hour_of_day, day_of_week, "        \
         "day_of_month, day_of_year, month_of_year, week_of_year, ...)"},                          \
    {                                                                                              \
        "static", 0, "K=V,..|FILE.csv|columns:C1,..", 0,                                           \
            "static attributes: the same for every column, a CSV with a row per column, or long "  \
            "data's columns constant within each series"                                           \
    }
/* -T KEY=VALUE pairs split: the run settings ntg_train takes (steps, batch, lr, lr_decays,
 * val_every, patience, seed, scaler, window_scaler, hist_exog, futr_exog, static) go to
 * *settings, every other key to *compile (the graph's train section); then the flags --steps,
 * --batch, --lr, --val-every, --hist-exog, --futr-exog, --static (and --seed when with_seed:
 * tune's --seed is the study's) are added to *settings. */
void cli_split_train_keys(const cli_args *a, const cli_defines *tv, cli_defines *settings,
                          cli_defines *compile, int with_seed);
/* Whether `key` is a run setting of ntg_train (above). */
int cli_is_run_key(const char *key);
/* The series reader's options from --fill, --dates, --id-col, --date-col and --target (what a
 * command that reads --data takes; unset flags keep the defaults). */
void cli_series_options(const cli_args *a, ntg_series_options *so);

/* Load a plan file, or a stored version given as store:PATH:NAME@REF (the CLI's one way in). */
ntg_status cli_load_plan(const char *path, ntg_plan **out, ntg_error *err);
/* Split "a,b,c" into at most max pieces (modifies a copy it allocates in *buf). */
int cli_split(const char *s, char sep, char **buf, char **parts, int max);

/* A JSON string literal (escaped; invalid UTF-8 becomes U+FFFD). */
void cli_json_str(FILE *f, const char *s);
/* A CSV field, quoted (RFC 4180) when it holds a comma, quote or line break. */
void cli_csv_field(FILE *f, const char *s);

extern const cli_cmd cli_cmd_compile, cli_cmd_run, cli_cmd_info, cli_cmd_bench, cli_cmd_weights,
    cli_cmd_backends, cli_cmd_grad, cli_cmd_train, cli_cmd_eval;
/* rolling-origin cross-validation (cli/cmd_cv.c) */
extern const cli_cmd cli_cmd_cv;
/* hyperparameter search (cli/cmd_tune.c) */
extern const cli_cmd cli_cmd_tune;

/* the model store (cli/cmd_store.c) */
extern const cli_cmd cli_cmd_store;
/* the data-parallel mesh (cli/cmd_mesh.c) */
extern const cli_cmd cli_cmd_mesh;
/* the forecasting service (cli/cmd_serve.c) */
extern const cli_cmd cli_cmd_serve;

/* `train --mesh`: the worker's place in the mesh, from the launcher's environment and train's
 * flags --mesh, --rank, --world, --rendezvous, --mesh-keys, --mesh-insecure.  Returns CLI_OK
 * with *out NULL when --mesh is not given, CLI_OK with a formed mesh, or an exit status after
 * printing the error.  cli_train_mesh_dp gives what ntg__train_dp_run takes. */
typedef struct cli_train_mesh cli_train_mesh;
int cli_train_mesh_open(const cli_cmd *cmd, const cli_args *a, cli_train_mesh **out);
struct ntg__train_dp;
const struct ntg__train_dp *cli_train_mesh_dp(const cli_train_mesh *m);
int cli_train_mesh_rank(const cli_train_mesh *m);
int cli_train_mesh_world(const cli_train_mesh *m);
/* Wall time this worker spent in the steps' all-reduces and broadcasts (waiting for the others
 * included; the start's synchronisation, and a re-form's, left out). */
double cli_train_mesh_comm_seconds(const cli_train_mesh *m);
/* Where a step's time went on this worker, averaged over the steps from the first to the last
 * one begun: wall time, computing, waiting for the gradient all-reduce, broadcasts, how long the
 * ring worked on all-reduces (the mesh's own timer), and CPU time of the training thread and of
 * the others; one line, "" before two steps. */
void cli_train_mesh_summary(const cli_train_mesh *m, char *out, size_t cap);
void cli_train_mesh_close(cli_train_mesh *m);

#endif /* NTG_CLI_H */
