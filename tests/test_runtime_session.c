/* test_runtime_session.c — the session API: binding, running at any batch, and its errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "ntgraph.h"
#include "op_attrs.h"
#include "plan_int.h"
#include "rng.h"
#include "session_int.h"
#include "testutil.h"

/* y = relu(x W^T + b) with known weights, so outputs can be checked by hand. */
static ntg_plan *small_plan(int max_batch)
{
    const char *g =
        "ntgraph: 1\nname: s\ninputs:\n  x: [batch, 3]\noutputs:\n  y: ~\n"
        "nodes:\n  - {op: dense, name: fc, in: x, out: y, units: 2, activation: relu}\n";
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.max_batch = max_batch;
    ntg_plan *p = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_string(g, strlen(g), "s.yaml", &o, &p, &err), NTG_OK, "%s",
                 err.message);
    return p;
}

static void reference(const ntg_plan *p, const float *x, int batch, float *y)
{
    const float *w = ntg_plan_param_data(p, 0), *b = ntg_plan_param_data(p, 1);
    for (int r = 0; r < batch; r++)
        for (int o = 0; o < 2; o++) {
            double acc = b[o];
            for (int i = 0; i < 3; i++) acc += (double)x[r * 3 + i] * w[o * 3 + i];
            y[r * 2 + o] = (float)(acc > 0 ? acc : 0);
        }
}

Test(runtime, session_runs_any_batch_up_to_max)
{
    ntg_plan *p = small_plan(5);
    ntg_session *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg_session_create(p, NULL, &s, &err), NTG_OK, "%s", err.message);
    tu_rng rng = {3};
    for (int batch = 1; batch <= 5; batch++) {
        float x[15], y[10], want[10];
        tu_fill(&rng, x, (size_t)batch * 3, -2, 2);
        cr_assert_eq(ntg_session_set_input(s, "x", x, (size_t)batch * 3, &err), NTG_OK);
        cr_assert_eq(ntg_session_run(s, batch, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_get_output(s, "y", y, (size_t)batch * 2, &err), NTG_OK);
        reference(p, x, batch, want);
        cr_assert_leq(tu_max_abs_rel(y, want, (size_t)batch * 2), 1e-6, "batch %d", batch);
    }
    ntg_session_destroy(s);
    ntg_plan_destroy(p);
}

