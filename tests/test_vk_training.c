/* test_vk_training.c — training on the Vulkan backend: the loss curve of the CPU's, on device. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "ntgraph.h"
#include "plan_int.h"
#include "session_int.h"
#include "test_vk_util.h"
#include "testutil.h"

/*
 * N-HiTS (h 24, input 96, hidden 32) on ETTh1, trained from the same seed on the reference
 * backend and on Vulkan: the train loss of every step and every validation loss agree within
 * 1e-3 relative.  CI runs the 200 steps at batch 32 on the small graph;
 * bench/vulkan_parity.sh runs the same comparison on the full-size graph (h 96, batch 256).
 */
#define STEPS 200
#define REL_TOL 1e-3

typedef struct curve {
    double train[STEPS + 1], val[STEPS + 1];
    long n;
} curve;

static int on_progress(void *user, const ntg_train_progress *p)
{
    curve *c = user;
    if (p->step >= 1 && p->step <= STEPS) {
        c->train[p->step] = p->train_loss;
        c->val[p->step] = p->val_loss;
        c->n = p->step;
    }
    return 0;
}

static ntg_plan *small_nhits(int max_batch)
{
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    ntg_define d[] = {{"h", "24"}, {"input_size", "96"}, {"hidden", "32"}};
    o.defines = d;
    o.n_defines = 3;
    o.max_batch = max_batch;
    ntg_plan *p = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(tu_src("graphs/nhits.yaml"), &o, &p, &err), NTG_OK, "%s",
                 err.message);
    return p;
}

static ntg_plan *train_on(const ntg_plan *p, const ntg_series *s, const char *backend, curve *c)
{
    ntg_train_options o;
    ntg_train_options_init(&o);
    char steps[16];
    snprintf(steps, sizeof steps, "%d", STEPS);
    ntg_define set[] = {{"steps", steps}, {"batch", "32"}, {"val_every", "20"}, {"seed", "1"}};
    o.split = "8640,2880,2880";
    o.settings = set;
    o.n_settings = 4;
    o.backend = backend;
    o.progress = on_progress;
    o.user = c;
    ntg_plan *out = NULL;
    ntg_error err;
    ntg_train_report r;
    cr_assert_eq(ntg_train(p, s, &o, &out, &r, &err), NTG_OK, "%s: %s", backend, err.message);
    cr_log_info("%s: %ld steps, %.0f windows/s, final train loss %.6f, best val %.6f", backend,
                r.steps, r.windows_per_s, r.final_train_loss, r.best_val_loss);
    return out;
}

Test(vk_training, nhits_etth1_loss_curves_agree, .timeout = 900)
{
    vkt_need_vulkan();
    ntg_plan *p = small_nhits(32);
    ntg_series *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg_series_load_csv(tu_src("data/ETTh1.csv"), NULL, &s, &err), NTG_OK, "%s",
                 err.message);
    curve *cpu = calloc(1, sizeof *cpu), *vk = calloc(1, sizeof *vk);
    ntg_plan *a = train_on(p, s, "cpu", cpu);
    ntg_plan *b = train_on(p, s, "vulkan", vk);
    cr_assert_eq(cpu->n, STEPS);
    cr_assert_eq(vk->n, STEPS);
    double worst = 0, worst_val = 0;
    for (long k = 1; k <= STEPS; k++) {
        double e = fabs(vk->train[k] - cpu->train[k]) / fabs(cpu->train[k]);
        cr_assert_leq(e, REL_TOL, "step %ld: train loss %.9g on vulkan, %.9g on the cpu", k,
                      vk->train[k], cpu->train[k]);
        if (e > worst) worst = e;
        cr_assert_eq(isnan(vk->val[k]), isnan(cpu->val[k]));
        if (!isnan(cpu->val[k])) {
            double ev = fabs(vk->val[k] - cpu->val[k]) / fabs(cpu->val[k]);
            cr_assert_leq(ev, REL_TOL, "step %ld: val loss %.9g on vulkan, %.9g on the cpu", k,
                          vk->val[k], cpu->val[k]);
            if (ev > worst_val) worst_val = ev;
        }
    }
    double ew = 0;
    for (size_t i = 0; i < ntg_plan_param_count(a); i++) {
        ntg_tensor_info ti;
        ntg_plan_param(a, i, &ti);
        double e =
            tu_max_abs_rel(ntg_plan_param_data(b, i), ntg_plan_param_data(a, i), ti.nbytes / 4);
        if (e > ew) ew = e;
    }
    cr_log_info("loss %.6f -> %.6f over %d steps; worst relative difference: train loss %.2e, "
                "val loss %.2e; trained weights max-abs-rel %.2e",
                cpu->train[1], cpu->train[STEPS], STEPS, worst, worst_val, ew);
    free(cpu);
    free(vk);
    ntg_plan_destroy(a);
    ntg_plan_destroy(b);
    ntg_series_destroy(s);
    ntg_plan_destroy(p);
}

