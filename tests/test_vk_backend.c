/* test_vk_backend.c — what only the Vulkan backend has: devices, drivers, windows, validation. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "ntgraph.h"
#include "plan_int.h"
#include "safetensors.h"
#include "session_int.h"
#include "test_vk_util.h"
#include "testutil.h"

/*
 * The conformance, golden and training-parity checks run on this backend as on every other
 * (tests/test_backend_*.c, hooks in tests/backend_hooks.h).  Here: its own behaviour — device
 * selection and the missing-driver error, arenas bound as windows, the optimizer staying on the
 * device, every graph of graphs/ training a step as on the CPU, and the validation-message
 * counting those suites rely on.
 */
#define TOL_FWD 1e-4

static void no_messages(ntg_session *s, const char *what)
{
    char first[1024];
    long n = ntg__vk_validation_messages(s->be, first, sizeof first);
    cr_assert_eq(n, 0, "%s: %ld validation message(s), the first: %s", what, n, first);
}

/* An arena larger than the device binds at once (lavapipe: 128 MiB) is bound as windows: the
 * Transformer compiled for batch 256 (253 MB of arena) still gives the golden forward. */
Test(vk_backend, storages_larger_than_one_binding, .timeout = 600)
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
Test(vk_backend, no_driver_is_a_clear_error)
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
Test(vk_backend, auto_does_not_pick_a_cpu_device)
{
    const ntg_backend_class *c = vkt_need_vulkan();
    char info[256] = "";
    int av = c->available(info, sizeof info);
    cr_log_info("vulkan: %s", info);
    if (av == 2) cr_assert_neq(ntg__backend_find("auto"), c);
}

/* NTG_VULKAN_DEVICE picks a device by index or by a piece of its name; one that matches
 * nothing makes the backend unavailable, saying so. */
Test(vk_backend, device_override)
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

/* A train_step moves its inputs to the device and the loss back, never the weights: the
 * optimizer runs on the device.  Ten steps at a fixed batch, counted at the vtable. */
Test(vk_backend, train_steps_keep_the_weights_on_the_device)
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

/* Two train_steps of the graph at path at batch 2 on `backend`, random inputs from a fixed
 * seed (test_graphs_train.c's): the second step's loss, or NAN with *refused set when the backend
 * refuses the plan at session creation (the message in refused_msg). */