Test(runtime, session_errors)
{
    ntg_plan *p = small_plan(4);
    ntg_session *s = NULL;
    ntg_error err;
    ntg_session_options o;
    ntg_session_options_init(&o);
    o.backend = "nosuch";
    cr_assert_eq(ntg_session_create(p, &o, &s, &err), NTG_ERR_INVALID_ARG);
    cr_assert_null(s);
    cr_assert(strstr(err.message, "unknown backend 'nosuch' (this build has: ") &&
                  strstr(err.message, "cpu)"),
              "%s", err.message);
    o.backend = "cpu";
    /* the header documents NTG_ERR_INVALID_ARG for max_batch out of range */
    o.max_batch = 5;
    cr_assert_eq(ntg_session_create(p, &o, &s, &err), NTG_ERR_INVALID_ARG);
    cr_assert(strstr(err.message, "outside 1..4"), "%s", err.message);
    cr_assert_null(s);
    o.max_batch = -1;
    cr_assert_eq(ntg_session_create(p, &o, &s, &err), NTG_ERR_INVALID_ARG);
    cr_assert(strstr(err.message, "max batch -1 is outside 1..4"), "%s", err.message);
    o.max_batch = 2;
    cr_assert_eq(ntg_session_create(p, &o, &s, &err), NTG_OK, "%s", err.message);
    cr_assert_str_eq(ntg_session_backend(s), "cpu");

    float x[12] = {0}, y[8];
    cr_assert_eq(ntg_session_get_output(s, "y", y, 2, &err), NTG_ERR_STATE);
    cr_assert_eq(ntg_session_set_input(s, "xx", x, 3, &err), NTG_ERR_NOT_FOUND);
    cr_assert_str_eq(err.message, "the plan has no input 'xx'");
    cr_assert_eq(ntg_session_set_input(s, "x", x, 4, &err), NTG_ERR_RANGE);
    cr_assert(strstr(err.message, "a multiple of 3"), "%s", err.message);
    cr_assert_eq(ntg_session_set_input(s, "x", x, 9, &err), NTG_ERR_RANGE, "above max batch 2");
    cr_assert_eq(ntg_session_set_input(s, "x", x, 6, &err), NTG_OK);
    cr_assert_eq(ntg_session_run(s, 0, &err), NTG_ERR_RANGE);
    cr_assert_eq(ntg_session_run(s, 3, &err), NTG_ERR_RANGE);
    cr_assert_str_eq(err.message, "batch 3 is outside 1..2");
    cr_assert_eq(ntg_session_run_program(s, "nope", 1, &err), NTG_ERR_NOT_FOUND);
    cr_assert_eq(ntg_session_run_program(s, "train_step", 1, &err), NTG_ERR_STATE);
    cr_assert(strstr(err.message, "NTG_SESSION_TRAINABLE"), "%s", err.message);
    cr_assert_eq(ntg_session_run(s, 1, &err), NTG_OK);
    cr_assert_eq(ntg_session_get_output(s, "y", y, 4, &err), NTG_ERR_RANGE, "only batch 1 ran");
    cr_assert_eq(ntg_session_get_output(s, "nope", y, 2, &err), NTG_ERR_NOT_FOUND);
    cr_assert_eq(ntg_session_get_output(s, "y", y, 2, &err), NTG_OK);
    ntg_session_destroy(s);
    ntg_session_destroy(NULL);
    ntg_plan_destroy(p);
    ntg_plan_destroy(NULL);
}

Test(runtime, version_and_strerror)
{
    cr_assert_eq(ntg_version_number(), NTG_VERSION_NUMBER);
    cr_assert_str_eq(ntg_version_string(), NTG_VERSION_STRING);
    for (int s = 0; s >= -15; s--) {
        const char *m = ntg_strerror((ntg_status)s);
        cr_assert(m && strcmp(m, "unknown status") != 0, "status %d", s);
    }
    cr_assert_str_eq(ntg_strerror((ntg_status)-999), "unknown status");
    cr_assert_str_eq(ntg_strerror(NTG_ERR_SHAPE), "shape mismatch");
}

Test(runtime, philox_known_answers)
{
    /* Random123's known-answer vectors for Philox4x32-10 */
    uint32_t out[4];
    uint32_t zero[4] = {0, 0, 0, 0};
    ntg__philox4x32(zero, 0, out);
    cr_assert_eq(out[0], 0x6627e8d5u);
    cr_assert_eq(out[1], 0xe169c58du);
    cr_assert_eq(out[2], 0xbc57ac4cu);
    cr_assert_eq(out[3], 0x9b00dbd8u);
    uint32_t ones[4] = {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu};
    ntg__philox4x32(ones, 0xffffffffffffffffull, out);
    cr_assert_eq(out[0], 0x408f276du);
    cr_assert_eq(out[1], 0x41c83b0eu);
    cr_assert_eq(out[2], 0xa20bc7c6u);
    cr_assert_eq(out[3], 0x6d5451fdu);
    uint32_t pi[4] = {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u};
    ntg__philox4x32(pi, ((uint64_t)0x299f31d0u << 32) | 0xa4093822u, out);
    cr_assert_eq(out[0], 0xd16cfe09u);
    cr_assert_eq(out[1], 0x94fdccebu);
    cr_assert_eq(out[2], 0x5001e420u);
    cr_assert_eq(out[3], 0x24126ea1u);
}

/* An output the last program did not compute holds what an earlier run left there (or
 * zeros): reading it is NTG_ERR_STATE, not stale numbers with NTG_OK. */
