/* cmd_store.c — `ntgraph store ...`: the model store from the shell, and `train --store` glue. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ntg_error.h"
#include "json.h"
#include "safetensors.h"

static const cli_opt store_opts[] = {
    {"db", 0, "PATH", 0, "the store directory (default ./ntgraph.db)"},
    {"json", 0, NULL, 0, "print JSON (list, versions, show, checkpoints, similar, verify, alias)"},
    {"kind", 0, "K", 0, "list/similar: only this model kind; import: the version's kind"},
    {"tag", 't', "KEY=VALUE", 1, "list/similar: only versions with this tag; import: tag it"},
    {"alias", 'a', "A", 1, "list/similar: only what alias A names; import: move A to it"},
    {"prefix", 0, "P", 0, "list: only models whose name starts with P"},
    {"min-params", 0, "N", 0, "list/similar: at least N parameter elements"},
    {"max-params", 0, "N", 0, "list/similar: at most N parameter elements"},
    {"created-after", 0, "T", 0, "list/similar: created at or after T (YYYY-MM-DD[THH:MM[:SS]])"},
    {"created-before", 0, "T", 0, "list/similar: created before T"},
    {"all", 0, NULL, 0, "list: every matching version, not only the newest per model"},
    {"output", 'o', "FILE", 0, "export: plan.bin, or the weights when FILE ends in .safetensors"},
    {"name", 0, "NAME", 0, "import: the model to add a version to"},
    {"description", 0, "TEXT", 0, "import: a description of the version"},
    {"remove", 0, NULL, 0, "tag: remove the KEYs; alias: remove ALIAS"},
    {"top", 'k', "N", 0, "similar: how many (default 10)"},
};

/* Which options each subcommand takes (a subcommand refuses the others). */
typedef struct sub {
    const char *name;
    const char *opts; /* space-separated */
    int writes;       /* opens the store for writing */
} sub;

static const sub subs[] = {
    {"list", "db json kind tag alias prefix min-params max-params created-after created-before all",
     0},
    {"versions", "db json", 0},
    {"show", "db json", 0},
    {"checkpoints", "db json", 0},
    {"similar",
     "db json kind tag alias prefix min-params max-params created-after created-before top", 0},
    {"export", "db output", 0},
    {"verify", "db json", 0},
    {"tag", "db remove", 1},
    {"alias", "db remove json", 1},
    {"import", "db name kind tag alias description", 1},
    {"gc", "db", 1},
    {"backup", "db", 1},
};

static int allowed(const sub *sc, const char *opt)
{
    size_t n = strlen(opt);
    for (const char *p = sc->opts; *p;) {
        const char *e = strchr(p, ' ');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, opt, n) == 0) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ times */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

/* "YYYY-MM-DD[THH:MM[:SS]][Z]" (UTC) or seconds since 1970 -> milliseconds; -1 when bad. */
static int64_t parse_time(const char *s)
{
    int all_digits = *s != 0;
    for (const char *p = s; *p; p++) all_digits &= isdigit((unsigned char)*p) != 0;
    if (all_digits) return (int64_t)strtoll(s, NULL, 10) * 1000;
    int y, mo, d, h = 0, mi = 0, se = 0, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3) return -1;
    const char *p = s + n;
    if (*p == 'T' || *p == ' ') {
        int m2 = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &m2) != 2) return -1;
        p += 1 + m2;
        if (*p == ':') {
            int m3 = 0;
            if (sscanf(p + 1, "%2d%n", &se, &m3) != 1) return -1;
            p += 1 + m3;
        }
    }
    if (*p == 'Z') p++;
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return -1;
    long long days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    return (int64_t)((days * 86400 + h * 3600 + mi * 60 + se) * 1000);
}

static void fmt_time(int64_t ms, char *buf, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, cap, "?");
}

/* ------------------------------------------------------------------ output */

