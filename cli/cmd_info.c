/* cmd_info.c — `ntgraph info`: everything a plan file holds, as text or JSON. */
#include <inttypes.h>
#include <string.h>

#include "cli.h"
#include "ops.h"
#include "plan_int.h"
#include "series.h"

static const cli_opt opts[] = {
    {"json", 0, NULL, 0, "print one JSON object instead of text"},
};

static const char *section_name(uint32_t kind)
{
    static const char *const names[] = {"?",        "info",    "strings",  "meta",
                                        "tensors",  "ops",     "operands", "attrs",
                                        "programs", "indices", "weights"};
    return kind <= NTG_SEC_MAX ? names[kind] : "unknown";
}

static const char *role_name(int r)
{
    static const char *const names[] = {"activation", "input", "output", "param",
                                        "const",      "grad",  "state",  "loss"};
    return r >= 0 && r <= NTG_ROLE_LOSS ? names[r] : "?";
}

static const char *storage_name(int s)
{
    static const char *const names[] = {"none", "arena", "weights", "state"};
    return s >= 0 && s < NTG_STORE_COUNT ? names[s] : "?";
}

static const char *human(uint64_t b, char *buf, size_t cap)
{
    if (b >= 1u << 20)
        snprintf(buf, cap, "%.2f MiB", (double)b / 1048576.0);
    else if (b >= 1u << 10)
        snprintf(buf, cap, "%.1f KiB", (double)b / 1024.0);
    else
        snprintf(buf, cap, "%" PRIu64 " B", b);
    return buf;
}

static void shape_str(const ntg_tensor_rec *t, char *buf, size_t cap)
{
    ntg_tdesc d;
    ntg__tdesc_from_rec(t, &d);
    ntg__tdesc_str(&d, buf, cap);
}

/* The metadata pairs whose key starts with `prefix` (prefix dropped) on lines that start
 * with `label`, wrapped before 100 columns; nothing when there are none. */
static void print_pairs(const ntg_plan *p, const char *label, const char *prefix)
{
    size_t pl = strlen(prefix), col = 0;
    for (uint32_t m = 0; m < p->img.n_meta; m++) {
        const char *k = ntg__plan_str(p, p->img.meta[m].key);
        if (strncmp(k, prefix, pl) != 0) continue;
        const char *v = ntg__plan_str(p, p->img.meta[m].value);
        size_t w = strlen(k + pl) + strlen(v) + 2;
        if (col == 0) {
            printf("%-12s", label);
            col = 12;
        } else if (col + w > 100) {
            printf("\n%-12s", "");
            col = 12;
        }
        printf(" %s=%s", k + pl, v);
        col += w;
    }
    if (col) printf("\n");
}

/* What training left in the plan: the run's summary and the fitted scaler, per column. */
static void print_training(const ntg_plan *p)
{
    const char *steps = ntg_plan_meta(p, "trained.steps");
    if (steps) {
        const char *best = ntg_plan_meta(p, "trained.best_step"),
                   *val = ntg_plan_meta(p, "trained.best_val_loss"),
                   *loss = ntg_plan_meta(p, "trained.final_train_loss"),
                   *early = ntg_plan_meta(p, "trained.stopped_early"),
                   *secs = ntg_plan_meta(p, "trained.seconds");
        printf("trained:     %s steps in %s s, final train loss %s", steps, secs ? secs : "?",
               loss ? loss : "?");
        if (best && strcmp(best, "0") != 0)
            printf(", best val loss %s at step %s", val ? val : "?", best);
        if (early && strcmp(early, "1") == 0) printf(", stopped early (best weights kept)");
        printf("\n");
    }
    const char *keys[NTG_SCALER_META_KEYS], *vals[NTG_SCALER_META_KEYS];
    size_t n = 0;
    for (uint32_t m = 0; m < p->img.n_meta && n < NTG_SCALER_META_KEYS; m++) {
        const char *k = ntg__plan_str(p, p->img.meta[m].key);
        if (strncmp(k, "scaler.", 7) != 0) continue;
        keys[n] = k;
        vals[n++] = ntg__plan_str(p, p->img.meta[m].value);
    }
    if (n == 0) return;
    ntg_scaler *g = NULL;
    ntg_window_scaler ws = NTG_WSCALER_IDENTITY;
    ntg_error err;
    if (ntg__scaler_from_meta(keys, vals, n, &g, &ws, &err) != NTG_OK) {
        printf("scaler:      unreadable (%s)\n", err.message);
        return;
    }
    printf("scaler:      %s, fitted on the train rows of %zu column%s; per-window scaler %s\n",
           ntg__scaler_name(g->kind), g->n_cols, g->n_cols == 1 ? "" : "s",
           ntg__window_scaler_name(ws));
    for (size_t j = 0; j < g->n_cols; j++)
        printf("             %-16s mean %-14.8g std %.8g\n", g->names[j], g->mean[j], g->std[j]);
    ntg__scaler_free(g);
}

