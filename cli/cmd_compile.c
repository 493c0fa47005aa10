/* cmd_compile.c — `ntgraph compile`: YAML graph to plan.bin. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const cli_opt opts[] = {
    {"output", 'o', "PLAN", 0, "where to write the plan (required)"},
    {"define", 'D', "NAME=VALUE", 1, "override hparam NAME with an expression (repeatable)"},
    {"batch", 0, "N", 0, "maximum batch the plan runs (default 256)"},
    {"weights", 0, "W.safetensors", 0,
     "take parameter values (finite F32), and a fitted scaler, from a safetensors file"},
    {"strict", 0, NULL, 0, "with --weights: tensors that match no parameter are an error"},
    {"seed", 0, "S", 0, "seed of the parameter initializers (default 0)"},
    {"infer-only", 0, NULL, 0, "leave out the eval, grad and train_step programs"},
    {"loss", 0, "L", 0,
     "training loss: mae, mse, huber, mqloss, normal, studentt (default: the graph's)"},
    {"optimizer", 0, "O", 0, "optimizer: adam, adamw, sgd (default: the graph's)"},
    {"train", 'T', "KEY=VALUE", 1, "override a key of the graph's train section (repeatable)"},
};

static void warn_cb(void *user, const char *msg)
{
    (void)user;
    fprintf(stderr, "ntgraph compile: warning: %s\n", msg);
}

static int run(const cli_cmd *cmd, cli_args *a)
{
    if (a->n_pos != 1) return cli_usage_error(cmd, "expected one graph file");
    const char *out = cli_get(a, "output");
    if (!out) return cli_usage_error(cmd, "missing -o PLAN");
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    long batch = 0, seed = 0;
    if (cli_int(cmd, a, "batch", 1, 1 << 20, &batch) < 0) return CLI_USAGE;
    if (cli_int(cmd, a, "seed", 0, 0x7fffffffL, &seed) < 0) return CLI_USAGE;
    o.max_batch = (int)batch;
    o.seed = (uint64_t)seed;
    o.weights_path = cli_get(a, "weights");
    if (cli_flag(a, "strict")) {
        if (!o.weights_path) return cli_usage_error(cmd, "--strict needs --weights");
        o.flags |= NTG_COMPILE_STRICT_WEIGHTS;
    }
    o.warn = warn_cb;
    if (cli_flag(a, "infer-only")) o.flags |= NTG_COMPILE_INFER_ONLY;
    cli_defines dv, tv;
    if (cli_collect_defines(cmd, a, "define", NULL, &dv)) return CLI_USAGE;
    if (cli_collect_defines(cmd, a, "train", NULL, &tv)) {
        cli_defines_free(&dv);
        return CLI_USAGE;
    }
    if (cli_get(a, "loss")) cli_defines_add(&tv, "loss", cli_get(a, "loss"));
    if (cli_get(a, "optimizer")) cli_defines_add(&tv, "optimizer", cli_get(a, "optimizer"));
    o.defines = dv.v;
    o.n_defines = dv.n;
    o.train = tv.v;
    o.n_train = tv.n;

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ntg_plan *plan = NULL;
    ntg_error err;
    ntg_status st = ntg_compile_file(a->pos[0], &o, &plan, &err);
    cli_defines_free(&dv);
    cli_defines_free(&tv);
    if (st) return cli_fail(cmd, st, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    st = ntg_plan_save(plan, out, &err);
    if (st) {
        ntg_plan_destroy(plan);
        return cli_fail(cmd, st, &err);
    }
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("%s: %llu parameters, arena %.2f MiB at batch %d, compiled in %.1f ms\n", out,
           (unsigned long long)ntg_plan_param_elements(plan),
           (double)ntg_plan_arena_bytes(plan) / 1048576.0, ntg_plan_max_batch(plan), ms);
    ntg_plan_destroy(plan);
    return CLI_OK;
}

const cli_cmd cli_cmd_compile = {
    "compile",
    "Compile a YAML graph into a plan",
    "ntgraph compile GRAPH.yaml -o PLAN [-D NAME=VALUE]... [--batch N] [--weights W] [--strict] "
    "[--infer-only] [--loss L] [-T KEY=VALUE]...",
    "Reads GRAPH.yaml (see docs/graph-format.md), infers shapes, initialises the\n"
    "parameters (PyTorch's defaults, seeded), plans memory for the maximum batch and\n"
    "writes a plan file (docs/plan-format.md) holding the infer program and, unless\n"
    "--infer-only, eval, grad and train_step built from the graph's train section.\n"
    "Errors name file:line:column.",
    opts,
    (int)(sizeof opts / sizeof opts[0]),
    run,
};
