/* cmd_grad.c — `ntgraph grad`: loss and every parameter's gradient, without an update. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ntg_error.h"
#include "op_attrs.h"
#include "plan_int.h"
#include "safetensors.h"
#include "session_int.h"

static const cli_opt opts[] = {
    {"in", 0, "IN.safetensors", 0,
     "inputs by name: x and the target t (and mask if the plan has one)"},
    {"out", 'o', "OUT.safetensors", 0, "where to write loss and grad.<param> (required)"},
    {"seed", 0, "S", 0,
     "dropout plans: the seed of the masks when IN has no train.rng (default: the plan's "
     "train.seed, else 1)"},
    {"step", 0, "N", 0, "dropout plans: the training step whose masks are drawn (default 1)"},
    {"backend", 0, "B", 0, "backend: auto (default), {backends}"},
    {"threads", 0, "N", 0, "threads (default: the CPUs this process may use)"},
};

/* Bind program input `id` from the tensor of the same name in `f`; a missing `mask`
 * means all ones.  Returns the batch, or -1 with err set. */
static int bind_input(ntg_session *s, const ntg_plan *p, uint32_t id, const ntg_st_file *f,
                      const char *path, ntg_error *err)
{
    const ntg_tensor_rec *r = &p->img.tensors[id];
    const char *name = ntg__plan_str(p, r->name);
    ntg_tdesc d;
    ntg__tdesc_from_rec(r, &d);
    const ntg_st_tensor *t = ntg__st_find(f, name);
    size_t inner = (size_t)ntg__tdesc_inner(&d);
    if (!t && strcmp(name, "mask") == 0) return 0;      /* filled with ones by the caller */
    if (!t && strcmp(name, "train.rng") == 0) return 0; /* drawn by the caller */
    if (!t) {
        ntg__err(err, NTG_ERR_NOT_FOUND, path, 0, 0, "no tensor '%s' for the plan's input '%s'",
                 name, name);
        return -1;
    }
    int ok = strcmp(t->dtype, "F32") == 0 && t->rank == d.rank;
    for (int k = d.batched ? 1 : 0; ok && k < d.rank; k++) ok = t->shape[k] == d.dims[k];
    int b = d.batched ? (int)t->shape[0] : 1;
    if (!ok || b < 1 || b > d.dims[0]) {
        char want[96];
        ntg__err(err, NTG_ERR_SHAPE, path, 0, 0,
                 "tensor '%s' does not fit the plan's input %s of F32 (batch up to %lld)", name,
                 ntg__tdesc_str(&d, want, sizeof want), (long long)d.dims[0]);
        return -1;
    }
    float *buf = malloc((size_t)t->nbytes + 4);
    if (!buf) {
        ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        return -1;
    }
    memcpy(buf, t->data, (size_t)t->nbytes);
    ntg_status st = ntg__session_set_tensor(s, id, buf, (size_t)b * inner, err);
    free(buf);
    return st ? -1 : b;
}