static float graph_step(const char *path, const char *backend, int *refused, char *refused_msg,
                        size_t cap, float **weights, size_t *nweights)
{
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.max_batch = 2;
    ntg_plan *plan = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(path, &o, &plan, &err), NTG_OK, "%s: %s", path, err.message);
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = backend;
    so.flags = NTG_SESSION_TRAINABLE;
    ntg_session *s = NULL;
    *refused = 0;
    *weights = NULL;
    *nweights = 0;
    if (ntg_session_create(plan, &so, &s, &err) != NTG_OK) {
        cr_assert_eq(err.status, NTG_ERR_UNSUPPORTED, "%s on %s: %s", path, backend, err.message);
        *refused = 1;
        snprintf(refused_msg, cap, "%s", err.message);
        ntg_plan_destroy(plan);
        return NAN;
    }
    tu_rng r = {17};
    for (size_t k = 0; k < ntg_plan_input_count(plan); k++) {
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        cr_assert_eq(ntg_plan_input(plan, k, &ti, &err), NTG_OK, "%s", err.message);
        size_t n = ti.nbytes / sizeof(float) / (size_t)ti.shape[0] * 2;
        float *buf = malloc(n * sizeof *buf);
        tu_fill(&r, buf, n, -1, 1);
        cr_assert_eq(ntg_session_set_input(s, ti.name, buf, n, &err), NTG_OK, "%s: %s", path,
                     err.message);
        free(buf);
    }
    /* t has the target's shape; distribution and quantile losses' outputs have a parameter
     * axis the target has not */
    ntg_tensor_info ti;
    ntg_tensor_info_init(&ti);
    cr_assert_eq(ntg_plan_output(plan, 0, &ti, &err), NTG_OK, "%s", err.message);
    size_t n = ti.nbytes / sizeof(float) / (size_t)ti.shape[0] * 2;
    const char *q = ntg_plan_meta(plan, "train.loss");
    if (q && (strcmp(q, "mqloss") == 0 || strcmp(q, "normal") == 0 || strcmp(q, "studentt") == 0))
        n /= (size_t)ti.shape[1];
    float *t = malloc(n * sizeof *t);
    tu_fill(&r, t, n, -1, 1);
    cr_assert_eq(ntg_session_set_input(s, "t", t, n, &err), NTG_OK, "%s: %s", path, err.message);
    free(t);
    /* two steps: the second's loss is computed from the weights the first step's backward and
     * optimizer left */
    float loss = NAN;
    for (int step = 1; step <= 2; step++) {
        float ctl[4] = {1e-3f, (float)step, 0, 0};
        cr_assert_eq(ntg_session_set_input(s, "train.ctl", ctl, 4, &err), NTG_OK, "%s",
                     err.message);
        cr_assert_eq(ntg_session_run_program(s, "train_step", 2, &err), NTG_OK, "%s on %s: %s",
                     path, backend, err.message);
        cr_assert_eq(ntg_session_get_output(s, "loss", &loss, 1, &err), NTG_OK, "%s", err.message);
    }
    /* the weights storage after the steps: the parameters, and batchnorm's running
     * statistics (buffers there, updated in place by batchnorm_stats) */
    size_t wbytes = (size_t)plan->img.info.storage_bytes[NTG_STORE_WEIGHTS];
    *nweights = wbytes / sizeof(float);
    *weights = malloc(wbytes ? wbytes : 1);
    if (wbytes)
        cr_assert_eq(ntg__session_read_storage(s, NTG_STORE_WEIGHTS, *weights, &err), NTG_OK, "%s",
                     err.message);
    if (strcmp(backend, "vulkan") == 0) no_messages(s, path);
    ntg_session_destroy(s);
    ntg_plan_destroy(plan);
    return loss;
}

/* Every graph of graphs/ (the zoo: DLinear's avgpool1d, PatchTST's unfold and batchnorm,
 * TiDE, dropout where a graph has it) trains on the device with the CPU's losses: the second
 * step's loss checks the first step's forward, backward and update together (the Normal
 * and Student-t N-HiTS: their distribution losses), and batchnorm's running statistics after
 * the second step (PatchTST's) are the CPU's. */
