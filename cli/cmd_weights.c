/* cmd_weights.c — `ntgraph weights export` and `ntgraph backends`. */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cli.h"
#include "ntg_error.h"
#include "plan_int.h"
#include "safetensors.h"

static const cli_opt weights_opts[] = {
    {"output", 'o', "W.safetensors", 0, "file to write (required)"},
};

static int weights_run(const cli_cmd *cmd, cli_args *a)
{
    if (a->n_pos != 2 || strcmp(a->pos[0], "export") != 0)
        return cli_usage_error(cmd, "expected 'export PLAN'");
    const char *out = cli_get(a, "output");
    if (!out) return cli_usage_error(cmd, "missing -o W.safetensors");
    ntg_plan *plan = NULL;
    ntg_error err;
    ntg_status st = cli_load_plan(a->pos[1], &plan, &err);
    if (st) return cli_fail(cmd, st, &err);
    size_t n = ntg_plan_param_count(plan);
    /* batchnorm's running statistics (constants training updates) follow the parameters,
     * under their names (torch's state_dict has them too) */
    uint32_t *bn = calloc(2 * plan->img.n_ops + 1, sizeof *bn);
    size_t n_bn = 0;
    for (uint32_t k = 0; bn && k < plan->img.n_ops; k++) {
        const ntg_op_rec *op = &plan->img.ops[k];
        if (op->code != NTG_OP_batchnorm || op->n_in < 5) continue;
        for (uint32_t i = 3; i < 5; i++) {
            uint32_t id = plan->img.operands[op->operands + i];
            int seen = id == NTG_NONE || plan->img.tensors[id].storage != NTG_STORE_WEIGHTS;
            for (size_t j = 0; j < n_bn && !seen; j++) seen = bn[j] == id;
            if (!seen) bn[n_bn++] = id;
        }
    }
    ntg_st_out *t = calloc(n + n_bn + 1, sizeof *t);
    int64_t(*shapes)[NTG_MAX_RANK] = calloc(n + n_bn + 1, sizeof *shapes);
    ntg_tensor_info *bni = calloc(n_bn + 1, sizeof *bni);
    if (!t || !shapes || !bn || !bni) {
        st = ntg__fail(&err, NTG_ERR_NOMEM, "out of memory");
    } else {
        for (size_t i = 0; i < n; i++) {
            ntg_tensor_info ti;
            ntg_tensor_info_init(&ti);
            ntg_plan_param(plan, i, &ti, NULL);
            memcpy(shapes[i], ti.shape, sizeof shapes[i]);
            t[i].name = ti.name;
            t[i].dtype = "F32";
            t[i].rank = ti.rank;
            t[i].shape = shapes[i];
            t[i].data = ntg_plan_param_data(plan, i);
        }
        for (size_t j = 0; j < n_bn; j++) {
            ntg_tensor_info_init(&bni[j]);
            ntg__plan_tensor_info(plan, bn[j], &bni[j]);
            memcpy(shapes[n + j], bni[j].shape, sizeof shapes[n + j]);
            t[n + j].name = bni[j].name;
            t[n + j].dtype = "F32";
            t[n + j].rank = bni[j].rank;
            t[n + j].shape = shapes[n + j];
            t[n + j].data = ntg__plan_weights(plan, bn[j]);
        }
        n += n_bn;
        const char *model = ntg_plan_meta(plan, "model.name");
        /* what training fitted (the scaler, the training's results) goes with the weights,
         * so `compile --weights` makes a plan that forecasts in the same units */
        size_t nm = ntg_plan_meta_count(plan), k = 0;
        const char **meta = calloc(2 * nm + 4, sizeof *meta);
        if (!meta) {
            st = ntg__fail(&err, NTG_ERR_NOMEM, "out of memory");
        } else {
            meta[k++] = "producer";
            meta[k++] = "ntgraph " NTG_VERSION_STRING;
            meta[k++] = "model";
            meta[k++] = model ? model : "";
            for (size_t i = 0; i < nm; i++) {
                const char *key, *value;
                ntg_plan_meta_at(plan, i, &key, &value, NULL);
                if (strncmp(key, "scaler.", 7) != 0 && strncmp(key, "trained.", 8) != 0 &&
                    strncmp(key, "conformal.", 10) != 0)
                    continue;
                meta[k++] = key;
                meta[k++] = value;
            }
            st = ntg__st_write(out, t, n, meta, k / 2, &err);
            free(meta);
        }
    }
    free(t);
    free(shapes);
    free(bn);
    free(bni);
    ntg_plan_destroy(plan);
    if (st) return cli_fail(cmd, st, &err);
    return CLI_OK;
}

const cli_cmd cli_cmd_weights = {
    "weights",
    "Export a plan's parameters",
    "ntgraph weights export PLAN -o W.safetensors",
    "Writes every parameter of the plan, under its name, to a safetensors file that\n"
    "`ntgraph compile --weights` (or PyTorch's load_state_dict) reads back. The file's\n"
    "__metadata__ carries what training fitted (the scaler.*, trained.* and conformal.*\n"
    "entries of the plan's metadata), which `compile --weights` puts back into the new\n"
    "plan, so it forecasts in the same original units, with the same intervals.\n"
    "Batchnorm's running statistics (bn.running_mean, bn.running_var) are written\n"
    "after the parameters, and `compile --weights` takes them back.",
    weights_opts,
    (int)(sizeof weights_opts / sizeof weights_opts[0]),
    weights_run,
};

static int backends_run(const cli_cmd *cmd, cli_args *a)
{
    if (a->n_pos != 0) return cli_usage_error(cmd, "takes no arguments");
    size_t n;
    const ntg_backend_class *const *all = ntg__backends(&n);
    const ntg_backend_class *dflt = ntg__backend_find("auto");
    for (size_t i = 0; i < n; i++) {
        char info[1024] = ""; /* room for every device of a multi-GPU machine */
        int ok = !all[i]->available || all[i]->available(info, sizeof info);
        printf("%-8s %-13s %s%s%s\n", all[i]->name, ok ? "available" : "unavailable",
               all[i]->description, info[0] ? "; " : "", info);
    }
    printf("auto     -> %s\n", dflt->name);
    return CLI_OK;
}

const cli_cmd cli_cmd_backends = {
    "backends",
    "List the backends of this build and whether they can run here",
    "ntgraph backends",
    "One line per backend compiled into this build: its name, whether it can run\n"
    "on this machine, and what it runs on. The last line says what `auto` picks.\n"
    "The xnnpack line names the instruction sets its kernels use and the cap set by\n"
    "NTG_CPU_ISA (avx512 = none, avx2, portable; see docs/cpu-backend.md).\n"
    "The cuda line lists each CUDA device (cuda:N, name, compute capability, memory;\n"
    "NTG_CUDA_DEVICE picks the one used) or says why the backend cannot run here\n"
    "(no device, no driver, no cuBLAS; see docs/cuda.md).",
    NULL,
    0,
    backends_run,
};
