/* test_golden_seq.c — a golden file's weights as the compiler takes them: pos_enc is a constant.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "ntgraph.h"
#include "testutil.h"

/* The models' forward and gradients against the golden files run on every backend, the
 * reference included: tests/test_backend_golden.c. */

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
