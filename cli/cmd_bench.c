/* cmd_bench.c — `ntgraph bench`: time a program of a plan on random inputs. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ntg_error.h"
#include "plan_int.h"
#include "rng.h"
#include "session_int.h"

static const cli_opt opts[] = {
    {"batch", 0, "N", 0, "batch per run (default 1)"},
    {"threads", 0, "T", 0, "threads (default: the CPUs this process may use)"},
    {"backend", 0, "B", 0, "backend: auto (default), {backends}"},
    {"seconds", 0, "S", 0, "time to spend measuring (default 2)"},
    {"program", 0, "P", 0, "program to time: infer (default), eval, grad, train_step, apply"},
    {"json", 0, NULL, 0, "print one JSON object"},
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* FLOPs of one window through program `g` (multiply-add = 2; a backward op counts twice
 * its forward). */
static double program_flops(const ntg_plan *p, int g, int batch)
{
    double total = 0;
    const ntg_program_view *pv = &p->programs[g];
    for (uint32_t k = 0; k < pv->n_ops; k++) {
        const ntg_op_rec *op = &p->img.ops[pv->ops[k]];
        const ntg_op_class *cls = ntg__op_info(op->code)->cls;
        if (!cls->flops) continue;
        /* a backward op costs twice its forward (two products per GEMM), the convention
         * the peers' scripts use for training: a train step is 3x the forward */
        double mult = op->dir == NTG_DIR_BWD ? 2.0 : 1.0;
        int nfi = op->dir == NTG_DIR_BWD ? op->n_out : op->n_in;
        int nfo = op->dir == NTG_DIR_BWD ? (op->n_in - op->n_out) / 2 : op->n_out;
        ntg_tdesc in[72], out[8];
        int ni = nfi < 72 ? nfi : 72, no = nfo < 8 ? nfo : 8;
        for (int i = 0; i < ni; i++)
            ntg__tdesc_from_rec(&p->img.tensors[p->img.operands[op->operands + (uint32_t)i]],
                                &in[i]);
        for (int o = 0; o < no; o++) {
            /* forward outputs follow the inputs (BWD: they are operands nfi..nfi+nfo) */
            uint32_t at = op->dir == NTG_DIR_BWD ? (uint32_t)(nfi + o) : (uint32_t)(op->n_in + o);
            ntg__tdesc_from_rec(&p->img.tensors[p->img.operands[op->operands + at]], &out[o]);
        }
        for (int i = 0; i < ni; i++)
            if (in[i].batched) in[i].dims[0] = batch;
        for (int o = 0; o < no; o++)
            if (out[o].batched) out[o].dims[0] = batch;
        ntg_opsig sig = {p->img.attrs + op->attrs, op->n_attr, ni, in, no};
        total += mult * cls->flops(&sig, out);
    }
    return total / batch;
}