/* A train_step moves its inputs to the device and the loss back, never the weights: the
 * optimizer runs on the device.  Ten steps at a fixed batch, counted at the vtable. */
Test(vk_training, train_steps_keep_the_weights_on_the_device)
{
    vkt_need_vulkan();
    const int batch = 8;
    ntg_plan *p = small_nhits(batch);
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "vulkan";
    so.flags = NTG_SESSION_TRAINABLE;
    ntg_session *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg_session_create(p, &so, &s, &err), NTG_OK, "%s", err.message);
    size_t nx = 96 * (size_t)batch, nt = 24 * (size_t)batch;
    size_t wbytes = (size_t)p->img.info.storage_bytes[NTG_STORE_WEIGHTS];
    float *x = malloc(nx * 4), *t = malloc(nt * 4), *w0 = malloc(wbytes), *w1 = malloc(wbytes);
    cr_assert_eq(ntg__session_read_storage(s, NTG_STORE_WEIGHTS, w0, &err), NTG_OK);
    uint64_t up0, down0, up1, down1;
    ntg__vk_transfer_bytes(s->be, &up0, &down0);
    tu_rng r = {3};
    float loss[10];
    for (int step = 1; step <= 10; step++) {
        tu_fill(&r, x, nx, -1, 1);
        tu_fill(&r, t, nt, -1, 1);
        float ctl[4] = {1e-3f, (float)step, 0, 0};
        cr_assert_eq(ntg_session_set_input(s, "x", x, nx, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_set_input(s, "t", t, nt, &err), NTG_OK, "%s", err.message);
        cr_assert_eq(ntg_session_set_input(s, "train.ctl", ctl, 4, &err), NTG_OK);
        cr_assert_eq(ntg_session_run_program(s, "train_step", batch, &err), NTG_OK, "%s",
                     err.message);
        cr_assert_eq(ntg_session_get_output(s, "loss", &loss[step - 1], 1, &err), NTG_OK);
    }
    ntg__vk_transfer_bytes(s->be, &up1, &down1);
    cr_assert_eq(down1 - down0, 10 * sizeof(float), "downloaded %llu bytes over 10 steps",
                 (unsigned long long)(down1 - down0));
    cr_assert_eq(up1 - up0, 10 * (nx + nt + 4) * sizeof(float));
    cr_assert_eq(ntg__session_read_storage(s, NTG_STORE_WEIGHTS, w1, &err), NTG_OK);
    cr_assert_neq(memcmp(w0, w1, wbytes), 0, "the weights changed on the device");
    for (int i = 0; i < 10; i++) cr_assert(isfinite(loss[i]));
    uint32_t nd, nb;
    ntg__vk_program_stats(s->be, (uint32_t)ntg__plan_program(p, "train_step"), &nd, &nb);
    cr_log_info("train_step: %u dispatches, %u barriers; 10 steps moved %llu bytes up, %llu down",
                nd, nb, (unsigned long long)(up1 - up0), (unsigned long long)(down1 - down0));
    char first[1024];
    long msgs = ntg__vk_validation_messages(s->be, first, sizeof first);
    cr_assert_eq(msgs, 0, "%ld validation message(s), the first: %s", msgs, first);
    ntg_session_destroy(s);
    free(x);
    free(t);
    free(w0);
    free(w1);
    ntg_plan_destroy(p);
}