/* Metadata keys print_text shows in their own lines. */
static int shown_elsewhere(const char *k)
{
    static const char *const prefixes[] = {"model.", "compiler.version", "hparam.",
                                           "train.", "trained.",         "scaler."};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(k, prefixes[i], strlen(prefixes[i])) == 0) return 1;
    return 0;
}

static void print_text(const ntg_plan *p, const char *path)
{
    const ntg_plan_header *h = (const ntg_plan_header *)p->base;
    const ntg_plan_section *sec = (const ntg_plan_section *)(p->base + h->section_table);
    const ntg_plan_info *in = &p->img.info;
    char b1[32], b2[32];
    printf("plan:        %s (%zu bytes, format %u.%u)\n", path, p->size, h->version_major,
           h->version_minor);
    const char *name = ntg_plan_meta(p, "model.name"), *kind = ntg_plan_meta(p, "model.kind");
    printf("model:       %s (kind %s)\n", name ? name : "?", kind ? kind : "?");
    const char *desc = ntg_plan_meta(p, "model.description");
    if (desc) printf("description: %s\n", desc);
    const char *graph = ntg_plan_meta(p, "model.graph"),
               *ver = ntg_plan_meta(p, "compiler.version");
    printf("compiled:    from %s by ntgraph %s\n", graph ? graph : "?", ver ? ver : "?");
    printf("hparams:    ");
    for (uint32_t m = 0; m < p->img.n_meta; m++) {
        const char *k = ntg__plan_str(p, p->img.meta[m].key);
        if (strncmp(k, "hparam.", 7) == 0)
            printf(" %s=%s", k + 7, ntg__plan_str(p, p->img.meta[m].value));
    }
    printf("\n");
    print_pairs(p, "train:", "train.");
    print_training(p);
    /* the rest (compile.*, whatever a newer writer added) as it is */
    int any = 0;
    for (uint32_t m = 0; m < p->img.n_meta; m++) {
        const char *k = ntg__plan_str(p, p->img.meta[m].key);
        if (shown_elsewhere(k)) continue;
        printf("%-12s %s=%s\n", any++ ? "" : "metadata:", k,
               ntg__plan_str(p, p->img.meta[m].value));
    }
    printf("max batch:   %u\n", in->max_batch);
    printf("parameters:  %u tensors, %" PRIu64 " elements (%s)\n", in->n_params, in->param_elements,
           human(in->param_elements * 4, b1, sizeof b1));
    printf("arena:       %s at batch %u (naive sum without reuse: %s)\n",
           human(in->storage_bytes[NTG_STORE_ARENA], b1, sizeof b1), in->max_batch,
           human(in->naive_arena_bytes, b2, sizeof b2));
    printf("weights:     %s\n", human(in->storage_bytes[NTG_STORE_WEIGHTS], b1, sizeof b1));
    printf("state:       %s\n", human(in->storage_bytes[NTG_STORE_STATE], b1, sizeof b1));

    printf("\nprograms:\n");
    for (uint32_t g = 0; g < p->img.n_programs; g++) {
        const ntg_program_rec *pr = &p->img.programs[g];
        printf("  %-11s %4u ops  arena peak %-11s inputs", ntg__plan_str(p, pr->name), pr->n_ops,
               human(pr->arena_peak, b1, sizeof b1));
        for (uint32_t i = 0; i < pr->n_inputs; i++)
            printf(" %s", ntg__plan_str(p, p->img.tensors[p->img.indices[pr->inputs + i]].name));
        printf("  outputs");
        for (uint32_t i = 0; i < pr->n_outputs; i++)
            printf(" %s", ntg__plan_str(p, p->img.tensors[p->img.indices[pr->outputs + i]].name));
        printf("\n");
    }

    printf("\nsections:\n  %-9s %10s %12s %10s  %s\n", "kind", "offset", "bytes", "count",
           "crc32c");
    for (uint32_t k = 0; k < h->section_count; k++)
        printf("  %-9s %10" PRIu64 " %12" PRIu64 " %10u  %08x\n", section_name(sec[k].kind),
               sec[k].offset, sec[k].bytes, sec[k].count, sec[k].crc);

    printf("\nops:\n  %4s  %-14s %-3s  %-44s %s\n", "#", "op", "dir", "inputs -> outputs",
           "graph node");
    for (uint32_t k = 0; k < p->img.n_ops; k++) {
        const ntg_op_rec *op = &p->img.ops[k];
        char io[512];
        size_t l = 0;
        io[0] = '\0';
        for (int i = 0; i < op->n_in + op->n_out && l < sizeof io - 80; i++) {
            uint32_t id = p->img.operands[op->operands + (uint32_t)i];
            const char *nm = id == NTG_NONE ? "-" : ntg__plan_str(p, p->img.tensors[id].name);
            l += (size_t)snprintf(io + l, sizeof io - l, "%s%s",
                                  i == 0 ? "" : (i == op->n_in ? " -> " : ", "), nm);
        }
        printf("  %4u  %-14s %-3s  %-44s %s\n", k, ntg__op_info(op->code)->cls->name,
               op->dir ? "bwd" : "fwd", io, ntg__plan_str(p, op->loc));
    }

    printf("\ntensors:\n  %4s  %-36s %-10s %-18s %-8s %10s %10s\n", "id", "name", "role", "shape",
           "storage", "offset", "bytes");
    for (uint32_t t = 0; t < p->img.n_tensors; t++) {
        const ntg_tensor_rec *r = &p->img.tensors[t];
        char shp[96];
        shape_str(r, shp, sizeof shp);
        printf("  %4u  %-36s %-10s %-18s %-8s %10" PRIu64 " %10" PRIu64 "\n", t,
               ntg__plan_str(p, r->name), role_name(r->role), shp, storage_name(r->storage),
               r->offset, r->nbytes);
    }
}

