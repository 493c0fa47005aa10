/* test_golden_seq.c — LSTM-attention and Transformer graphs against PyTorch: forward and gradients.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "golden_check.h"
#include "ntgraph.h"
#include "safetensors.h"
#include "testutil.h"

/* Compile `graph` with the golden weights (loss MSE, as the golden files' loss), run
 * infer on x and grad on (x, t): y within max-abs-rel 1e-5, loss within relative 1e-5,
 * every grad.<param> within max-abs-rel 1e-4 (the golden README's tolerances). */
static void golden(const char *graph_rel, const char *golden_rel, const char *backend)
{
    char graph[4096], path[4096];
    snprintf(graph, sizeof graph, "%s", tu_src(graph_rel));
    snprintf(path, sizeof path, "%s", tu_src(golden_rel));
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    ntg_define tr[] = {{"loss", "mse"}};
    o.train = tr;
    o.n_train = 1;
    o.max_batch = 4;
    o.weights_path = path;
    ntg_plan *plan = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(graph, &o, &plan, &err), NTG_OK, "%s", err.message);
    ntg_st_file *f = NULL;
    cr_assert_eq(ntg__st_load(path, &f, &err), NTG_OK, "%s", err.message);
    ntg_session *s = NULL;
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = backend;
    cr_assert_eq(ntg_session_create(plan, &so, &s, &err), NTG_OK, "%s", err.message);
    const char *names[] = {"x", "t", "y"};
    float *buf[3];
    size_t n[3];
    for (int i = 0; i < 3; i++) {
        const ntg_st_tensor *t = ntg__st_find(f, names[i]);
        cr_assert(t, "golden file lacks %s", names[i]);
        n[i] = (size_t)t->nbytes / 4;
        buf[i] = malloc(t->nbytes);
        memcpy(buf[i], t->data, (size_t)t->nbytes);
    }
    int batch = (int)ntg__st_find(f, "x")->shape[0];
    cr_assert_eq(ntg_session_set_input(s, "x", buf[0], n[0], &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_set_input(s, "t", buf[1], n[1], &err), NTG_OK, "%s", err.message);
    float *y = malloc(n[2] * 4);
    cr_assert_eq(ntg_session_run(s, batch, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "y", y, n[2], &err), NTG_OK, "%s", err.message);
    double ey = tu_max_abs_rel(y, buf[2], n[2]);
    cr_log_info("%s: forward max-abs-rel %.3g", golden_rel, ey);
    cr_assert_leq(ey, 1e-5, "%s forward: %.3g", golden_rel, ey);

    cr_assert_eq(ntg_session_run_program(s, "grad", batch, &err), NTG_OK, "%s", err.message);
    gc_result r = gc_check_grads(s, plan, f, golden_rel, 1e-5, 1e-4);
    cr_log_info("%s: loss rel %.3g, worst gradient %.3g (%s)", golden_rel, r.loss_rel, r.worst,
                r.worst_name);
    for (int i = 0; i < 3; i++) free(buf[i]);
    free(y);
    ntg_session_destroy(s);
    ntg__st_free(f);
    ntg_plan_destroy(plan);
}

Test(golden, lstm_attention_forward_and_gradients)
{
    golden("graphs/lstm_attention.yaml", "tests/data/lstm_attn_h24.safetensors", "cpu");
}

Test(golden, transformer_forward_and_gradients)
{
    golden("graphs/transformer.yaml", "tests/data/transformer_h24.safetensors", "cpu");
}

Test(golden, transformer_pos_enc_must_match)
{
    /* the file's pos_enc is accepted because it equals the constant the graph computes;
     * with another length it is refused */
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    char path[4096];
    snprintf(path, sizeof path, "%s", tu_src("tests/data/transformer_h24.safetensors"));
    o.weights_path = path;
    o.flags = NTG_COMPILE_STRICT_WEIGHTS | NTG_COMPILE_INFER_ONLY;
    ntg_plan *plan = NULL;
    ntg_error err;
    /* strict: x, t, y, loss and grads are still unknown, so only check the error kind */
    ntg_status st = ntg_compile_file(tu_src("graphs/transformer.yaml"), &o, &plan, &err);
    cr_assert_eq(st, NTG_ERR_DATA);
    cr_assert(strstr(err.message, "match no parameter") && !strstr(err.message, "pos_enc"),
              "pos_enc must count as known: %s", err.message);
    o.flags = NTG_COMPILE_INFER_ONLY;
    ntg_define d[] = {{"d_model", "32"}};
    o.defines = d;
    o.n_defines = 1;
    st = ntg_compile_file(tu_src("graphs/transformer.yaml"), &o, &plan, &err);
    cr_assert_neq(st, NTG_OK);
    cr_assert_null(plan);
}