Test(vk_backend, every_graph_trains_as_on_the_cpu)
{
    vkt_need_vulkan();
    DIR *d = opendir(tu_src("graphs"));
    cr_assert(d);
    struct dirent *ent;
    int ran = 0;
    while ((ent = readdir(d))) {
        size_t len = strlen(ent->d_name);
        if (len < 6 || strcmp(ent->d_name + len - 5, ".yaml") != 0) continue;
        char path[4096], msg[512] = "";
        snprintf(path, sizeof path, "%s/%s", tu_src("graphs"), ent->d_name);
        int ref_refused, vk_refused;
        float *wref = NULL, *wgot = NULL;
        size_t nref = 0, ngot = 0;
        /* nhits_cls.yaml's targets are class labels, which this test's random inputs are not
         * (its loss would be NaN on both): loss_xent is checked by the conformance suite */
        if (strcmp(ent->d_name, "nhits_cls.yaml") == 0) continue;
        float ref = graph_step(path, "cpu", &ref_refused, msg, sizeof msg, &wref, &nref);
        cr_assert(!ref_refused, "%s: %s", path, msg);
        float got = graph_step(path, "vulkan", &vk_refused, msg, sizeof msg, &wgot, &ngot);
        cr_assert(!vk_refused, "%s refused on vulkan: %s", ent->d_name, msg);
        cr_assert(isfinite(got), "%s: loss %g on vulkan", ent->d_name, (double)got);
        double rel = fabs((double)got - (double)ref) / fmax(fabs((double)ref), 1e-30);
        cr_log_info("%s: loss cpu %.9g vulkan %.9g (rel %.2e)", ent->d_name, (double)ref,
                    (double)got, rel);
        cr_assert_leq(rel, TOL_FWD, "%s: loss cpu %.9g vulkan %.9g", ent->d_name, (double)ref,
                      (double)got);
        /* after two steps: batchnorm's running statistics (weights-storage buffers that
         * batchnorm_stats updates in place) as the CPU's, max |difference| over
         * max(|cpu value|, 1e-3); the parameters are only logged (Adam's first steps move a
         * weight by about lr whatever its gradient's size, so a gradient near zero whose sign
         * differs in the last bit moves it the other way) */
        cr_assert_eq(ngot, nref);
        double wrel = 0, srel = 0;
        size_t nstats = 0;
        ntg_plan *plan = NULL;
        ntg_compile_options o;
        ntg_compile_options_init(&o);
        o.max_batch = 2;
        ntg_error err;
        cr_assert_eq(ntg_compile_file(path, &o, &plan, &err), NTG_OK, "%s", err.message);
        for (uint32_t k = 0; k < plan->img.n_tensors; k++) {
            const ntg_tensor_rec *tr = &plan->img.tensors[k];
            if (tr->storage != NTG_STORE_WEIGHTS) continue;
            int stats = tr->role != NTG_ROLE_PARAM &&
                        strstr(ntg__plan_str(plan, tr->name), "running_") != NULL;
            size_t i0 = (size_t)(tr->offset / sizeof(float)), n = (size_t)(tr->nbytes / 4);
            for (size_t i = i0; i < i0 + n && i < nref; i++) {
                double q =
                    fabs((double)wgot[i] - (double)wref[i]) / fmax(fabs((double)wref[i]), 1e-3);
                if (isnan(q)) q = INFINITY;
                if (stats && q > srel) srel = q;
                if (!stats && q > wrel) wrel = q;
            }
            nstats += stats ? n : 0;
        }
        ntg_plan_destroy(plan);
        cr_log_info("%s: parameters max-abs-rel %.2e; %zu running statistics, %.2e", ent->d_name,
                    wrel, nstats, srel);
        cr_assert_leq(srel, TOL_FWD, "%s: running statistics differ by %.2e", ent->d_name, srel);
        free(wref);
        free(wgot);
        ran++;
    }
    closedir(d);
    cr_assert_geq(ran, 14, "every graph of graphs/ but nhits_cls.yaml");
}

/* max |a - b| / max(|a|, 1e-3) of the stored tensor `name` of two plans */
static double stored_diff(const ntg_plan *a, const ntg_plan *b, const char *name)
{
    for (uint32_t t = 0; t < a->img.n_tensors; t++) {
        const ntg_tensor_rec *r = &a->img.tensors[t];
        if (strcmp(ntg__plan_str(a, r->name), name) != 0) continue;
        const float *x = (const float *)(a->img.weights + r->offset);
        const float *y = (const float *)(b->img.weights + r->offset);
        double worst = 0;
        for (size_t i = 0; i < r->nbytes / sizeof(float); i++) {
            double q = fabs((double)x[i] - (double)y[i]) / fmax(fabs((double)x[i]), 1e-3);
            if (isnan(q) || q > worst) worst = isnan(q) ? INFINITY : q;
        }
        return worst;
    }
    cr_assert_fail("no tensor %s", name);
    return INFINITY;
}

/* ntg_train of a conv1d + batchnorm + dropout + avgpool1d model, the same seed on the CPU and
 * on the device: the trainer's dropout masks (train.rng, step by step) and batchnorm's running
 * statistics come out as on the CPU, and so do the trained parameters. */
