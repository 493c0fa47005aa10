/* args.c — command-line parsing shared by the subcommands (long/short options, --help). */
#include <errno.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cli.h"
#include "json.h"
#include "plan_int.h"
#include "store.h"

static int find_long(const cli_cmd *cmd, const char *name, size_t len)
{
    for (int i = 0; i < cmd->n_opts; i++)
        if (strlen(cmd->opts[i].name) == len && strncmp(cmd->opts[i].name, name, len) == 0)
            return i;
    return -1;
}

static int find_short(const cli_cmd *cmd, char c)
{
    for (int i = 0; i < cmd->n_opts; i++)
        if (cmd->opts[i].short_name == c) return i;
    return -1;
}

int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "ntgraph %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: %s\nSee 'ntgraph %s --help'.\n", cmd->usage, cmd->name);
    return CLI_USAGE;
}

static int store(const cli_cmd *cmd, cli_args *a, int i, const char *v)
{
    if (a->n_values[i] > 0 && !cmd->opts[i].repeat)
        return cli_usage_error(cmd, "option '--%s' given twice", cmd->opts[i].name);
    if (a->n_values[i] >= CLI_MAX_VALUES)
        return cli_usage_error(cmd, "option '--%s' given too often", cmd->opts[i].name);
    a->values[i][a->n_values[i]++] = v;
    a->value[i] = v;
    return 0;
}

int cli_parse(const cli_cmd *cmd, int argc, char **argv, cli_args *a)
{
    memset(a, 0, sizeof *a);
    if (cmd->n_opts < 0 || cmd->n_opts > CLI_MAX_OPTS) {
        /* a command table outgrew cli_args: refuse rather than write past its arrays */
        fprintf(stderr, "ntgraph %s: internal error: %d options, at most %d fit (CLI_MAX_OPTS)\n",
                cmd->name, cmd->n_opts, CLI_MAX_OPTS);
        return 1;
    }
    a->opts = cmd->opts;
    a->n_opts = cmd->n_opts;
    int only_pos = 0;
    for (int k = 0; k < argc; k++) {
        char *arg = argv[k];
        if (only_pos || arg[0] != '-' || arg[1] == '\0') {
            if (a->n_pos >= CLI_MAX_POS) return cli_usage_error(cmd, "too many arguments");
            a->pos[a->n_pos++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            a->help = 1;
            continue;
        }
        int i;
        const char *inline_val = NULL;
        if (arg[1] == '-') {
            const char *name = arg + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            i = find_long(cmd, name, len);
            if (i < 0) return cli_usage_error(cmd, "unknown option '--%.*s'", (int)len, name);
            if (eq) inline_val = eq + 1;
        } else {
            i = find_short(cmd, arg[1]);
            if (i < 0) return cli_usage_error(cmd, "unknown option '-%c'", arg[1]);
            if (arg[2]) inline_val = arg + 2; /* -DNAME=VALUE, -oPLAN */
        }
        const cli_opt *o = &cmd->opts[i];
        if (!o->metavar) {
            if (inline_val) return cli_usage_error(cmd, "option '--%s' takes no value", o->name);
            if (store(cmd, a, i, "1")) return CLI_USAGE;
            continue;
        }
        if (!inline_val) {
            if (k + 1 >= argc)
                return cli_usage_error(cmd, "option '--%s' needs a value (%s)", o->name,
                                       o->metavar);
            inline_val = argv[++k];
        }
        if (store(cmd, a, i, inline_val)) return CLI_USAGE;
    }
    return 0;
}

static int index_of(const cli_args *a, const char *name)
{
    for (int i = 0; i < a->n_opts; i++)
        if (strcmp(a->opts[i].name, name) == 0) return i;
    return -1;
}

const char *cli_get(const cli_args *a, const char *name)
{
    int i = index_of(a, name);
    return i >= 0 ? a->value[i] : NULL;
}

int cli_flag(const cli_args *a, const char *name)
{
    return cli_get(a, name) != NULL;
}

int cli_get_all(const cli_args *a, const char *name, const char ***values)
{
    int i = index_of(a, name);
    if (i < 0) return 0;
    *values = (const char **)a->values[i];
    return a->n_values[i];
}

int cli_int(const cli_cmd *cmd, const cli_args *a, const char *name, long lo, long hi, long *out)
{
    const char *v = cli_get(a, name);
    if (!v) return 0;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        cli_usage_error(cmd, "--%s expects an integer in %ld..%ld, not '%s'", name, lo, hi, v);
        return -1;
    }
    *out = x;
    return 1;
}

