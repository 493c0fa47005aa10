/* test_graphs_train.c — every graph in graphs/ compiles with training and runs a train_step. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <string.h>

#include "ntgraph.h"
#include "testutil.h"

/* One train_step at batch 2 on random data: the loss is finite and a parameter moves. */
static void one_step(const char *path)
{
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.max_batch = 2;
    ntg_plan *plan = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(path, &o, &plan, &err), NTG_OK, "%s: %s", path, err.message);
    cr_assert(ntg_plan_has_program(plan, "train_step"), "%s has no train_step", path);
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "cpu";
    so.flags = NTG_SESSION_TRAINABLE;
    ntg_session *s = NULL;
    cr_assert_eq(ntg_session_create(plan, &so, &s, &err), NTG_OK, "%s", err.message);
    tu_rng r = {17};
    const char *names[] = {"x", "t"};
    for (int k = 0; k < 2; k++) {
        size_t n = 0;
        /* x is the infer input; t has the target's shape (batch 2) */
        if (k == 0) {
            ntg_tensor_info ti;
            ntg_tensor_info_init(&ti);
            ntg_plan_input(plan, 0, &ti, NULL);
            n = ti.nbytes / sizeof(float) / (size_t)ti.shape[0] * 2;
        } else {
            ntg_tensor_info ti;
            ntg_tensor_info_init(&ti);
            ntg_plan_output(plan, 0, &ti, NULL);
            n = ti.nbytes / sizeof(float) / (size_t)ti.shape[0] * 2;
            const char *q = ntg_plan_meta(plan, "train.loss");
            if (q && (strcmp(q, "mqloss") == 0 || strcmp(q, "normal") == 0 ||
                      strcmp(q, "studentt") == 0))
                n /= (size_t)ti.shape[1]; /* [batch, Q or P, h] */
        }
        float *buf = malloc(n * sizeof *buf);
        tu_fill(&r, buf, n, -1, 1);
        cr_assert_eq(ntg_session_set_input(s, names[k], buf, n, &err), NTG_OK, "%s: %s", path,
                     err.message);
        free(buf);
    }
    float ctl[4] = {1e-3f, 1, 0, 0};
    cr_assert_eq(ntg_session_set_input(s, "train.ctl", ctl, 4, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_run_program(s, "train_step", 2, &err), NTG_OK, "%s: %s", path,
                 err.message);
    float loss = NAN;
    cr_assert_eq(ntg_session_get_output(s, "loss", &loss, 1, &err), NTG_OK, "%s", err.message);
    cr_assert(isfinite(loss) && loss > 0, "%s: loss %g", path, (double)loss);
    ntg_session_destroy(s);
    ntg_plan_destroy(plan);
}

Test(graphs, every_graph_trains_one_step)
{
    DIR *d = opendir(tu_src("graphs"));
    cr_assert(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", tu_src("graphs"), e->d_name);
        one_step(path);
        n++;
    }
    closedir(d);
    cr_assert_geq(n, 5, "nhits, nhits_brief, nhits_mq, lstm_attention, transformer");
}