Test(runtime, output_of_another_program_is_a_state_error)
{
    ntg_define d[] = {{"h", "4"}, {"input_size", "8"}, {"hidden", "8"}};
    ntg_compile_options co;
    ntg_compile_options_init(&co);
    co.defines = d;
    co.n_defines = 3;
    co.max_batch = 2;
    ntg_plan *p = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(tu_src("graphs/nhits.yaml"), &co, &p, &err), NTG_OK, "%s",
                 err.message);
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "cpu";
    ntg_session *s = NULL;
    cr_assert_eq(ntg_session_create(p, &so, &s, &err), NTG_OK, "%s", err.message);
    float x[8], t[4], y[4], loss;
    for (int i = 0; i < 8; i++) x[i] = (float)i / 8.0f;
    for (int i = 0; i < 4; i++) t[i] = 1.0f;
    cr_assert_eq(ntg_session_set_input(s, "x", x, 8, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_set_input(s, "t", t, 4, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_run(s, 1, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "y", y, 4, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "loss", &loss, 1, &err), NTG_ERR_STATE,
                 "infer computes no loss");
    cr_assert(strstr(err.message, "output 'loss' is not computed by program 'infer', the last "
                                  "one run"),
              "%s", err.message);
    cr_assert_eq(ntg_session_run_program(s, "grad", 1, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "y", y, 4, &err), NTG_ERR_STATE,
                 "grad does not output y: the infer run's values are stale");
    cr_assert(strstr(err.message, "output 'y' is not computed by program 'grad'"), "%s",
              err.message);
    cr_assert_eq(ntg_session_get_output(s, "loss", &loss, 1, &err), NTG_OK, "%s", err.message);
    cr_assert(isfinite(loss));
    cr_assert_eq(ntg_session_get_output(s, "nope", y, 1, &err), NTG_ERR_NOT_FOUND);
    cr_assert_eq(ntg_session_run_program(s, "eval", 1, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "y", y, 4, &err), NTG_OK, "eval outputs y");
    ntg_session_destroy(s);
    ntg_plan_destroy(p);
}

/* The grad program's outputs (loss, every gradient) after a run of `s`, concatenated. */
static size_t grad_outputs(ntg_session *s, const ntg_plan *p, int g, float *out, size_t cap)
{
    const ntg_program_rec *pr = &p->img.programs[g];
    size_t k = 0;
    for (uint32_t i = 0; i < pr->n_outputs; i++) {
        uint32_t id = p->img.indices[pr->outputs + i];
        const ntg_tensor_rec *t = &p->img.tensors[id];
        size_t n = (size_t)(t->nbytes / sizeof(float));
        cr_assert(k + n <= cap);
        ntg_error err;
        cr_assert_eq(ntg__session_get_tensor(s, id, out + k, n, &err), NTG_OK, "%s", err.message);
        k += n;
    }
    return k;
}

/* A program run as op ranges in turn (what data-parallel training does to overlap the
 * gradient all-reduce with backward) gives bitwise the whole run's outputs, on every backend
 * with run_range; a range that does not follow the run's first one is refused. */
Test(runtime, program_in_op_ranges_equals_the_whole_run)
{
    ntg_define d[] = {{"h", "4"}, {"input_size", "8"}, {"hidden", "16"}};
    ntg_compile_options co;
    ntg_compile_options_init(&co);
    co.defines = d;
    co.n_defines = 3;
    co.max_batch = 4;
    ntg_plan *p = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(tu_src("graphs/nhits.yaml"), &co, &p, &err), NTG_OK, "%s",
                 err.message);
    int g = ntg__plan_program(p, "grad");
    cr_assert(g >= 0);
    uint32_t n_ops = p->img.programs[g].n_ops;
    float x[32], t[16];
    for (int i = 0; i < 32; i++) x[i] = sinf((float)i * 0.37f);
    for (int i = 0; i < 16; i++) t[i] = cosf((float)i * 0.21f);
    enum { CAP = 1 << 16 };
    float *whole = malloc(CAP * sizeof *whole), *cut = malloc(CAP * sizeof *cut);
    cr_assert(whole && cut);
    const char *backends[] = {"cpu", "xnnpack"};
    int ran = 0;
    for (size_t bi = 0; bi < 2; bi++) {
        if (!ntg__backend_find(backends[bi])) continue;
        ntg_session_options so;
        ntg_session_options_init(&so);
        so.backend = backends[bi];
        so.threads = 2;
        so.flags = NTG_SESSION_TRAINABLE;
        ntg_session *s = NULL;
        if (ntg_session_create(p, &so, &s, &err) != NTG_OK) continue; /* not on this machine */
        cr_assert(ntg__session_can_run_range(s), "%s has no run_range", backends[bi]);
        cr_assert_eq(ntg_session_set_input(s, "x", x, 32, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_set_input(s, "t", t, 16, &err), NTG_OK, "%s", err.message);
        /* a later range without the run's first one */
        cr_assert_eq(ntg__session_run_range(s, g, 4, 3, n_ops, &err), NTG_ERR_STATE);
        cr_assert(strstr(err.message, "without the ops before them"), "%s", err.message);
        cr_assert_eq(ntg__session_run_range(s, g, 4, 0, n_ops + 1, &err), NTG_ERR_RANGE);
        /* cut after every op, and at a few places, several times (xnnpack adapts over runs) */
        for (int rep = 0; rep < 12; rep++) {
            cr_assert_eq(ntg__session_run_index(s, g, 4, &err), NTG_OK, "%s", err.message);
            size_t n = grad_outputs(s, p, g, whole, CAP);
            uint32_t step = rep % 3 == 0 ? 1 : (uint32_t)(n_ops / 3 + (uint32_t)rep);
            for (uint32_t a = 0; a < n_ops;) {
                uint32_t e = a + step < n_ops ? a + step : n_ops;
                cr_assert_eq(ntg__session_run_range(s, g, 4, a, e, &err), NTG_OK, "%s",
                             err.message);
                a = e;
            }
            cr_assert_eq(grad_outputs(s, p, g, cut, CAP), n);
            cr_assert(memcmp(whole, cut, n * sizeof *cut) == 0,
                      "%s: grad cut every %u ops differs from the whole run", backends[bi], step);
        }
        ntg_session_destroy(s);
        ran++;
    }
    cr_assert(ran >= 1);
    free(whole);
    free(cut);
    ntg_plan_destroy(p);
}

/* An optimizer op run on parts of its parameter (ntg__session_run_elems: what a sharded
 * optimizer does where two workers own parts of one parameter) gives bitwise the whole op's
 * weights and state, on every backend that offers it; a grad op, or a range past the
 * parameter, is refused. */
Test(runtime, optimizer_op_in_element_parts_equals_the_whole_op)
{
    ntg_define d[] = {{"h", "4"}, {"input_size", "8"}, {"hidden", "40"}};
    ntg_compile_options co;
    ntg_compile_options_init(&co);
    co.defines = d;
    co.n_defines = 3;
    co.max_batch = 4;
    ntg_plan *p = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(tu_src("graphs/nhits.yaml"), &co, &p, &err), NTG_OK, "%s",
                 err.message);
    int g = ntg__plan_program(p, "grad"), ap = ntg__plan_program(p, "apply");
    cr_assert(g >= 0 && ap >= 0);
    const ntg_program_rec *apr = &p->img.programs[ap];
    /* the apply program's optimizer op with the largest parameter */
    uint32_t k_big = UINT32_MAX;
    uint64_t n_big = 0;
    for (uint32_t k = 0; k < apr->n_ops; k++) {
        const ntg_op_rec *r = &p->img.ops[p->img.indices[apr->ops + k]];
        if (r->code != NTG_OP_adam) continue;
        uint64_t n = p->img.tensors[p->img.operands[r->operands]].nbytes / 4;
        if (n > n_big) n_big = n, k_big = k;
    }
    cr_assert(k_big != UINT32_MAX && n_big > 100, "no adam op in apply");
    const ntg_op_rec *r = &p->img.ops[p->img.indices[apr->ops + k_big]];
    uint32_t ids[4], ctl_id = p->img.operands[r->operands + 4];
    for (int i = 0; i < 4; i++) ids[i] = p->img.operands[r->operands + (uint32_t)i];
    float x[32], t[16], ctl[NTG_CTL_SIZE] = {0};
    for (int i = 0; i < 32; i++) x[i] = sinf((float)i * 0.37f);
    for (int i = 0; i < 16; i++) t[i] = cosf((float)i * 0.21f);
    ctl[NTG_CTL_LR] = 0.01f;
    uint64_t cut = (n_big / 3 + 15) / 16 * 16, cut2 = (2 * n_big / 3) / 16 * 16;
    const char *backends[] = {"cpu", "xnnpack"};
    int ran = 0;
    for (size_t bi = 0; bi < 2; bi++) {
        if (!ntg__backend_find(backends[bi])) continue;
        ntg_session *s[2] = {NULL, NULL};
        for (int v = 0; v < 2; v++) {
            ntg_session_options so;
            ntg_session_options_init(&so);
            so.backend = backends[bi];
            so.threads = 2;
            so.flags = NTG_SESSION_TRAINABLE;
            if (ntg_session_create(p, &so, &s[v], &err) != NTG_OK) break;
        }
        if (!s[1]) { /* not on this machine */
            ntg_session_destroy(s[0]);
            continue;
        }
        cr_assert(ntg__session_can_run_elems(s[0]), "%s has no run_elems", backends[bi]);
        for (int step = 1; step <= 3; step++) {
            ctl[NTG_CTL_STEP] = (float)step;
            for (int v = 0; v < 2; v++) {
                cr_assert_eq(ntg_session_set_input(s[v], "x", x, 32, &err), NTG_OK);
                cr_assert_eq(ntg_session_set_input(s[v], "t", t, 16, &err), NTG_OK);
                cr_assert_eq(ntg__session_run_index(s[v], g, 4, &err), NTG_OK, "%s", err.message);
                cr_assert_eq(ntg__session_set_tensor(s[v], ctl_id, ctl, NTG_CTL_SIZE, &err), NTG_OK,
                             "%s", err.message);
                cr_assert_eq(ntg__session_run_range(s[v], ap, 1, 0, 0, &err), NTG_OK);
            }
            cr_assert_eq(ntg__session_run_range(s[0], ap, 1, k_big, k_big + 1, &err), NTG_OK);
            /* in three parts, the last first */
            cr_assert_eq(ntg__session_run_elems(s[1], ap, k_big, cut2, n_big, &err), NTG_OK, "%s",
                         err.message);
            cr_assert_eq(ntg__session_run_elems(s[1], ap, k_big, 0, cut, &err), NTG_OK);
            cr_assert_eq(ntg__session_run_elems(s[1], ap, k_big, cut, cut2, &err), NTG_OK);
            for (int i = 0; i < 4; i++) {
                const float *a = ntg__session_host_tensor(s[0], ids[i]),
                            *b = ntg__session_host_tensor(s[1], ids[i]);
                cr_assert(a && b);
                cr_assert(memcmp(a, b, n_big * sizeof *a) == 0,
                          "%s step %d: operand %d of adam in parts differs from the whole op",
                          backends[bi], step, i);
            }
        }
        cr_assert_eq(ntg__session_run_elems(s[1], ap, k_big, 0, n_big + 1, &err), NTG_ERR_INTERNAL);
        cr_assert_eq(ntg__session_run_elems(s[1], g, 0, 0, 1, &err), NTG_ERR_STATE);
        for (int v = 0; v < 2; v++) ntg_session_destroy(s[v]);
        ran++;
    }
    cr_assert(ran >= 1);
    ntg_plan_destroy(p);
}
