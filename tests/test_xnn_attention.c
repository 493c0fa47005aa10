/* test_xnn_attention.c — the xnnpack backend's whole-attention fusion (docs/cpu-backend.md,
 * "Fusions"): which programs run it, and that it changes no number. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "ntgraph.h"
#include "plan_int.h"
#include "session_int.h"
#include "testutil.h"
#include "xnnpack/xnn_int.h"

enum { MAXB = 8, BATCH = 5, NX = 96, NY = 24 };

static void need_xnnpack(void)
{
    const ntg_backend_class *c = ntg__backend_find("xnnpack");
    char info[256] = "";
    if (!c) cr_skip_test("this build has no xnnpack backend");
    if (c->available && !c->available(info, sizeof info))
        cr_skip_test("the xnnpack backend is not available here: %s", info);
}

/* The Transformer on its golden weights, with a training program (grad reads P). */
static ntg_plan *compile(void)
{
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    ntg_define tr[] = {{"loss", "mse"}};
    o.train = tr;
    o.n_train = 1;
    o.max_batch = MAXB;
    char weights[4096], graph[4096]; /* tu_src's buffer is reused by every call */
    snprintf(weights, sizeof weights, "%s", tu_src("tests/data/transformer_h24.safetensors"));
    snprintf(graph, sizeof graph, "%s", tu_src("graphs/transformer.yaml"));
    o.weights_path = weights;
    ntg_plan *plan = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(graph, &o, &plan, &err), NTG_OK, "%s", err.message);
    return plan;
}

static ntg_session *open_session(const ntg_plan *plan, const char *backend, int threads,
                                 unsigned policy)
{
    ntg_error err;
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = backend;
    so.threads = threads;
    ntg_session *s = NULL;
    cr_assert_eq(ntg_session_create(plan, &so, &s, &err), NTG_OK, "%s", err.message);
    if (policy) {
        ntg__xnn_set_policy(s->be, policy);
        cr_assert_eq(s->cls->prepare(s->be, &plan->view, s->storage, &err), NTG_OK, "%s",
                     err.message);
    }
    return s;
}

static int count_impl(const ntg_session *s, const ntg_plan *plan, const char *impl)
{
    int n = 0;
    for (uint32_t k = 0; k < plan->view.n_ops; k++) {
        const char *i = ntg__xnn_op_impl(s->be, k);
        if (i && !strcmp(i, impl)) n++;
    }
    return n;
}

/* Fused attention ops writing their output in the merged [B, T, D] layout themselves. */
static int count_merged_out(const ntg_session *s, const ntg_plan *plan)
{
    int n = 0;
    for (uint32_t k = 0; k < plan->view.n_ops; k++) n += s->be->ops[k].hl.v != NULL;
    return n;
}

/* infer, grad (the loss as output), infer again: y twice and the loss into out[2 * BATCH * NY].
 * Every run follows one at another batch (and the first, other data): a fused kernel doing a
 * later op's work must see that op's operands at this run's batch. */
