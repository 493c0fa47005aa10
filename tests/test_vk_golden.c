/* test_vk_golden.c — the three canonical models' forward and gradients on the Vulkan backend. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "ntgraph.h"
#include "safetensors.h"
#include "session_int.h"
#include "test_vk_util.h"
#include "testutil.h"

/*
 * Compile `graph` (with `defs`) on the golden weights, loss MSE (the golden files' loss), and
 * run it through a session on the Vulkan backend: infer on x (also at batch 1, which must give
 * the first row), then grad on (x, t).  Against PyTorch's values in the golden file: y within
 * max-abs-relative 1e-4, the loss within relative 1e-4, every grad.<param> within 1e-3 (the
 * conformance tolerances); the same numbers against the reference backend are logged.  Both
 * an inference session and a trainable one; under NTG_VULKAN_VALIDATION=1 neither may produce
 * a validation message.
 */
#define TOL_FWD 1e-4
#define TOL_BWD 1e-3

static void no_messages(ntg_session *s, const char *what)
{
    char first[1024];
    long n = ntg__vk_validation_messages(s->be, first, sizeof first);
    cr_assert_eq(n, 0, "%s: %ld validation message(s), the first: %s", what, n, first);
}

/* Outputs of one session: y at the golden batch, y at batch 1, the loss, every gradient. */
typedef struct run_out {
    float *y, *y1, loss;
    float **grads;
} run_out;