Test(vk_backend, batchnorm_and_dropout_train_as_on_the_cpu)
{
    vkt_need_vulkan();
    static const char *graph =
        "ntgraph: 1\n"
        "name: t\n"
        "inputs:\n"
        "  x: [batch, 24]\n"
        "outputs:\n"
        "  y: [batch, 8]\n"
        "nodes:\n"
        "  - {op: reshape, in: x, out: x3, shape: [batch, 1, 24]}\n"
        "  - {op: conv1d, name: conv, in: x3, out: c, out_channels: 4, kernel: 3, "
        "padding: 1, padding_mode: replicate}\n"
        "  - {op: batchnorm, name: bn, in: c, out: cn, momentum: 0.2}\n"
        "  - {op: avgpool1d, in: cn, out: cp, kernel: 3, stride: 1, padding: 1, "
        "padding_mode: replicate}\n"
        "  - {op: reshape, in: cp, out: h, shape: [batch, 96]}\n"
        "  - {op: dropout, in: h, out: hd, p: 0.3}\n"
        "  - {op: dense, name: fc, in: hd, out: y, units: 8}\n"
        "train:\n"
        "  loss: mse\n"
        "  optimizer: adam\n"
        "  scaler: zscore\n"
        "  window_scaler: identity\n";
    ntg_compile_options co;
    ntg_compile_options_init(&co);
    co.max_batch = 16;
    ntg_plan *p = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_string(graph, strlen(graph), "g.yaml", &co, &p, &err), NTG_OK, "%s",
                 err.message);
    char path[256];
    snprintf(path, sizeof path, "/tmp/ntg-vk-bn-%d.csv", (int)getpid());
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fprintf(f, "date,a\n");
    tu_rng r = {5};
    for (int i = 0; i < 400; i++)
        fprintf(f, "2020-01-%02d %02d:00:00,%.6f\n", 1 + i / 24, i % 24,
                10 + 3 * sin(i * 2 * 3.14159265358979 / 24) + tu_uniform(&r, -0.3, 0.3));
    fclose(f);
    ntg_series *s = NULL;
    cr_assert_eq(ntg_series_load_csv(path, NULL, &s, &err), NTG_OK, "%s", err.message);
    unlink(path);
    ntg_define set[] = {{"steps", "20"},     {"batch", "8"},     {"lr", "0.003"},
                        {"val_every", "10"}, {"patience", "-1"}, {"seed", "4"}};
    ntg_plan *trained[2] = {NULL, NULL};
    const char *backends[2] = {"cpu", "vulkan"};
    for (int k = 0; k < 2; k++) {
        ntg_train_options o;
        ntg_train_options_init(&o);
        o.split = "300,50,50";
        o.settings = set;
        o.n_settings = 6;
        o.backend = backends[k];
        cr_assert_eq(ntg_train(p, s, &o, &trained[k], NULL, &err), NTG_OK, "%s: %s", backends[k],
                     err.message);
    }
    cr_assert_gt(stored_diff(p, trained[0], "bn.running_mean"), 0.1, "training moved them");
    double rm = stored_diff(trained[0], trained[1], "bn.running_mean");
    double rv = stored_diff(trained[0], trained[1], "bn.running_var");
    double w = 0;
    for (size_t i = 0; i < ntg_plan_param_count(trained[0]); i++) {
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        cr_assert_eq(ntg_plan_param(trained[0], i, &ti, &err), NTG_OK, "%s", err.message);
        double q = stored_diff(trained[0], trained[1], ti.name);
        if (q > w) w = q;
    }
    cr_log_info("20 steps: running mean %.2e, running var %.2e, parameters %.2e (max-abs-rel)", rm,
                rv, w);
    cr_assert_leq(rm, TOL_FWD, "running_mean differs by %.2e", rm);
    cr_assert_leq(rv, TOL_FWD, "running_var differs by %.2e", rv);
    cr_assert_leq(w, TOL_FWD, "the trained parameters differ by %.2e", w);
    ntg_plan_destroy(trained[0]);
    ntg_plan_destroy(trained[1]);
    ntg_series_destroy(s);
    ntg_plan_destroy(p);
}

/* The validation machinery itself: with NTG_VULKAN_VALIDATION=1 an invalid call is counted
 * (so "no message" above means something); without it nothing is installed or counted. */
Test(vk_backend, validation_messages_are_counted)
{
    const ntg_backend_class *cls = vkt_need_vulkan();
    ntg_backend *be;
    ntg_error err;
    ntg_backend_config cfg = {0, 1};
    cr_assert_eq(cls->create(&cfg, &be, &err), NTG_OK, "%s", err.message);
    ntg__vk_provoke_validation(be);
    char first[1024];
    long n = ntg__vk_destroy_checked(be, first, sizeof first);
    if (vkt_validating()) {
        cr_assert_geq(n, 1, "the validation layer did not report an invalid call");
        cr_log_info("the layer reports: %.200s", first);
    } else {
        cr_assert_eq(n, 0);
    }
}
