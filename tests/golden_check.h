/* golden_check.h — a session's loss and parameter gradients against a golden file. */
#ifndef NTG_TEST_GOLDEN_CHECK_H
#define NTG_TEST_GOLDEN_CHECK_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ntgraph.h"
#include "safetensors.h"
#include "testutil.h"

/* What gc_check_grads measured, for the test's log line. */
typedef struct gc_result {
    double loss_rel;        /* |loss - golden loss| / |golden loss| */
    double worst;           /* worst max-abs-rel over the gradients */
    const char *worst_name; /* the parameter it belongs to */
} gc_result;

/*
 * After a "grad" run of `s` (a session of `plan`): its output "loss" against the golden
 * file's "loss" (relative error <= tol_loss) and every parameter's gradient "grad.NAME"
 * against the golden tensor of that name (max-abs-rel <= tol_grad).  `label` starts the
 * failure messages.
 */
static inline gc_result gc_check_grads(ntg_session *s, const ntg_plan *plan, const ntg_st_file *f,
                                       const char *label, double tol_loss, double tol_grad)
{
    gc_result r = {0, 0, ""};
    ntg_error err;
    float loss, want;
    cr_assert_eq(ntg_session_get_output(s, "loss", &loss, 1, &err), NTG_OK, "%s", err.message);
    const ntg_st_tensor *wl = ntg__st_find(f, "loss");
    cr_assert(wl, "golden file lacks loss");
    memcpy(&want, wl->data, 4);
    r.loss_rel = fabs((double)loss - want) / fabs((double)want);
    cr_assert_leq(r.loss_rel, tol_loss, "%s loss %.8g vs %.8g", label, (double)loss, (double)want);
    for (size_t i = 0; i < ntg_plan_param_count(plan); i++) {
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        ntg_plan_param(plan, i, &ti, NULL);
        char gname[300];
        snprintf(gname, sizeof gname, "grad.%s", ti.name);
        const ntg_st_tensor *g = ntg__st_find(f, gname);
        cr_assert(g, "golden file lacks %s", gname);
        size_t ng = (size_t)g->nbytes / 4;
        float *a = malloc(ng * 4), *b = malloc(ng * 4);
        cr_assert(a && b);
        memcpy(b, g->data, ng * 4);
        cr_assert_eq(ntg_session_get_output(s, gname, a, ng, &err), NTG_OK, "%s", err.message);
        double e = tu_max_abs_rel(a, b, ng);
        if (e > r.worst) r.worst = e, r.worst_name = ti.name;
        cr_assert_leq(e, tol_grad, "%s: %s max-abs-rel %.3g", label, gname, e);
        free(a);
        free(b);
    }
    return r;
}

#endif /* NTG_TEST_GOLDEN_CHECK_H */