int cli_double(const cli_cmd *cmd, const cli_args *a, const char *name, double lo, double hi,
               double *out)
{
    const char *v = cli_get(a, name);
    if (!v) return 0;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi)) {
        cli_usage_error(cmd, "--%s expects a number in %g..%g, not '%s'", name, lo, hi, v);
        return -1;
    }
    *out = x;
    return 1;
}

/* An option's help with "{backends}" replaced by the backends compiled into this build, in
 * the order `auto` tries them, so the text never names one the build lacks. */
static void put_help(FILE *f, const char *help)
{
    const char *at = strstr(help, "{backends}");
    if (!at) {
        fputs(help, f);
        return;
    }
    fwrite(help, 1, (size_t)(at - help), f);
    size_t n;
    const ntg_backend_class *const *all = ntg__backends(&n);
    for (size_t i = 0; i < n; i++) fprintf(f, "%s%s", i ? ", " : "", all[i]->name);
    fputs(at + strlen("{backends}"), f);
}

void cli_help(const cli_cmd *cmd, FILE *f)
{
    fprintf(f, "usage: %s\n\n%s\n", cmd->usage, cmd->description);
    if (cmd->n_opts == 0) return;
    fprintf(f, "\nOptions:\n");
    for (int i = 0; i < cmd->n_opts; i++) {
        const cli_opt *o = &cmd->opts[i];
        char lhs[64];
        if (o->short_name)
            snprintf(lhs, sizeof lhs, "-%c, --%s%s%s", o->short_name, o->name,
                     o->metavar ? " " : "", o->metavar ? o->metavar : "");
        else
            snprintf(lhs, sizeof lhs, "    --%s%s%s", o->name, o->metavar ? " " : "",
                     o->metavar ? o->metavar : "");
        fprintf(f, "    %-28s ", lhs);
        put_help(f, o->help);
        fputc('\n', f);
    }
    fprintf(f, "    %-28s %s\n", "-h, --help", "show this help");
}

/* errno values that mean the machine failed, not that the user named a bad file. */
static int machine_errno(int e)
{
    switch (e) {
    case ENOSPC:
    case EDQUOT:
    case EIO:
    case EROFS:
    case EFBIG:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
        return 1;
    default:
        return 0;
    }
}

int cli_exit_code(ntg_status st, const ntg_error *err)
{
    switch (st) {
    case NTG_OK:
        return CLI_OK;
    case NTG_ERR_NOMEM:
    case NTG_ERR_BACKEND:
    case NTG_ERR_INTERNAL:
    case NTG_ERR_PEER_LOST:
        return CLI_FAIL;
    case NTG_ERR_IO:
        /* a full disk or a failing device is the machine's failure (1); a path that does
         * not exist, is a directory or may not be read is the user's (2) */
        return err && machine_errno(err->os_errno) ? CLI_FAIL : CLI_USAGE;
    default:
        return CLI_USAGE;
    }
}

int cli_fail(const cli_cmd *cmd, ntg_status st, const ntg_error *err)
{
    fprintf(stderr, "ntgraph %s: error: %s\n", cmd->name,
            err && err->message[0] ? err->message : ntg_strerror(st));
    return cli_exit_code(st, err);
}

ntg_status cli_load_plan(const char *path, ntg_plan **out, ntg_error *err)
{
    /* store:PATH:NAME@REF — a version in a model store (opened as a reader) */
    if (strncmp(path, "store:", 6) == 0) return ntg__store_load_spec(path, out, err);
    return ntg_plan_load_file(path, out, err);
}