static void json_pairs(FILE *f, const ntg_define *d, size_t n)
{
    fputc('{', f);
    for (size_t i = 0; i < n; i++) {
        if (i) fputc(',', f);
        ntg__json_put_string(f, d[i].name);
        fputc(':', f);
        ntg__json_put_string(f, d[i].value);
    }
    fputc('}', f);
}

static void json_metrics(FILE *f, const ntg_store_metric *m, size_t n)
{
    fputc('{', f);
    for (size_t i = 0; i < n; i++) {
        if (i) fputc(',', f);
        ntg__json_put_string(f, m[i].name);
        fputc(':', f);
        ntg__json_put_number(f, m[i].value);
    }
    fputc('}', f);
}

static void json_version(FILE *f, const ntg_store_version *v)
{
    char t[32];
    fmt_time(v->created_ms, t, sizeof t);
    fprintf(f, "{\"name\":");
    ntg__json_put_string(f, v->name);
    fprintf(f, ",\"version\":%llu,\"kind\":", (unsigned long long)v->version);
    ntg__json_put_string(f, v->kind);
    fprintf(f, ",\"description\":");
    ntg__json_put_string(f, v->description);
    fprintf(f, ",\"created\":\"%s\",\"created_ms\":%lld,\"parent\":", t, (long long)v->created_ms);
    if (v->parent)
        fprintf(f, "%llu", (unsigned long long)v->parent);
    else
        fprintf(f, "null");
    fprintf(f,
            ",\"plan_hash\":\"%s\",\"plan_bytes\":%llu,\"param_elements\":%llu,"
            "\"weight_bytes\":%llu,\"data_sha256\":",
            v->plan_hash, (unsigned long long)v->plan_bytes, (unsigned long long)v->param_elements,
            (unsigned long long)v->weight_bytes);
    ntg__json_put_string(f, v->data_sha256);
    fprintf(f, ",\"data_split\":");
    ntg__json_put_string(f, v->data_split);
    fprintf(f, ",\"metrics\":");
    json_metrics(f, v->metrics, v->n_metrics);
    fprintf(f, ",\"hparams\":");
    json_pairs(f, v->hparams, v->n_hparams);
    fprintf(f, ",\"tags\":");
    json_pairs(f, v->tags, v->n_tags);
    fprintf(f, ",\"model_tags\":");
    json_pairs(f, v->model_tags, v->n_model_tags);
    fprintf(f, ",\"aliases\":[");
    for (size_t i = 0; i < v->n_aliases; i++) {
        if (i) fputc(',', f);
        ntg__json_put_string(f, v->aliases[i]);
    }
    fmt_time(v->model_created_ms, t, sizeof t);
    fprintf(f, "],\"model_versions\":%llu,\"model_created\":\"%s\",\"model_description\":",
            (unsigned long long)v->model_versions, t);
    ntg__json_put_string(f, v->model_description);
    if (!isnan(v->score)) {
        fprintf(f, ",\"score\":");
        ntg__json_put_number(f, v->score);
    }
    if (v->tensors) {
        fprintf(f, ",\"tensors\":[");
        for (size_t i = 0; i < v->n_tensors; i++) {
            const ntg_store_tensor *t2 = &v->tensors[i];
            fprintf(f, "%s{\"name\":", i ? "," : "");
            ntg__json_put_string(f, t2->name);
            fprintf(f, ",\"role\":\"%s\",\"shape\":[",
                    t2->role == NTG_ROLE_PARAM ? "param" : "const");
            for (int d = 0; d < t2->rank; d++)
                fprintf(f, "%s%lld", d ? "," : "", (long long)t2->shape[d]);
            fprintf(f, "],\"bytes\":%llu,\"hash\":\"%s\"}", (unsigned long long)t2->nbytes,
                    t2->hash);
        }
        fputc(']', f);
    }
    fputc('}', f);
}