static void run_all(ntg_session *s, const float *x, const float *t, float *out)
{
    ntg_error err;
    float x2[BATCH * NX];
    for (int i = 0; i < BATCH * NX; i++) x2[i] = 0.5f - x[i];
    cr_assert_eq(ntg_session_set_input(s, "x", x2, BATCH * NX, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_run(s, BATCH, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_set_input(s, "x", x, BATCH * NX, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_set_input(s, "t", t, BATCH * NY, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_run(s, 1, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_run(s, BATCH, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "y", out, BATCH * NY, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_run_program(s, "grad", BATCH, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "loss", out + 2 * BATCH * NY, 1, &err), NTG_OK, "%s",
                 err.message);
    cr_assert_eq(ntg_session_run(s, 2, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_run(s, BATCH, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "y", out + BATCH * NY, BATCH * NY, &err), NTG_OK, "%s",
                 err.message);
}

/*
 * Inference runs the two attention blocks fused (P never stored); the grad program, whose
 * backward reads P, keeps P.  The fused kernel runs the same kernels in the same order as the
 * unfused ops (the small GEMM for QK^T, the scale in float, the softmax line, the small GEMM
 * for P.V), and so do the other fusions (GELU in the GEMM's epilogue on 48-row blocks: the same
 * element function; residual add + layernorm on 32-row blocks: the same float sums and rows),
 * so on one instruction set the results are bitwise those with the three switched off;
 * against the reference backend (plain C, double sums in places) the tolerance is the CPU
 * backends' forward one, 1e-5 max-abs-relative.
 */
Test(xnn_attention, fused_in_inference_only_and_bitwise_unchanged)
{
    need_xnnpack();
    ntg_plan *plan = compile();
    float x[BATCH * NX], t[BATCH * NY];
    tu_rng r = {7};
    tu_fill(&r, x, BATCH * NX, -2, 2);
    tu_fill(&r, t, BATCH * NY, -1, 1);
    enum { NOUT = 2 * BATCH * NY + 1 };
    float ref[NOUT], got[NOUT], unf[NOUT];

    ntg_session *s = open_session(plan, "cpu", 1, 0);
    run_all(s, x, t, ref);
    ntg_session_destroy(s);

    for (int threads = 1; threads <= 2; threads++) {
        s = open_session(plan, "xnnpack", threads,
                         XNN_POL_NO_ATTENTION | XNN_POL_NO_EPI_ACT | XNN_POL_NO_ADD_LN |
                             XNN_POL_NO_HEADS);
        cr_assert_eq(count_impl(s, plan, "attention"), 0);
        cr_assert_eq(count_impl(s, plan, "add+layernorm"), 0);
        cr_assert_eq(count_impl(s, plan, "heads-split"), 0);
        cr_assert_eq(count_impl(s, plan, "heads-merge"), 0);
        run_all(s, x, t, unf);
        ntg_session_destroy(s);

        s = open_session(plan, "xnnpack", threads, 0);
        cr_assert_eq(count_impl(s, plan, "attention"), 2, "both layers' attention fused");
        /* the heads' layout moves, both layers: Q K V and dO split, dQ dK dV merged; the
         * attention writes O in the merged layout itself (this plan's layout allows it) */
        cr_assert_eq(count_impl(s, plan, "heads-split"), 4);
        cr_assert_eq(count_impl(s, plan, "heads-merge"), 2);
        cr_assert_eq(count_merged_out(s, plan), 2);
        /* some residual adds (the plan's order in its training programs decides which) */
        cr_assert_gt(count_impl(s, plan, "add+layernorm"), 0);
        run_all(s, x, t, got);
        ntg_session_destroy(s);

        for (int i = 0; i < NOUT; i++)
            cr_assert_eq(memcmp(&got[i], &unf[i], sizeof got[i]), 0,
                         "%d threads: value %d: fused %.9g, unfused %.9g", threads, i, got[i],
                         unf[i]);
        /* the second inference (after grad, which keeps P) is the first's */
        cr_assert_eq(memcmp(got, got + BATCH * NY, BATCH * NY * sizeof *got), 0);
        double e = tu_max_abs_rel(got, ref, NOUT);
        cr_assert_leq(e, 1e-5, "%d threads: fused vs reference: max-abs-rel %.3g", threads, e);
    }
    ntg_plan_destroy(plan);
}

/* A plan of inference alone (no backward reads P anywhere) fuses too, and still at batch 1. */
Test(xnn_attention, inference_plan_at_batch_1)
{
    need_xnnpack();
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.max_batch = MAXB;
    o.flags |= NTG_COMPILE_INFER_ONLY;
    char weights[4096], graph[4096]; /* tu_src's buffer is reused by every call */
    snprintf(weights, sizeof weights, "%s", tu_src("tests/data/transformer_h24.safetensors"));
    snprintf(graph, sizeof graph, "%s", tu_src("graphs/transformer.yaml"));
    o.weights_path = weights;
    ntg_plan *plan = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(graph, &o, &plan, &err), NTG_OK, "%s", err.message);
    float x[NX], y[NY], yr[NY];
    tu_rng r = {3};
    tu_fill(&r, x, NX, -2, 2);
    const char *be[2] = {"cpu", "xnnpack"};
    for (int i = 0; i < 2; i++) {
        ntg_session *s = open_session(plan, be[i], 1, 0);
        if (i) {
            cr_assert_eq(count_impl(s, plan, "attention"), 2);
            /* the residual sums before norm2 (2) and the next layer's / the final norm (2); the
             * embedding + positions sum broadcasts, so its norm1 stays apart */
            cr_assert_eq(count_impl(s, plan, "add+layernorm"), 4);
            cr_assert_eq(count_impl(s, plan, "heads-split"), 2);
            /* here the output's bytes overlap V's: the output moved by a merge */
            cr_assert_eq(count_impl(s, plan, "heads-merge"), 2);
            cr_assert_eq(count_merged_out(s, plan), 0);
        }
        cr_assert_eq(ntg_session_set_input(s, "x", x, NX, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_run(s, 1, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_get_output(s, "y", i ? y : yr, NY, &err), NTG_OK, "%s",
                     err.message);
        ntg_session_destroy(s);
    }
    double e = tu_max_abs_rel(y, yr, NY);
    cr_assert_leq(e, 1e-5, "fused vs reference at batch 1: max-abs-rel %.3g", e);
    ntg_plan_destroy(plan);
}

/* Every parameter's gradient after a grad run, one after another, into out (NULL: the count). */
static size_t get_grads(ntg_session *s, const ntg_plan *plan, float *out)
{
    size_t at = 0;
    for (size_t i = 0; i < ntg_plan_param_count(plan); i++) {
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        ntg_plan_param(plan, i, &ti, NULL);
        size_t n = ti.nbytes / sizeof(float); /* parameters are not batched */
        if (out) {
            char gname[300];
            ntg_error err;
            snprintf(gname, sizeof gname, "grad.%s", ti.name);
            cr_assert_eq(ntg_session_get_output(s, gname, out + at, n, &err), NTG_OK, "%s",
                         err.message);
        }
        at += n;
    }
    return at;
}

/*
 * The attention backward (P.V's, the softmax's, the scale's and Q.K^T's backwards) runs as one
 * kernel in the grad program, dP and dS never stored, and the forward attention block as one
 * kernel that stores P for it; they call the same product kernels, the same softmax lines and
 * the same float products as the unfused ops, so the gradients are bitwise those with both
 * switched off, at 1 and 2 threads and at two batches (the kernel patches the
 * later op's batch), and within the backward tolerance (1e-4) of the reference backend.
 */
Test(xnn_attention, backward_fused_and_bitwise_unchanged)
{
    need_xnnpack();
    ntg_plan *plan = compile();
    size_t ng = get_grads(NULL, plan, NULL);
    float x[BATCH * NX], t[BATCH * NY];
    tu_rng r = {11};
    tu_fill(&r, x, BATCH * NX, -2, 2);
    tu_fill(&r, t, BATCH * NY, -1, 1);
    float *ref = malloc(2 * ng * sizeof *ref), *got = malloc(2 * ng * sizeof *got),
          *unf = malloc(2 * ng * sizeof *unf);
    cr_assert(ref && got && unf);
    struct {
        const char *backend;
        int threads;
        unsigned policy;
        float *out;
    } runs[] = {{"cpu", 1, 0, ref},
                {"xnnpack", 1, XNN_POL_NO_ATTN_BWD | XNN_POL_NO_ATTENTION | XNN_POL_NO_HEADS, unf},
                {"xnnpack", 1, 0, got},
                {"xnnpack", 2, XNN_POL_NO_ATTN_BWD | XNN_POL_NO_ATTENTION | XNN_POL_NO_HEADS, unf},
                {"xnnpack", 2, 0, got}};
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        ntg_session *s = open_session(plan, runs[k].backend, runs[k].threads, runs[k].policy);
        if (strcmp(runs[k].backend, "cpu")) {
            cr_assert_eq(count_impl(s, plan, "attention-bwd"), runs[k].policy ? 0 : 2);
            cr_assert_eq(count_impl(s, plan, "heads-merge"), runs[k].policy ? 0 : 2);
            cr_assert_eq(count_impl(s, plan, "heads-split"), runs[k].policy ? 0 : 4);
        }
        ntg_error err;
        cr_assert_eq(ntg_session_set_input(s, "x", x, BATCH * NX, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_set_input(s, "t", t, BATCH * NY, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_run_program(s, "grad", BATCH, &err), NTG_OK, "%s", err.message);
        get_grads(s, plan, runs[k].out);
        cr_assert_eq(ntg_session_run_program(s, "grad", 2, &err), NTG_OK, "%s", err.message);
        get_grads(s, plan, runs[k].out + ng);
        ntg_session_destroy(s);
        if (k < 2 || runs[k].policy) continue;
        for (size_t i = 0; i < 2 * ng; i++)
            cr_assert_eq(memcmp(&got[i], &unf[i], sizeof got[i]), 0,
                         "%d threads: gradient value %zu: fused %.9g, unfused %.9g",
                         runs[k].threads, i, got[i], unf[i]);
        double e = tu_max_abs_rel(got, ref, 2 * ng);
        cr_assert_leq(e, 1e-4, "%d threads: fused vs reference: max-abs-rel %.3g", runs[k].threads,
                      e);
    }
    free(ref);
    free(got);
    free(unf);
    ntg_plan_destroy(plan);
}