static int run(const cli_cmd *cmd, cli_args *a)
{
    if (a->n_pos != 1) return cli_usage_error(cmd, "expected one plan file");
    const char *in_path = cli_get(a, "in"), *out_path = cli_get(a, "out");
    if (!in_path || !out_path) return cli_usage_error(cmd, "needs --in and --out");
    long threads = 0, seed = -1, step = 1;
    if (cli_int(cmd, a, "threads", 0, 1024, &threads) < 0 ||
        cli_int(cmd, a, "seed", 0, 2147483647, &seed) < 0 ||
        cli_int(cmd, a, "step", 1, 2147483647, &step) < 0)
        return CLI_USAGE;
    ntg_plan *plan = NULL;
    ntg_session *s = NULL;
    ntg_st_file *in = NULL;
    ntg_st_out *outs = NULL;
    float **bufs = NULL;
    int64_t(*shapes)[NTG_MAX_RANK] = NULL;
    size_t n_out = 0;
    ntg_error err;
    int rc = CLI_OK;
    ntg_status st = cli_load_plan(a->pos[0], &plan, &err);
    if (st) return cli_fail(cmd, st, &err);
    int g = ntg__plan_program(plan, "grad");
    if (g < 0) {
        st = ntg__err(&err, NTG_ERR_STATE, a->pos[0], 0, 0,
                      "the plan has no grad program (compiled with --infer-only?)");
        goto fail;
    }
    if ((st = ntg__st_load(in_path, &in, &err))) goto fail;
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.threads = (int)threads;
    /* trainable: a batchnorm plan's grad program updates the running statistics in the
     * session (never in the plan), as a training step does */
    so.flags = NTG_SESSION_TRAINABLE;
    if (cli_get(a, "backend")) so.backend = cli_get(a, "backend");
    if ((st = ntg_session_create(plan, &so, &s, &err))) goto fail;
    const ntg_program_rec *pr = &plan->img.programs[g];
    int batch = -1;
    uint32_t mask_id = NTG_NONE, rng_id = NTG_NONE;
    for (uint32_t i = 0; i < pr->n_inputs; i++) {
        uint32_t id = plan->img.indices[pr->inputs + i];
        int b = bind_input(s, plan, id, in, in_path, &err);
        if (b < 0) {
            st = err.status;
            goto fail;
        }
        if (b == 0) {
            if (strcmp(ntg__plan_str(plan, plan->img.tensors[id].name), "train.rng") == 0)
                rng_id = id;
            else
                mask_id = id;
            continue;
        }
        if (!(plan->img.tensors[id].flags & NTG_TF_BATCHED)) continue; /* train.rng */
        if (batch >= 0 && b != batch) {
            st = ntg__err(&err, NTG_ERR_SHAPE, in_path, 0, 0, "input '%s' has batch %d, others %d",
                          ntg__plan_str(plan, plan->img.tensors[id].name), b, batch);
            goto fail;
        }
        batch = b;
    }
    if (mask_id != NTG_NONE) {
        ntg_tdesc d;
        ntg__tdesc_from_rec(&plan->img.tensors[mask_id], &d);
        size_t n = (size_t)ntg__tdesc_inner(&d) * (size_t)batch;
        float *ones = malloc(n * sizeof *ones);
        if (!ones) goto nomem;
        for (size_t k = 0; k < n; k++) ones[k] = 1.0f;
        st = ntg__session_set_tensor(s, mask_id, ones, n, &err);
        free(ones);
        if (st) goto fail;
    }
    if (rng_id != NTG_NONE) {
        /* dropout's masks: those the trainer draws at step `step` for a run with this seed
         * (the first window of the batch being the run's row 0) */
        if (seed < 0) {
            const char *ps = ntg_plan_meta(plan, "train.seed");
            seed = ps ? strtol(ps, NULL, 10) : 1;
        }
        float w[NTG_RNG_SIZE];
        ntg__rng_fill(w, (uint64_t)seed, (uint64_t)step, 0);
        if ((st = ntg__session_set_tensor(s, rng_id, w, NTG_RNG_SIZE, &err))) goto fail;
    }
    if ((st = ntg__session_run_index(s, g, batch, &err))) goto fail;

    n_out = pr->n_outputs;
    outs = calloc(n_out + 1, sizeof *outs);
    bufs = calloc(n_out + 1, sizeof *bufs);
    shapes = calloc(n_out + 1, sizeof *shapes);
    if (!outs || !bufs || !shapes) goto nomem;
    for (size_t o = 0; o < n_out; o++) {
        uint32_t id = plan->img.indices[pr->outputs + o];
        const ntg_tensor_rec *r = &plan->img.tensors[id];
        ntg_tdesc d;
        ntg__tdesc_from_rec(r, &d);
        size_t n = (size_t)ntg__tdesc_numel(&d);
        bufs[o] = malloc(n * sizeof(float));
        if (!bufs[o]) goto nomem;
        if ((st = ntg__session_get_tensor(s, id, bufs[o], n, &err))) goto fail;
        for (int k = 0; k < d.rank; k++) shapes[o][k] = d.dims[k];
        outs[o].name = ntg__plan_str(plan, r->name);
        outs[o].dtype = "F32";
        outs[o].rank = d.rank;
        outs[o].shape = shapes[o];
        outs[o].data = bufs[o];
    }
    const char *meta[] = {"producer", "ntgraph " NTG_VERSION_STRING};
    if ((st = ntg__st_write(out_path, outs, n_out, meta, 1, &err))) goto fail;
    goto done;
nomem:
    st = ntg__fail(&err, NTG_ERR_NOMEM, "out of memory");
fail:
    rc = cli_fail(cmd, st, &err);
done:
    if (bufs)
        for (size_t o = 0; o < n_out; o++) free(bufs[o]);
    free(bufs);
    free(outs);
    free(shapes);
    ntg__st_free(in);
    ntg_session_destroy(s);
    ntg_plan_destroy(plan);
    return rc;
}

const cli_cmd cli_cmd_grad = {
    "grad",
    "Loss and gradients of every parameter for one batch",
    "ntgraph grad PLAN --in IN.safetensors --out OUT.safetensors [--seed S] [--step N] "
    "[--backend B] [--threads N]",
    "Runs the plan's grad program (forward, the training loss against the target t,\n"
    "backward; no update) on the tensors of IN (x, t, and mask when the plan takes one:\n"
    "all ones when absent) and writes `loss` and `grad.<param>` for every parameter.\n"
    "The loss is the plan's (compile with --loss mse to compare with PyTorch's golden\n"
    "files, whose loss is the MSE of y against t).\n"
    "Dropout plans: IN may hold train.rng (the raw random words); without it the masks\n"
    "are those training draws at step --step (default 1) of a run with --seed (default\n"
    "the plan's train.seed), so equal arguments give equal gradients. Batchnorm plans:\n"
    "the forward uses the batch's statistics, as in training; the running statistics\n"
    "this updates stay in the session (the plan is not changed).",
    opts,
    (int)(sizeof opts / sizeof opts[0]),
    run,
};