int cli_split(const char *s, char sep, char **buf, char **parts, int max)
{
    size_t n = strlen(s);
    *buf = malloc(n + 1);
    if (!*buf) return -1;
    memcpy(*buf, s, n + 1);
    int k = 0;
    char *p = *buf;
    while (k < max) {
        parts[k++] = p;
        char *q = strchr(p, sep);
        if (!q) return k;
        *q = '\0';
        p = q + 1;
    }
    return -1; /* too many */
}

void cli_json_str(FILE *f, const char *s)
{
    ntg__json_put_string(f, s);
}

void cli_csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int cli_collect_defines(const cli_cmd *cmd, const cli_args *a, const char *opt, const char *unused,
                        cli_defines *d)
{
    (void)unused;
    memset(d, 0, sizeof *d);
    const char **vals;
    int n = cli_get_all(a, opt, &vals);
    for (int i = 0; i < n; i++) {
        const char *eq = strchr(vals[i], '=');
        if (!eq || eq == vals[i]) {
            cli_defines_free(d);
            return cli_usage_error(cmd, "--%s expects NAME=VALUE, not '%s'", opt, vals[i]);
        }
        char *name = malloc((size_t)(eq - vals[i]) + 1);
        if (!name) {
            cli_defines_free(d);
            return CLI_FAIL;
        }
        memcpy(name, vals[i], (size_t)(eq - vals[i]));
        name[eq - vals[i]] = '\0';
        d->names[d->n] = name;
        d->v[d->n].name = name;
        d->v[d->n].value = eq + 1;
        d->n++;
    }
    return 0;
}

void cli_defines_add(cli_defines *d, const char *name, const char *value)
{
    if (d->n >= sizeof d->v / sizeof d->v[0]) return;
    d->names[d->n] = NULL;
    d->v[d->n].name = name;
    d->v[d->n].value = value;
    d->n++;
}

void cli_defines_free(cli_defines *d)
{
    for (size_t i = 0; i < d->n; i++) free(d->names[i]);
    d->n = 0;
}

int cli_is_run_key(const char *key)
{
    static const char *const run_keys[] = {"steps",         "batch",     "lr",        "lr_decays",
                                           "val_every",     "patience",  "seed",      "scaler",
                                           "window_scaler", "hist_exog", "futr_exog", "static"};
    for (size_t k = 0; k < sizeof run_keys / sizeof run_keys[0]; k++)
        if (strcmp(key, run_keys[k]) == 0) return 1;
    return 0;
}

void cli_split_train_keys(const cli_args *a, const cli_defines *tv, cli_defines *settings,
                          cli_defines *compile, int with_seed)
{
    for (size_t i = 0; i < tv->n; i++)
        cli_defines_add(cli_is_run_key(tv->v[i].name) ? settings : compile, tv->v[i].name,
                        tv->v[i].value);
    static const char *const flag_keys[][2] = {{"steps", "steps"},
                                               {"batch", "batch"},
                                               {"lr", "lr"},
                                               {"val-every", "val_every"},
                                               {"hist-exog", "hist_exog"},
                                               {"futr-exog", "futr_exog"},
                                               {"static", "static"},
                                               {"seed", "seed"}};
    for (size_t k = 0; k < sizeof flag_keys / sizeof flag_keys[0] - !with_seed; k++)
        if (cli_get(a, flag_keys[k][0]))
            cli_defines_add(settings, flag_keys[k][1], cli_get(a, flag_keys[k][0]));
}

void cli_series_options(const cli_args *a, ntg_series_options *so)
{
    ntg_series_options_init(so);
    so->fill = cli_get(a, "fill");
    so->dates = cli_get(a, "dates");
    so->id_col = cli_get(a, "id-col");
    so->date_col = cli_get(a, "date-col");
    so->target = cli_get(a, "target");
}