static void run_model(const ntg_plan *plan, const char *backend, int trainable,
                      const ntg_st_file *f, run_out *o)
{
    ntg_session *s = NULL;
    ntg_session_options so;
    ntg_error err;
    ntg_session_options_init(&so);
    so.backend = backend;
    if (trainable) so.flags |= NTG_SESSION_TRAINABLE;
    cr_assert_eq(ntg_session_create(plan, &so, &s, &err), NTG_OK, "%s", err.message);
    cr_assert_str_eq(ntg_session_backend(s), backend);
    const ntg_st_tensor *x = ntg__st_find(f, "x"), *t = ntg__st_find(f, "t");
    const ntg_st_tensor *y = ntg__st_find(f, "y");
    cr_assert(x && t && y, "golden file lacks x, t or y");
    int batch = (int)x->shape[0];
    size_t nx = (size_t)x->nbytes / 4, nt = (size_t)t->nbytes / 4, ny = (size_t)y->nbytes / 4;
    float *xb = malloc(nx * 4), *tb = malloc(nt * 4);
    memcpy(xb, x->data, nx * 4);
    memcpy(tb, t->data, nt * 4);
    o->y = malloc(ny * 4);
    o->y1 = malloc(ny / (size_t)batch * 4);
    cr_assert_eq(ntg_session_set_input(s, "x", xb, nx, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_set_input(s, "t", tb, nt, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_run(s, batch, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "y", o->y, ny, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_run(s, 1, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "y", o->y1, ny / (size_t)batch, &err), NTG_OK);
    cr_assert_eq(ntg_session_run_program(s, "grad", batch, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "loss", &o->loss, 1, &err), NTG_OK);
    size_t np = ntg_plan_param_count(plan);
    o->grads = calloc(np, sizeof *o->grads);
    for (size_t i = 0; i < np; i++) {
        ntg_tensor_info ti;
        ntg_plan_param(plan, i, &ti);
        char gname[300];
        snprintf(gname, sizeof gname, "grad.%s", ti.name);
        const ntg_st_tensor *g = ntg__st_find(f, gname);
        cr_assert(g, "golden file lacks %s", gname);
        o->grads[i] = malloc((size_t)g->nbytes);
        cr_assert_eq(ntg_session_get_output(s, gname, o->grads[i], (size_t)g->nbytes / 4, &err),
                     NTG_OK, "%s", err.message);
    }
    if (strcmp(backend, "vulkan") == 0) no_messages(s, "golden run");
    ntg_session_destroy(s);
    free(xb);
    free(tb);
}

static void free_out(const ntg_plan *plan, run_out *o)
{
    for (size_t i = 0; i < ntg_plan_param_count(plan); i++) free(o->grads[i]);
    free(o->grads);
    free(o->y);
    free(o->y1);
}

static void golden(const char *graph_rel, const char *golden_rel, const ntg_define *defs, size_t nd)
{
    vkt_need_vulkan();
    char graph[4096], path[4096];
    snprintf(path, sizeof path, "%s", tu_src(golden_rel));
    snprintf(graph, sizeof graph, "%s", tu_src(graph_rel));
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    ntg_define tr[] = {{"loss", "mse"}};
    o.defines = defs;
    o.n_defines = nd;
    o.train = tr;
    o.n_train = 1;
    o.max_batch = 4;
    o.weights_path = path;
    ntg_plan *plan = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(graph, &o, &plan, &err), NTG_OK, "%s", err.message);
    ntg_st_file *f = NULL;
    cr_assert_eq(ntg__st_load(path, &f, &err), NTG_OK, "%s", err.message);
    const ntg_st_tensor *yt = ntg__st_find(f, "y");
    size_t ny = (size_t)yt->nbytes / 4, row = ny / (size_t)ntg__st_find(f, "x")->shape[0];
    float *want_y = malloc(ny * 4), want_loss;
    memcpy(want_y, yt->data, ny * 4);
    memcpy(&want_loss, ntg__st_find(f, "loss")->data, 4);

    run_out cpu;
    run_model(plan, "cpu", 0, f, &cpu);
    for (int trainable = 0; trainable < 2; trainable++) {
        run_out vk;
        run_model(plan, "vulkan", trainable, f, &vk);
        double ey = tu_max_abs_rel(vk.y, want_y, ny), ey1 = tu_max_abs_rel(vk.y1, want_y, row);
        double el = fabs((double)vk.loss - want_loss) / fabs((double)want_loss);
        cr_assert_leq(ey, TOL_FWD, "%s forward: max-abs-rel %.3g", graph_rel, ey);
        cr_assert_leq(ey1, TOL_FWD, "%s forward at batch 1: max-abs-rel %.3g", graph_rel, ey1);
        cr_assert_leq(el, TOL_FWD, "%s loss %.8g vs %.8g", graph_rel, (double)vk.loss,
                      (double)want_loss);
        double worst = 0, worst_cpu = 0;
        const char *wn = "";
        for (size_t i = 0; i < ntg_plan_param_count(plan); i++) {
            ntg_tensor_info ti;
            ntg_plan_param(plan, i, &ti);
            char gname[300];
            snprintf(gname, sizeof gname, "grad.%s", ti.name);
            const ntg_st_tensor *g = ntg__st_find(f, gname);
            size_t ng = (size_t)g->nbytes / 4;
            float *want = malloc(ng * 4);
            memcpy(want, g->data, ng * 4);
            double e = tu_max_abs_rel(vk.grads[i], want, ng);
            double ec = tu_max_abs_rel(vk.grads[i], cpu.grads[i], ng);
            if (e > worst) worst = e, wn = ti.name;
            if (ec > worst_cpu) worst_cpu = ec;
            cr_assert_leq(e, TOL_BWD, "%s: %s max-abs-rel %.3g", graph_rel, gname, e);
            free(want);
        }
        cr_log_info("%s (vulkan, %s weights) vs PyTorch: forward %.2e, loss %.2e, worst gradient "
                    "%.2e (%s); vs the reference backend: forward %.2e, worst gradient %.2e",
                    graph_rel, trainable ? "writable" : "read-only", ey, el, worst, wn,
                    tu_max_abs_rel(vk.y, cpu.y, ny), worst_cpu);
        free_out(plan, &vk);
    }
    free_out(plan, &cpu);
    free(want_y);
    ntg__st_free(f);
    ntg_plan_destroy(plan);
}

static const ntg_define small_nhits[] = {{"h", "24"}, {"input_size", "96"}, {"hidden", "64"}};

Test(vk_golden, nhits_h24_small, .timeout = 600)
{
    golden("graphs/nhits.yaml", "tests/data/nhits_h24_small.safetensors", small_nhits, 3);
}

Test(vk_golden, lstm_attention, .timeout = 600)
{
    golden("graphs/lstm_attention.yaml", "tests/data/lstm_attn_h24.safetensors", NULL, 0);
}

Test(vk_golden, transformer, .timeout = 600)
{
    golden("graphs/transformer.yaml", "tests/data/transformer_h24.safetensors", NULL, 0);
}

/* An arena larger than the device binds at once (lavapipe: 128 MiB) is bound as windows: the
 * Transformer compiled for batch 256 (253 MB of arena) still gives the golden forward. */
Test(vk_golden, storages_larger_than_one_binding, .timeout = 600)
{
    vkt_need_vulkan();
    char path[4096];
    snprintf(path, sizeof path, "%s", tu_src("tests/data/transformer_h24.safetensors"));
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.max_batch = 256; /* with the training programs: 253 MB of arena */
    o.weights_path = path;
    ntg_plan *plan = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(tu_src("graphs/transformer.yaml"), &o, &plan, &err), NTG_OK, "%s",
                 err.message);
    ntg_st_file *f = NULL;
    cr_assert_eq(ntg__st_load(path, &f, &err), NTG_OK, "%s", err.message);
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "vulkan";
    ntg_session *s = NULL;
    cr_assert_eq(ntg_session_create(plan, &so, &s, &err), NTG_OK, "%s", err.message);
    const ntg_st_tensor *x = ntg__st_find(f, "x"), *y = ntg__st_find(f, "y");
    size_t nx = (size_t)x->nbytes / 4, ny = (size_t)y->nbytes / 4;
    float *xb = malloc(nx * 4), *want = malloc(ny * 4), *got = malloc(ny * 4);
    memcpy(xb, x->data, nx * 4);
    memcpy(want, y->data, ny * 4);
    cr_assert_eq(ntg_session_set_input(s, "x", xb, nx, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_run(s, (int)x->shape[0], &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "y", got, ny, &err), NTG_OK, "%s", err.message);
    double e = tu_max_abs_rel(got, want, ny);
    uint32_t w = ntg__vk_windows(s->be, NTG_STORE_ARENA);
    if (strstr(ntg__vk_device_name(s->be), "llvmpipe")) cr_assert_gt(w, 1);
    cr_log_info("transformer at max batch 256: arena in %u window(s), forward %.2e", w, e);
    cr_assert_leq(e, TOL_FWD, "forward with a windowed arena: %.3g", e);
    no_messages(s, "windowed arena");
    ntg_session_destroy(s);
    free(xb);
    free(want);
    free(got);
    ntg__st_free(f);
    ntg_plan_destroy(plan);
}

/* Where no driver exists at all, --backend vulkan is a clear error and auto picks the CPU. */
Test(vk_golden, no_driver_is_a_clear_error)
{
    setenv("VK_DRIVER_FILES", "/nonexistent/ntgraph_no_icd.json", 1);
    setenv("VK_ICD_FILENAMES", "/nonexistent/ntgraph_no_icd.json", 1);
    const ntg_backend_class *c = ntg__backend_find("vulkan");
    cr_assert(c);
    char info[256] = "";
    cr_assert_eq(c->available(info, sizeof info), 0, "available with no driver: %s", info);
    cr_assert(strstr(info, "driver") || strstr(info, "device"), "unclear: %s", info);
    const ntg_backend_class *a = ntg__backend_find("auto");
    cr_assert_neq(a, c, "auto picked vulkan without a driver");
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.flags = NTG_COMPILE_INFER_ONLY;
    ntg_define d[] = {{"h", "24"}, {"input_size", "96"}, {"hidden", "16"}};
    o.defines = d;
    o.n_defines = 3;
    ntg_plan *plan = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(tu_src("graphs/nhits.yaml"), &o, &plan, &err), NTG_OK, "%s",
                 err.message);
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "vulkan";
    ntg_session *s = NULL;
    cr_assert_eq(ntg_session_create(plan, &so, &s, &err), NTG_ERR_BACKEND);
    cr_assert(strstr(err.message, "vulkan") && strstr(err.message, "not available"), "%s",
              err.message);
    cr_log_info("no driver: %s", err.message);
    ntg_plan_destroy(plan);
}

/* lavapipe is a CPU device: usable when asked for, never what auto picks. */
Test(vk_golden, auto_does_not_pick_a_cpu_device)
{
    const ntg_backend_class *c = vkt_need_vulkan();
    char info[256] = "";
    int av = c->available(info, sizeof info);
    cr_log_info("vulkan: %s", info);
    if (av == 2) cr_assert_neq(ntg__backend_find("auto"), c);
}

/* NTG_VULKAN_DEVICE picks a device by index or by a piece of its name; one that matches
 * nothing makes the backend unavailable, saying so. */
Test(vk_golden, device_override)
{
    const ntg_backend_class *c = vkt_need_vulkan();
    char info[256] = "";
    setenv("NTG_VULKAN_DEVICE", "0", 1);
    cr_assert_neq(c->available(info, sizeof info), 0, "%s", info);
    cr_assert(strstr(info, "device 0 of"), "%s", info);
    char name[64];
    ntg_backend *be;
    ntg_error err;
    ntg_backend_config cfg = {0, 1};
    cr_assert_eq(c->create(&cfg, &be, &err), NTG_OK, "%s", err.message);
    snprintf(name, sizeof name, "%.5s", ntg__vk_device_name(be));
    c->destroy(be);
    setenv("NTG_VULKAN_DEVICE", name, 1);
    cr_assert_neq(c->available(info, sizeof info), 0, "%s: %s", name, info);
    setenv("NTG_VULKAN_DEVICE", "no-such-gpu-anywhere", 1);
    cr_assert_eq(c->available(info, sizeof info), 0);
    cr_assert(strstr(info, "NTG_VULKAN_DEVICE=no-such-gpu-anywhere matches none"), "%s", info);
    cr_assert_neq(ntg__backend_find("auto"), c);
    unsetenv("NTG_VULKAN_DEVICE");
}