static int run(const cli_cmd *cmd, cli_args *a)
{
    if (a->n_pos != 1) return cli_usage_error(cmd, "expected one plan file");
    long batch = 1, threads = 0;
    double seconds = 2.0;
    if (cli_int(cmd, a, "batch", 1, 1 << 20, &batch) < 0) return CLI_USAGE;
    if (cli_int(cmd, a, "threads", 0, 1024, &threads) < 0) return CLI_USAGE;
    if (cli_double(cmd, a, "seconds", 0.01, 3600, &seconds) < 0) return CLI_USAGE;
    const char *program = cli_get(a, "program") ? cli_get(a, "program") : "infer";

    ntg_plan *plan = NULL;
    ntg_session *s = NULL;
    ntg_error err;
    float *buf = NULL;
    double *lat = NULL;
    int rc = CLI_OK;
    ntg_status st = cli_load_plan(a->pos[0], &plan, &err);
    if (st) return cli_fail(cmd, st, &err);
    int g = ntg__plan_program(plan, program);
    if (g < 0) {
        char have[256];
        size_t hl = 0;
        have[0] = '\0';
        for (uint32_t i = 0; i < plan->img.n_programs && hl < sizeof have - 40; i++)
            hl += (size_t)snprintf(have + hl, sizeof have - hl, "%s%.32s", i ? ", " : "",
                                   plan->programs[i].name);
        rc = cli_usage_error(cmd, "the plan has no program '%s' (it has %s)", program, have);
        goto done;
    }
    if (batch > ntg_plan_max_batch(plan)) {
        rc = cli_usage_error(cmd, "--batch %ld is above the plan's maximum batch %d", batch,
                             ntg_plan_max_batch(plan));
        goto done;
    }
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.threads = (int)threads;
    if (cli_get(a, "backend")) so.backend = cli_get(a, "backend");
    /* the programs that update the parameters need the session's own copy */
    if (strcmp(program, "train_step") == 0 || strcmp(program, "apply") == 0)
        so.flags |= NTG_SESSION_TRAINABLE;
    if ((st = ntg_session_create(plan, &so, &s, &err))) goto fail;

    /* random N(0,1) inputs: timing must not depend on the data, but NaNs or denormals
     * from uninitialised memory could make it */
    const ntg_program_rec *pr = &plan->img.programs[g];
    for (uint32_t i = 0; i < pr->n_inputs; i++) {
        const ntg_tensor_rec *t = &plan->img.tensors[plan->img.indices[pr->inputs + i]];
        ntg_tdesc d;
        ntg__tdesc_from_rec(t, &d);
        size_t n = (size_t)ntg__tdesc_inner(&d) * (d.batched ? (size_t)batch : 1);
        float *nb = realloc(buf, n * sizeof *buf);
        if (!nb) {
            st = ntg__fail(&err, NTG_ERR_NOMEM, "out of memory");
            goto fail;
        }
        buf = nb;
        for (size_t k = 0; k < n; k++) buf[k] = (float)ntg__rng_normal(7, i, k);
        /* the optimizer control: a tiny learning rate keeps the weights (and so the
         * arithmetic) stable over thousands of timed steps */
        if (strcmp(ntg__plan_str(plan, t->name), "train.ctl") == 0 && n >= 2) {
            memset(buf, 0, n * sizeof *buf);
            buf[0] = 1e-7f;
            buf[1] = 1.0f;
        }
        if ((st = ntg_session_set_input(s, ntg__plan_str(plan, t->name), buf, n, &err))) goto fail;
    }
    /* warm-up: caches, page faults, lazy backend work */
    double t0 = now_s();
    for (int k = 0; k < 3 || now_s() - t0 < seconds * 0.1; k++)
        if ((st = ntg__session_run_index(s, g, (int)batch, &err))) goto fail;
    size_t cap = 1024, n = 0;
    lat = malloc(cap * sizeof *lat);
    if (!lat) {
        st = ntg__fail(&err, NTG_ERR_NOMEM, "out of memory");
        goto fail;
    }
    double start = now_s();
    while (n < 5 || now_s() - start < seconds) {
        double a0 = now_s();
        if ((st = ntg__session_run_index(s, g, (int)batch, &err))) goto fail;
        double a1 = now_s();
        if (n == cap) {
            double *nl = realloc(lat, 2 * cap * sizeof *lat);
            if (!nl) break;
            lat = nl;
            cap *= 2;
        }
        lat[n++] = a1 - a0;
    }
    double total = now_s() - start;
    qsort(lat, n, sizeof *lat, cmp_double);
    double median = lat[n / 2] * 1e6, p90 = lat[(n * 9) / 10 < n ? (n * 9) / 10 : n - 1] * 1e6;
    /* as the peers' scripts count it: one batch per median run */
    double wps = (double)batch / (median * 1e-6);
    (void)total;
    long eff_threads = ntg_session_threads(s);
    double flops = program_flops(plan, g, (int)batch);
    if (cli_flag(a, "json")) {
        printf("{\"program\":\"%s\",\"backend\":\"%s\",\"batch\":%ld,\"threads\":%ld,"
               "\"median_us\":%.3f,\"p90_us\":%.3f,\"windows_per_s\":%.3f,\"runs\":%zu,"
               "\"flops_per_window\":%.0f,\"gflops\":%.3f}\n",
               program, ntg_session_backend(s), batch, eff_threads, median, p90, wps, n, flops,
               flops * wps * 1e-9);
    } else {
        printf("%s on %s, batch %ld, %ld thread%s: median %.1f us, p90 %.1f us, %.0f windows/s, "
               "%.2f GFLOP/s over %zu runs\n",
               program, ntg_session_backend(s), batch, eff_threads, eff_threads == 1 ? "" : "s",
               median, p90, wps, flops * wps * 1e-9, n);
    }
    goto done;
fail:
    rc = cli_fail(cmd, st, &err);
done:
    free(lat);
    free(buf);
    ntg_session_destroy(s);
    ntg_plan_destroy(plan);
    return rc;
}

const cli_cmd cli_cmd_bench = {
    "bench",
    "Time a plan on random inputs",
    "ntgraph bench PLAN [--batch N] [--threads T] [--backend B] [--seconds S] [--program P] "
    "[--json]",
    "Runs a program (default `infer`) on random N(0,1) inputs: a warm-up, then as many\n"
    "runs as fit in --seconds. Reports the median and 90th percentile latency and the\n"
    "throughput in windows per second (batch / median, as the peer benchmarks count).\n"
    "--json prints one object with program,\n"
    "backend, batch, threads, median_us, p90_us, windows_per_s (and runs, gflops).",
    opts,
    (int)(sizeof opts / sizeof opts[0]),
    run,
};