static void print_json(const ntg_plan *p, const char *path)
{
    const ntg_plan_header *h = (const ntg_plan_header *)p->base;
    const ntg_plan_section *sec = (const ntg_plan_section *)(p->base + h->section_table);
    const ntg_plan_info *in = &p->img.info;
    printf("{\"file\":");
    cli_json_str(stdout, path);
    printf(",\"bytes\":%zu,\"format\":\"%u.%u\",\"meta\":{", p->size, h->version_major,
           h->version_minor);
    for (uint32_t m = 0; m < p->img.n_meta; m++) {
        if (m) putchar(',');
        cli_json_str(stdout, ntg__plan_str(p, p->img.meta[m].key));
        putchar(':');
        cli_json_str(stdout, ntg__plan_str(p, p->img.meta[m].value));
    }
    printf("},\"max_batch\":%u,\"param_tensors\":%u,\"param_elements\":%" PRIu64
           ",\"arena_bytes\":%" PRIu64 ",\"naive_arena_bytes\":%" PRIu64
           ",\"weights_bytes\":%" PRIu64 ",\"state_bytes\":%" PRIu64 ",\"programs\":[",
           in->max_batch, in->n_params, in->param_elements, in->storage_bytes[NTG_STORE_ARENA],
           in->naive_arena_bytes, in->storage_bytes[NTG_STORE_WEIGHTS],
           in->storage_bytes[NTG_STORE_STATE]);
    for (uint32_t g = 0; g < p->img.n_programs; g++) {
        const ntg_program_rec *pr = &p->img.programs[g];
        printf("%s{\"name\":", g ? "," : "");
        cli_json_str(stdout, ntg__plan_str(p, pr->name));
        printf(",\"ops\":%u,\"arena_peak\":%" PRIu64 ",\"inputs\":[", pr->n_ops, pr->arena_peak);
        for (uint32_t i = 0; i < pr->n_inputs; i++) {
            if (i) putchar(',');
            cli_json_str(stdout,
                         ntg__plan_str(p, p->img.tensors[p->img.indices[pr->inputs + i]].name));
        }
        printf("],\"outputs\":[");
        for (uint32_t i = 0; i < pr->n_outputs; i++) {
            if (i) putchar(',');
            cli_json_str(stdout,
                         ntg__plan_str(p, p->img.tensors[p->img.indices[pr->outputs + i]].name));
        }
        printf("]}");
    }
    printf("],\"sections\":[");
    for (uint32_t k = 0; k < h->section_count; k++)
        printf("%s{\"kind\":\"%s\",\"offset\":%" PRIu64 ",\"bytes\":%" PRIu64
               ",\"count\":%u,\"crc32c\":\"%08x\"}",
               k ? "," : "", section_name(sec[k].kind), sec[k].offset, sec[k].bytes, sec[k].count,
               sec[k].crc);
    printf("],\"ops\":[");
    for (uint32_t k = 0; k < p->img.n_ops; k++) {
        const ntg_op_rec *op = &p->img.ops[k];
        printf("%s{\"op\":\"%s\",\"dir\":\"%s\",\"loc\":", k ? "," : "",
               ntg__op_info(op->code)->cls->name, op->dir ? "bwd" : "fwd");
        cli_json_str(stdout, ntg__plan_str(p, op->loc));
        printf(",\"in\":[");
        for (int i = 0; i < op->n_in + op->n_out; i++) {
            uint32_t id = p->img.operands[op->operands + (uint32_t)i];
            if (i == op->n_in)
                printf("],\"out\":[");
            else if (i)
                putchar(',');
            if (id == NTG_NONE)
                printf("null");
            else
                printf("%u", id);
        }
        printf("]}");
    }
    printf("],\"tensors\":[");
    for (uint32_t t = 0; t < p->img.n_tensors; t++) {
        const ntg_tensor_rec *r = &p->img.tensors[t];
        printf("%s{\"name\":", t ? "," : "");
        cli_json_str(stdout, ntg__plan_str(p, r->name));
        printf(",\"role\":\"%s\",\"batched\":%s,\"shape\":[", role_name(r->role),
               (r->flags & NTG_TF_BATCHED) ? "true" : "false");
        for (int d = 0; d < r->rank; d++) printf("%s%u", d ? "," : "", r->dims[d]);
        printf("],\"storage\":\"%s\",\"offset\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
               storage_name(r->storage), r->offset, r->nbytes);
    }
    printf("]}\n");
}

static int run(const cli_cmd *cmd, cli_args *a)
{
    if (a->n_pos != 1) return cli_usage_error(cmd, "expected one plan file");
    ntg_plan *plan = NULL;
    ntg_error err;
    ntg_status st = cli_load_plan(a->pos[0], &plan, &err);
    if (st) return cli_fail(cmd, st, &err);
    if (cli_flag(a, "json"))
        print_json(plan, a->pos[0]);
    else
        print_text(plan, a->pos[0]);
    ntg_plan_destroy(plan);
    return CLI_OK;
}

const cli_cmd cli_cmd_info = {
    "info",
    "Describe a plan: model, programs, sections, ops, tensors",
    "ntgraph info PLAN [--json]",
    "Prints the plan's header and all its metadata: the model, hparams, training\n"
    "settings (train.*), for a trained plan the run's summary (steps, losses, split)\n"
    "and the fitted scaler (kind, per-column mean and std), and any other keys;\n"
    "then its programs, parameter count, arena bytes (and the naive sum without\n"
    "reuse), the section table with checksums, and every op and tensor. --json\n"
    "prints the same as one object (metadata under \"meta\"). The plan is fully\n"
    "validated first.",
    opts,
    (int)(sizeof opts / sizeof opts[0]),
    run,
};