static void join_aliases(const ntg_store_version *v, char *buf, size_t cap)
{
    size_t at = 0;
    buf[0] = 0;
    for (size_t i = 0; i < v->n_aliases && at + 1 < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%s", i ? "," : "", v->aliases[i]);
}

static void print_list(const ntg_store_list *l, int json, int scores)
{
    size_t n = ntg_store_list_count(l);
    if (json) {
        putchar('[');
        for (size_t i = 0; i < n; i++) {
            if (i) putchar(',');
            json_version(stdout, ntg_store_list_at(l, i));
        }
        printf("]\n");
        return;
    }
    if (scores) printf("%-8s ", "SCORE");
    printf("%-24s %7s  %-16s %12s  %-20s  %s\n", "NAME", "VERSION", "KIND", "PARAMS", "CREATED",
           "ALIASES");
    for (size_t i = 0; i < n; i++) {
        const ntg_store_version *v = ntg_store_list_at(l, i);
        char t[32], al[256];
        fmt_time(v->created_ms, t, sizeof t);
        join_aliases(v, al, sizeof al);
        if (scores) printf("%-8.4f ", v->score);
        printf("%-24s %7llu  %-16s %12llu  %-20s  %s\n", v->name, (unsigned long long)v->version,
               v->kind[0] ? v->kind : "-", (unsigned long long)v->param_elements, t, al);
    }
}

static void print_show(const ntg_store_version *v)
{
    char t[32], al[256];
    fmt_time(v->created_ms, t, sizeof t);
    join_aliases(v, al, sizeof al);
    printf("model:       %s\nversion:     %llu of %llu\n", v->name, (unsigned long long)v->version,
           (unsigned long long)v->model_versions);
    if (v->model_description[0]) printf("about:       %s\n", v->model_description);
    printf("kind:        %s\n", v->kind[0] ? v->kind : "-");
    if (v->description[0]) printf("description: %s\n", v->description);
    printf("created:     %s\naliases:     %s\n", t, al[0] ? al : "-");
    if (v->parent)
        printf("parent:      %s@%llu\n", v->name, (unsigned long long)v->parent);
    else
        printf("parent:      -\n");
    printf("plan:        %llu bytes, hash %s\n", (unsigned long long)v->plan_bytes, v->plan_hash);
    printf("parameters:  %llu elements; %zu tensors, %llu bytes\n",
           (unsigned long long)v->param_elements, v->n_tensors,
           (unsigned long long)v->weight_bytes);
    if (v->data_sha256[0])
        printf("data:        sha256 %s, split %s\n", v->data_sha256,
               v->data_split[0] ? v->data_split : "-");
    if (v->n_hparams) {
        printf("hparams:    ");
        for (size_t i = 0; i < v->n_hparams; i++)
            printf(" %s=%s", v->hparams[i].name, v->hparams[i].value);
        printf("\n");
    }
    if (v->n_metrics) {
        printf("metrics:    ");
        for (size_t i = 0; i < v->n_metrics; i++)
            printf(" %s=%.6g", v->metrics[i].name, v->metrics[i].value);
        printf("\n");
    }
    if (v->n_tags || v->n_model_tags) {
        printf("tags:       ");
        for (size_t i = 0; i < v->n_tags; i++) printf(" %s=%s", v->tags[i].name, v->tags[i].value);
        for (size_t i = 0; i < v->n_model_tags; i++)
            printf(" %s=%s (model)", v->model_tags[i].name, v->model_tags[i].value);
        printf("\n");
    }
    printf("tensors:\n");
    for (size_t i = 0; i < v->n_tensors; i++) {
        const ntg_store_tensor *t2 = &v->tensors[i];
        char shape[96];
        size_t at = 0;
        shape[0] = 0;
        for (int d = 0; d < t2->rank && at + 1 < sizeof shape; d++)
            at += (size_t)snprintf(shape + at, sizeof shape - at, "%s%lld", d ? "x" : "",
                                   (long long)t2->shape[d]);
        printf("  %-40s %-5s %-14s %10llu  %.16s\n", t2->name,
               t2->role == NTG_ROLE_PARAM ? "param" : "const", t2->rank ? shape : "scalar",
               (unsigned long long)t2->nbytes, t2->hash);
    }
}

/* ------------------------------------------------------------------ filters */

typedef struct filter_buf {
    ntg_store_filter f;
    ntg_define tags[CLI_MAX_VALUES];
    char *names[CLI_MAX_VALUES];
} filter_buf;

static void filter_free(filter_buf *fb)
{
    for (size_t i = 0; i < fb->f.n_tags; i++) free(fb->names[i]);
}

static int split_kv(const cli_cmd *cmd, const char *s, char **name, const char **value)
{
    const char *eq = strchr(s, '=');
    if (!eq || eq == s) return cli_usage_error(cmd, "expected KEY=VALUE, not '%s'", s);
    *name = malloc((size_t)(eq - s) + 1);
    if (!*name) return CLI_FAIL;
    memcpy(*name, s, (size_t)(eq - s));
    (*name)[eq - s] = 0;
    *value = eq + 1;
    return 0;
}

static int make_filter(const cli_cmd *cmd, const cli_args *a, filter_buf *fb)
{
    memset(fb, 0, sizeof *fb);
    ntg_store_filter_init(&fb->f);
    fb->f.kind = cli_get(a, "kind");
    fb->f.name_prefix = cli_get(a, "prefix");
    fb->f.all_versions = cli_flag(a, "all");
    const char **al;
    int na = cli_get_all(a, "alias", &al);
    if (na > 1) return cli_usage_error(cmd, "give --alias once");
    fb->f.alias = na ? al[0] : NULL;
    const char **tv;
    int nt = cli_get_all(a, "tag", &tv);
    for (int i = 0; i < nt; i++) {
        char *name = NULL;
        const char *value = NULL;
        int rc = split_kv(cmd, tv[i], &name, &value);
        if (rc) return rc;
        fb->names[i] = name;
        fb->tags[i] = (ntg_define){name, value};
        fb->f.n_tags = (size_t)i + 1;
    }
    fb->f.tags = fb->tags;
    long lo = 0, hi = 0;
    if (cli_int(cmd, a, "min-params", 0, 0x7fffffffffffffffL, &lo) < 0 ||
        cli_int(cmd, a, "max-params", 0, 0x7fffffffffffffffL, &hi) < 0)
        return CLI_USAGE;
    fb->f.min_params = (uint64_t)lo;
    fb->f.max_params = (uint64_t)hi;
    const char *ca = cli_get(a, "created-after"), *cb = cli_get(a, "created-before");
    if (ca && (fb->f.created_from = parse_time(ca)) < 0)
        return cli_usage_error(cmd, "--created-after: expected YYYY-MM-DD[THH:MM[:SS]], not '%s'",
                               ca);
    if (cb) {
        int64_t t = parse_time(cb);
        if (t < 0)
            return cli_usage_error(
                cmd, "--created-before: expected YYYY-MM-DD[THH:MM[:SS]], not '%s'", cb);
        fb->f.created_to = t > 1 ? t - 1 : 1; /* strictly before */
    }
    return 0;
}

/* ------------------------------------------------------------------ subcommands */

static ntg_status export_weights(const ntg_plan *plan, const char *out, ntg_error *err)
{
    size_t n = ntg_plan_param_count(plan);
    ntg_st_out *t = calloc(n + 1, sizeof *t);
    int64_t(*shapes)[NTG_MAX_RANK] = calloc(n + 1, sizeof *shapes);
    ntg_status st = NTG_OK;
    if (!t || !shapes) {
        st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    } else {
        for (size_t i = 0; i < n; i++) {
            ntg_tensor_info ti;
            ntg_tensor_info_init(&ti);
            ntg_plan_param(plan, i, &ti, NULL);
            memcpy(shapes[i], ti.shape, sizeof shapes[i]);
            t[i] = (ntg_st_out){ti.name, "F32", ti.rank, shapes[i], ntg_plan_param_data(plan, i)};
        }
        const char *model = ntg_plan_meta(plan, "model.name");
        const char *meta[] = {"producer", "ntgraph " NTG_VERSION_STRING, "model",
                              model ? model : ""};
        st = ntg__st_write(out, t, n, meta, 2, err);
    }
    free(t);
    free(shapes);
    return st;
}

/* 1 when `path` starts like a safetensors file (u64 header length, then '{') and not like a
 * plan ("NTGPLAN"); unreadable files are left to the plan loader's message. */
static int sniff_safetensors(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char b[9];
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    if (n < 9 || memcmp(b, "NTGPLAN", 7) == 0) return 0;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | b[i];
    return b[8] == '{' && hlen >= 2 && hlen < ((uint64_t)1 << 32);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int run_sub(const cli_cmd *cmd, const sub *sc, cli_args *a, ntg_store *s)
{
    ntg_error err;
    ntg_status st = NTG_OK;
    int json = cli_flag(a, "json");
    const char *what = sc->name;
    int np = a->n_pos - 1; /* positionals after the subcommand */
    const char *const *pos = a->pos + 1;
    ntg_store_list *l = NULL;

    if (strcmp(what, "list") == 0 || strcmp(what, "similar") == 0) {
        if (strcmp(what, "list") == 0 ? np != 0 : np != 1)
            return cli_usage_error(cmd, strcmp(what, "list") == 0 ? "list takes no arguments"
                                                                  : "expected similar NAME@REF");
        filter_buf fb;
        int rc = make_filter(cmd, a, &fb);
        if (rc) {
            filter_free(&fb);
            return rc;
        }
        if (strcmp(what, "list") == 0) {
            st = ntg_store_list_versions(s, &fb.f, &l, &err);
        } else {
            long k = 10;
            if (cli_int(cmd, a, "top", 1, 1000000, &k) < 0) {
                filter_free(&fb);
                return CLI_USAGE;
            }
            st = ntg_store_similar(s, pos[0], &fb.f, (size_t)k, &l, &err);
        }
        filter_free(&fb);
        if (!st) print_list(l, json, strcmp(what, "similar") == 0);
    } else if (strcmp(what, "versions") == 0) {
        if (np != 1) return cli_usage_error(cmd, "expected versions NAME");
        ntg_store_filter f;
        ntg_store_filter_init(&f);
        f.name = pos[0];
        f.all_versions = 1;
        uint64_t v;
        /* an unknown model is an error, not an empty list */
        st = ntg_store_resolve(s, pos[0], &v, &err);
        if (st == NTG_ERR_NOT_FOUND && strstr(err.message, "no versions yet")) st = NTG_OK;
        if (!st) st = ntg_store_list_versions(s, &f, &l, &err);
        if (!st) print_list(l, json, 0);
    } else if (strcmp(what, "show") == 0) {
        if (np != 1) return cli_usage_error(cmd, "expected show NAME[@REF]");
        st = ntg_store_show(s, pos[0], &l, &err);
        if (!st && json) {
            json_version(stdout, ntg_store_list_at(l, 0));
            putchar('\n');
        } else if (!st) {
            print_show(ntg_store_list_at(l, 0));
        }
    } else if (strcmp(what, "checkpoints") == 0) {
        if (np != 1) return cli_usage_error(cmd, "expected checkpoints NAME");
        ntg_store_ckpts *c = NULL;
        st = ntg_store_checkpoints(s, pos[0], &c, &err);
        size_t n = ntg_store_ckpts_count(c);
        if (!st && json) putchar('[');
        if (!st && !json)
            printf("%6s %10s %12s %12s  %-20s %12s  %s\n", "ID", "STEP", "TRAIN LOSS", "VAL LOSS",
                   "CREATED", "BYTES", "RUN");
        for (size_t i = 0; !st && i < n; i++) {
            const ntg_store_checkpoint *k = ntg_store_ckpts_at(c, i);
            uint64_t bytes = 0;
            for (size_t b = 0; b < k->n_blobs; b++) bytes += k->blobs[b].nbytes;
            char t[32];
            fmt_time(k->created_ms, t, sizeof t);
            if (json) {
                printf("%s{\"id\":%llu,\"step\":%ld,\"train_loss\":", i ? "," : "",
                       (unsigned long long)k->id, k->step);
                ntg__json_put_number(stdout, k->train_loss);
                printf(",\"val_loss\":");
                ntg__json_put_number(stdout, k->val_loss);
                printf(",\"created\":\"%s\",\"bytes\":%llu,\"metrics\":", t,
                       (unsigned long long)bytes);
                json_metrics(stdout, k->metrics, k->n_metrics);
                printf(",\"meta\":");
                json_pairs(stdout, k->meta, k->n_meta);
                putchar('}');
            } else {
                const char *run = "-", *fin = "";
                for (size_t m = 0; m < k->n_meta; m++) {
                    if (strcmp(k->meta[m].name, "run") == 0) run = k->meta[m].value;
                    if (strcmp(k->meta[m].name, "finished") == 0 &&
                        strcmp(k->meta[m].value, "1") == 0)
                        fin = " (finished)";
                }
                printf("%6llu %10ld %12.6g %12.6g  %-20s %12llu  %s%s\n", (unsigned long long)k->id,
                       k->step, k->train_loss, k->val_loss, t, (unsigned long long)bytes, run, fin);
            }
        }
        if (!st && json) printf("]\n");
        ntg_store_ckpts_destroy(c);
    } else if (strcmp(what, "export") == 0) {
        const char *out = cli_get(a, "output");
        if (np != 1 || !out) return cli_usage_error(cmd, "expected export NAME@REF -o FILE");
        ntg_plan *plan = NULL;
        st = ntg_store_get_plan(s, pos[0], &plan, &err);
        if (!st)
            st = ends_with(out, ".safetensors") ? export_weights(plan, out, &err)
                                                : ntg_plan_save(plan, out, &err);
        ntg_plan_destroy(plan);
    } else if (strcmp(what, "verify") == 0) {
        if (np != 0) return cli_usage_error(cmd, "verify takes no arguments");
        ntg_store_verify_report r;
        ntg_store_verify_report_init(&r);
        st = ntg_store_verify(s, &r, &err);
        if (json) {
            printf("{\"ok\":%s,\"versions\":%llu,\"checkpoints\":%llu,\"chunks\":%llu,"
                   "\"bytes\":%llu,\"bad\":%llu,\"orphans\":%llu,\"first_problem\":",
                   st ? "false" : "true", (unsigned long long)r.versions,
                   (unsigned long long)r.checkpoints, (unsigned long long)r.chunks,
                   (unsigned long long)r.bytes, (unsigned long long)r.bad,
                   (unsigned long long)r.orphans);
            ntg__json_put_string(stdout, r.first_problem);
            printf("}\n");
        } else if (!st) {
            printf("ok: %llu versions, %llu checkpoints, %llu chunks (%.1f MiB) re-read and "
                   "hashed; %llu unreferenced chunk%s (ntgraph store gc removes them)\n",
                   (unsigned long long)r.versions, (unsigned long long)r.checkpoints,
                   (unsigned long long)r.chunks, (double)r.bytes / 1048576.0,
                   (unsigned long long)r.orphans, r.orphans == 1 ? "" : "s");
        }
    } else if (strcmp(what, "tag") == 0) {
        int remove = cli_flag(a, "remove");
        if (np < 2)
            return cli_usage_error(cmd, "expected tag NAME[@REF] KEY=VALUE... or --remove KEY...");
        for (int i = 1; !st && i < np; i++) {
            if (remove) {
                st = ntg_store_tag(s, pos[0], pos[i], NULL, &err);
                continue;
            }
            char *name = NULL;
            const char *value = NULL;
            int rc = split_kv(cmd, pos[i], &name, &value);
            if (rc) return rc;
            st = ntg_store_tag(s, pos[0], name, value, &err);
            free(name);
        }
    } else if (strcmp(what, "alias") == 0) {
        if (cli_flag(a, "remove")) {
            if (np != 2) return cli_usage_error(cmd, "expected alias --remove NAME ALIAS");
            st = ntg_store_alias_remove(s, pos[0], pos[1], &err);
        } else if (np == 2) {
            st = ntg_store_alias_set(s, pos[0], pos[1], &err);
        } else if (np == 1 && !strchr(pos[0], '@')) {
            ntg_store_filter f;
            ntg_store_filter_init(&f);
            f.name = pos[0];
            f.all_versions = 1;
            uint64_t v;
            st = ntg_store_resolve(s, pos[0], &v, &err);
            if (st == NTG_ERR_NOT_FOUND && strstr(err.message, "no versions yet")) st = NTG_OK;
            if (!st) st = ntg_store_list_versions(s, &f, &l, &err);
            if (!st && json) putchar('{');
            int first = 1;
            for (size_t i = 0; !st && i < ntg_store_list_count(l); i++) {
                const ntg_store_version *x = ntg_store_list_at(l, i);
                for (size_t j = 0; j < x->n_aliases; j++) {
                    if (json) {
                        printf("%s", first ? "" : ",");
                        ntg__json_put_string(stdout, x->aliases[j]);
                        printf(":%llu", (unsigned long long)x->version);
                    } else {
                        printf("%-20s %s@%llu\n", x->aliases[j], x->name,
                               (unsigned long long)x->version);
                    }
                    first = 0;
                }
            }
            if (!st && json) printf("}\n");
        } else {
            return cli_usage_error(cmd, "expected alias NAME@REF ALIAS, alias --remove NAME ALIAS "
                                        "or alias NAME");
        }
    } else if (strcmp(what, "import") == 0) {
        const char *name = cli_get(a, "name");
        if (np != 1 || !name) return cli_usage_error(cmd, "expected import --name NAME FILE");
        ntg_store_put_options o;
        ntg_store_put_options_init(&o);
        o.kind = cli_get(a, "kind");
        o.description = cli_get(a, "description");
        const char **al, **tv;
        o.n_aliases = (size_t)cli_get_all(a, "alias", &al);
        o.aliases = al;
        int nt = cli_get_all(a, "tag", &tv);
        ntg_define tags[CLI_MAX_VALUES];
        char *names[CLI_MAX_VALUES];
        int rc = 0;
        for (int i = 0; !rc && i < nt; i++) {
            const char *value = NULL;
            rc = split_kv(cmd, tv[i], &names[i], &value);
            if (!rc) tags[o.n_tags++] = (ntg_define){names[i], value};
        }
        o.tags = tags;
        uint64_t v = 0;
        if (!rc) {
            /* by content, not by name: a safetensors file under another extension */
            if (sniff_safetensors(pos[0])) {
                st = ntg_store_put_safetensors(s, name, pos[0], &o, &v, &err);
            } else {
                ntg_plan *plan = NULL;
                st = cli_load_plan(pos[0], &plan, &err);
                if (!st) st = ntg_store_put(s, name, plan, &o, &v, &err);
                ntg_plan_destroy(plan);
            }
        }
        for (size_t i = 0; i < o.n_tags; i++) free(names[i]);
        if (rc) return rc;
        /* ntg_store_put returns after the synced commit: the number is durable */
        if (!st) printf("%llu\n", (unsigned long long)v);
    } else if (strcmp(what, "gc") == 0) {
        if (np != 0) return cli_usage_error(cmd, "gc takes no arguments");
        ntg_store_gc_report r;
        ntg_store_gc_report_init(&r);
        st = ntg_store_gc(s, &r, &err);
        if (!st)
            printf("removed %llu unreferenced chunk%s (%.1f MiB); %llu chunks (%.1f MiB) in "
                   "use\n",
                   (unsigned long long)r.chunks_removed, r.chunks_removed == 1 ? "" : "s",
                   (double)r.bytes_removed / 1048576.0, (unsigned long long)r.chunks_kept,
                   (double)r.bytes_kept / 1048576.0);
    } else if (strcmp(what, "backup") == 0) {
        if (np != 1) return cli_usage_error(cmd, "expected backup DIR");
        st = ntg_store_backup(s, pos[0], &err);
        if (!st)
            printf("backed up %s to %s\n", cli_get(a, "db") ? cli_get(a, "db") : "ntgraph.db",
                   pos[0]);
    }
    ntg_store_list_destroy(l);
    if (st) return cli_fail(cmd, st, &err);
    return CLI_OK;
}

static int store_run(const cli_cmd *cmd, cli_args *a)
{
    if (a->n_pos < 1) return cli_usage_error(cmd, "expected a subcommand");
    const sub *sc = NULL;
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (strcmp(subs[i].name, a->pos[0]) == 0) sc = &subs[i];
    if (!sc) return cli_usage_error(cmd, "unknown subcommand '%s'", a->pos[0]);
    for (int i = 0; i < a->n_opts; i++)
        if (a->n_values[i] && !allowed(sc, a->opts[i].name))
            return cli_usage_error(cmd, "'store %s' does not take --%s", sc->name, a->opts[i].name);
    const char *db = cli_get(a, "db");
    ntg_store_options o;
    ntg_store_options_init(&o);
    /* readers open a RocksDB secondary: they never wait for, nor block, a writer */
    if (!sc->writes) o.flags = NTG_STORE_OPEN_READONLY;
    if (strcmp(sc->name, "import") != 0 && sc->writes) o.flags = NTG_STORE_OPEN_NO_CREATE;
    ntg_store *s = NULL;
    ntg_error err;
    ntg_status st = ntg_store_open(db ? db : "ntgraph.db", &o, &s, &err);
    if (st) return cli_fail(cmd, st, &err);
    int rc = run_sub(cmd, sc, a, s);
    ntg_store_close(s);
    return rc;
}

const cli_cmd cli_cmd_store = {
    "store",
    "The model store: versions, aliases, tags, checkpoints, search",
    "ntgraph store list|versions|show|checkpoints|similar|export|verify|tag|alias|import|gc|"
    "backup [ARGS] [--db PATH] [--json]",
    "A model store is a RocksDB database (default ./ntgraph.db) of models, their numbered\n"
    "versions (plan, weights, hparams, metrics, lineage), aliases, tags and training\n"
    "checkpoints. References: NAME (its latest), NAME@7, NAME@ALIAS.\n"
    "\n"
    "  list [filters] [--all]            the newest matching version of each model\n"
    "  versions NAME                     every version of a model\n"
    "  show NAME[@REF]                   one version: lineage, metrics, hparams, tensors\n"
    "  checkpoints NAME                  training checkpoints of a model\n"
    "  similar NAME@REF [-k N] [filters] the most similar versions (cosine of embeddings)\n"
    "  export NAME@REF -o FILE           a plan.bin, or weights when FILE is .safetensors\n"
    "  import --name NAME FILE           a new version from a plan.bin, or from weights\n"
    "                                    (safetensors, told by content) on the model's\n"
    "                                    latest plan, without its metrics; prints the\n"
    "                                    version number once the commit is durable\n"
    "  tag NAME[@REF] KEY=VALUE...       tag a version (or, without @REF, the model);\n"
    "                                    --remove KEY... removes tags\n"
    "  alias NAME@REF ALIAS              point ALIAS at a version; --remove NAME ALIAS;\n"
    "                                    alias NAME lists them ('latest' is automatic)\n"
    "  gc                                delete chunks no version or checkpoint uses\n"
    "  backup DIR                        a consistent copy of the store in a new DIR\n"
    "  verify                            re-read every chunk and check every hash\n"
    "\n"
    "Filters: --kind K, --tag KEY=VALUE (repeatable), --alias A, --prefix P,\n"
    "--min-params N, --max-params N, --created-after T, --created-before T.\n"
    "Reading commands work while another process writes. Plans in a store can be used\n"
    "wherever a plan path is accepted: store:PATH:NAME@REF.",
    store_opts,
    (int)(sizeof store_opts / sizeof store_opts[0]),
    store_run,
};
