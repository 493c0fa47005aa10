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
                n /= (size_t)ti.shape[1];                              /* [batch, Q or P, h] */
            if (q && strcmp(q, "xent") == 0) n /= (size_t)ti.shape[2]; /* [batch, h, C] */
        }
        float *buf = malloc(n * sizeof *buf);
        tu_fill(&r, buf, n, -1, 1);
        const char *lq = ntg_plan_meta(plan, "train.loss");
        if (k == 1 && lq && strcmp(lq, "xent") == 0) /* class indices */
            for (size_t i = 0; i < n; i++) buf[i] = buf[i] > 0 ? 1.0f : 0.0f;
        cr_assert_eq(ntg_session_set_input(s, names[k], buf, n, &err), NTG_OK, "%s: %s", path,
                     err.message);
        free(buf);
    }
    /* the covariate inputs (hist_exog, futr_exog, stat_exog) of graphs that take them */
    for (size_t k = 1; k < ntg_plan_input_count(plan); k++) {
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        ntg_plan_input(plan, k, &ti, NULL);
        size_t n = ti.nbytes / sizeof(float) / (size_t)ti.shape[0] * 2;
        float *buf = malloc(n * sizeof *buf);
        tu_fill(&r, buf, n, -0.5, 0.5);
        cr_assert_eq(ntg_session_set_input(s, ti.name, buf, n, &err), NTG_OK, "%s: %s", path,
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
    cr_assert_geq(n, 11,
                  "nhits, nhits_brief, nhits_mq, lstm_attention, transformer, dlinear, "
                  "mlp, nbeats, tsmixer, patchtst, tide");
}

static ntg_plan *compile_zoo(const char *rel, const ntg_define *define)
{
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.max_batch = 2;
    if (define) {
        o.defines = define;
        o.n_defines = 1;
    }
    ntg_plan *plan = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(tu_src(rel), &o, &plan, &err), NTG_OK, "%s: %s", rel,
                 err.message);
    return plan;
}

/* The parameter `name` exists with the given shape (rank <= 2; 0 ends the shape). */
static void has_param(const ntg_plan *plan, const char *model, const char *name, int64_t d0,
                      int64_t d1)
{
    size_t n = ntg_plan_param_count(plan);
    for (size_t i = 0; i < n; i++) {
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        ntg_error err;
        cr_assert_eq(ntg_plan_param(plan, i, &ti, &err), NTG_OK, "%s", err.message);
        if (strcmp(ti.name, name) != 0) continue;
        cr_assert_eq(ti.rank, d1 ? 2 : 1, "%s: %s has rank %d", model, name, ti.rank);
        cr_assert_eq(ti.shape[0], d0, "%s: %s", model, name);
        if (d1) cr_assert_eq(ti.shape[1], d1, "%s: %s", model, name);
        return;
    }
    cr_assert_fail("%s: no parameter '%s' (the reference implementation's name)", model, name);
}

/* The zoo's graphs carry the reference implementations' parameter names, and as many
 * parameter elements as the PyTorch models at the same settings (counted by hand from
 * the layer shapes; a BatchNorm's running statistics are buffers, not parameters, as in
 * PyTorch's parameters()). */
Test(graphs, zoo_names_and_sizes_follow_the_references)
{
    ntg_plan *p = compile_zoo("graphs/mlp.yaml", NULL);
    has_param(p, "mlp", "mlp.0.weight", 1024, 336);
    has_param(p, "mlp", "mlp.1.weight", 1024, 1024);
    has_param(p, "mlp", "out.bias", 96, 0);
    cr_assert_eq(ntg_plan_param_elements(p), 1493088);
    ntg_plan_destroy(p);

    p = compile_zoo("graphs/nbeats.yaml", NULL);
    has_param(p, "nbeats", "blocks.0.layers.0.weight", 512, 480);
    has_param(p, "nbeats", "blocks.2.layers.5.weight", 512, 512);
    has_param(p, "nbeats", "blocks.2.layers.7.weight", 576, 512);
    cr_assert_eq(ntg_plan_param_elements(p), 3989184);
    ntg_plan_destroy(p);

    /* N-BEATS-I: theta of 2 x 3 (trend, n_polynomials 2) and 2 x 190 (seasonality, n_harmonics
     * 2 at h 96) coefficients; the bases are folded constants, not parameters (NeuralForecast
     * counts them in parameters() too, as frozen nn.Parameters: 111,168 more elements) */
    p = compile_zoo("graphs/nbeats_i.yaml", NULL);
    has_param(p, "nbeats_i", "blocks.0.layers.0.weight", 512, 480);
    has_param(p, "nbeats_i", "blocks.0.layers.7.weight", 6, 512);
    has_param(p, "nbeats_i", "blocks.1.layers.5.weight", 512, 512);
    has_param(p, "nbeats_i", "blocks.1.layers.7.weight", 380, 512);
    cr_assert_eq(ntg_plan_param_elements(p), 2266498);
    ntg_plan_destroy(p);
    ntg_define ident = {"identity_blocks", "1"}; /* NeuralForecast's default stack_types */
    p = compile_zoo("graphs/nbeats_i.yaml", &ident);
    has_param(p, "nbeats_i", "blocks.0.layers.7.weight", 576, 512);
    has_param(p, "nbeats_i", "blocks.2.layers.7.weight", 380, 512);
    cr_assert_eq(ntg_plan_param_elements(p), 2266498 + 1034240 + 576 * 513);
    ntg_plan_destroy(p);

    p = compile_zoo("graphs/tsmixer.yaml", NULL);
    has_param(p, "tsmixer", "mixing_layers.0.temporal_mixer.temporal_lin.weight", 512, 512);
    has_param(p, "tsmixer", "mixing_layers.1.feature_mixer.feature_lin_1.weight", 64, 1);
    has_param(p, "tsmixer", "mixing_layers.1.feature_mixer.feature_norm.weight", 512, 0);
    has_param(p, "tsmixer", "mixing_layers.0.temporal_mixer.temporal_norm.bias", 512, 0);
    has_param(p, "tsmixer", "out.weight", 96, 512);
    cr_assert_eq(ntg_plan_param_elements(p), 579042);
    ntg_plan_destroy(p);

    p = compile_zoo("graphs/patchtst.yaml", NULL);
    has_param(p, "patchtst", "model.backbone.W_P.weight", 16, 16);
    has_param(p, "patchtst", "model.backbone.W_pos", 42, 16);
    has_param(p, "patchtst", "model.backbone.encoder.layers.2.self_attn.W_Q.weight", 16, 16);
    has_param(p, "patchtst", "model.backbone.encoder.layers.2.ff.3.weight", 16, 128);
    has_param(p, "patchtst", "model.backbone.encoder.layers.0.norm_attn.1.weight", 16, 0);
    has_param(p, "patchtst", "model.backbone.encoder.layers.2.norm_ffn.1.bias", 16, 0);
    has_param(p, "patchtst", "model.head.linear.weight", 96, 16 * 42);
    cr_assert_eq(ntg_plan_param_elements(p), 81728);
    ntg_plan_destroy(p);

    p = compile_zoo("graphs/tide.yaml", NULL);
    has_param(p, "tide", "global_skip.weight", 96, 720);
    has_param(p, "tide", "dense_encoder.0.skip.weight", 512, 720);
    has_param(p, "tide", "dense_decoder.0.lin2.weight", 32 * 96, 512);
    has_param(p, "tide", "temporal_decoder.norm.bias", 1, 0);
    cr_assert_eq(ntg_plan_param_elements(p), 4496260);
    ntg_plan_destroy(p);

    /* Covariates as NeuralForecast's TiDE takes them: each projection is an MLPResidual
     * to temporal_width (4) per step; the encoder reads [x | hist | futr | stat], the
     * temporal decoder [decoder output | projected horizon covariates]. (NeuralForecast
     * also builds an unused hist_exog_projection with input_dim 0 when only future
     * covariates are given: 2,576 more elements there, which ntgraph cannot hold.) */
    ntg_define hist = {"n_hist", "1"};
    p = compile_zoo("graphs/tide.yaml", &hist);
    has_param(p, "tide", "hist_exog_projection.lin1.weight", 512, 1);
    has_param(p, "tide", "hist_exog_projection.skip.weight", 4, 1);
    has_param(p, "tide", "dense_encoder.0.lin1.weight", 512, 720 + 720 * 4);
    has_param(p, "tide", "temporal_decoder.lin1.weight", 128, 32);
    cr_assert_eq(ntg_plan_param_elements(p), 7448472);
    ntg_plan_destroy(p);

    p = compile_zoo("graphs/tide_exog.yaml", NULL);
    has_param(p, "tide", "futr_exog_projection.lin2.weight", 4, 512);
    has_param(p, "tide", "futr_exog_projection.skip.bias", 4, 0);
    has_param(p, "tide", "dense_encoder.0.skip.weight", 512, 720 + (720 + 96) * 4);
    has_param(p, "tide", "temporal_decoder.lin1.weight", 128, 32 + 4);
    has_param(p, "tide", "temporal_decoder.skip.weight", 1, 32 + 4);
    cr_assert_eq(ntg_plan_param_elements(p), 7835026); /* layernorm false: no norm */
    ntg_plan_destroy(p);
}

/* Sum of |grad| of one parameter after the `grad` program on random data. */
static double grad_abs(ntg_plan *plan, const char *param)
{
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "cpu";
    so.flags = NTG_SESSION_TRAINABLE;
    ntg_session *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg_session_create(plan, &so, &s, &err), NTG_OK, "%s", err.message);
    tu_rng r = {5};
    float x[2 * 720], t[2 * 96];
    tu_fill(&r, x, 2 * 720, -1, 1);
    tu_fill(&r, t, 2 * 96, -1, 1);
    cr_assert_eq(ntg_session_set_input(s, "x", x, 2 * 720, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_set_input(s, "t", t, 2 * 96, &err), NTG_OK, "%s", err.message);
    for (size_t k = 1; k < ntg_plan_input_count(plan); k++) { /* covariates, if taken */
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        ntg_plan_input(plan, k, &ti, NULL);
        size_t n = ti.nbytes / sizeof(float) / (size_t)ti.shape[0] * 2;
        float *buf = malloc(n * sizeof *buf);
        tu_fill(&r, buf, n, -1, 1);
        cr_assert_eq(ntg_session_set_input(s, ti.name, buf, n, &err), NTG_OK, "%s", err.message);
        free(buf);
    }
    cr_assert_eq(ntg_session_run_program(s, "grad", 2, &err), NTG_OK, "%s", err.message);
    size_t n = 0;
    for (size_t i = 0; i < ntg_plan_param_count(plan); i++) {
        ntg_tensor_info ti;
        ntg_tensor_info_init(&ti);
        ntg_plan_param(plan, i, &ti, NULL);
        if (strcmp(ti.name, param) == 0) n = ti.nbytes / sizeof(float);
    }
    cr_assert(n > 0, "%s", param);
    float *g = malloc(n * sizeof *g);
    char name[256];
    snprintf(name, sizeof name, "grad.%s", param);
    cr_assert_eq(ntg_session_get_output(s, name, g, n, &err), NTG_OK, "%s", err.message);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += fabs((double)g[i]);
    free(g);
    ntg_session_destroy(s);
    return sum;
}

/* TiDE as NeuralForecast writes it: the temporal decoder's LayerNorm over its one output
 * feature returns its bias, so no gradient reaches the dense encoder (docs/zoo.md); with
 * -D layernorm=false it does. */
Test(graphs, tide_layernorm_on_one_feature_stops_the_encoder_gradient)
{
    ntg_plan *p = compile_zoo("graphs/tide.yaml", NULL);
    cr_assert_eq(grad_abs(p, "dense_encoder.0.lin1.weight"), 0.0);
    cr_assert_gt(grad_abs(p, "global_skip.weight"), 0.0);
    cr_assert_gt(grad_abs(p, "temporal_decoder.norm.bias"), 0.0);
    ntg_plan_destroy(p);
    ntg_define no_ln = {"layernorm", "false"};
    p = compile_zoo("graphs/tide.yaml", &no_ln);
    cr_assert_gt(grad_abs(p, "dense_encoder.0.lin1.weight"), 0.0);
    ntg_plan_destroy(p);
}

/* For the same reason TiDE's covariates move the loss only with layernorm false: the
 * future covariates' projection gets no gradient under the reference's default and
 * does in tide_exog.yaml, which sets layernorm false (docs/zoo.md). */
Test(graphs, tide_covariates_reach_the_loss_only_without_the_last_layernorm)
{
    ntg_define futr = {"n_futr", "1"};
    ntg_plan *p = compile_zoo("graphs/tide.yaml", &futr);
    cr_assert_eq(grad_abs(p, "futr_exog_projection.lin1.weight"), 0.0);
    ntg_plan_destroy(p);
    p = compile_zoo("graphs/tide_exog.yaml", NULL);
    cr_assert_gt(grad_abs(p, "futr_exog_projection.lin1.weight"), 0.0);
    cr_assert_gt(grad_abs(p, "temporal_decoder.lin1.weight"), 0.0);
    ntg_plan_destroy(p);
}

/* N-BEATS-I's outputs: y is the level (the window's last value) plus the trend and the
 * seasonality stacks' forecasts, and the trend forecast is a polynomial of degree
 * n_polynomials (2) in t: its third differences vanish.  Untrained weights give theta of
 * order one, so the check fails if the folded basis were not the polynomial one. */
Test(graphs, nbeats_i_decomposes_into_level_trend_and_seasonality)
{
    ntg_plan *p = compile_zoo("graphs/nbeats_i.yaml", NULL);
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "cpu";
    ntg_session *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg_session_create(p, &so, &s, &err), NTG_OK, "%s", err.message);
    tu_rng r = {11};
    float x[2 * 480], y[2 * 96], tr[2 * 96], se[2 * 96];
    tu_fill(&r, x, 2 * 480, -1, 1);
    cr_assert_eq(ntg_session_set_input(s, "x", x, 2 * 480, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_run_program(s, "infer", 2, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "y", y, 2 * 96, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "trend", tr, 2 * 96, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "seasonality", se, 2 * 96, &err), NTG_OK, "%s",
                 err.message);
    for (int b = 0; b < 2; b++) {
        double big = 0, d3max = 0;
        for (int t = 0; t < 96; t++) {
            double want =
                (double)x[b * 480 + 479] + (double)tr[b * 96 + t] + (double)se[b * 96 + t];
            cr_assert(fabs((double)y[b * 96 + t] - want) <= 1e-5 * (1 + fabs(want)),
                      "y[%d, %d] = %g, level + trend + seasonality = %g", b, t,
                      (double)y[b * 96 + t], want);
            big = fmax(big, fabs((double)tr[b * 96 + t]));
        }
        for (int t = 0; t + 3 < 96; t++) {
            const float *q = tr + b * 96 + t;
            double d3 = (double)q[3] - 3.0 * q[2] + 3.0 * q[1] - (double)q[0];
            d3max = fmax(d3max, fabs(d3));
        }
        cr_assert(big > 1e-3, "the trend forecast is zero");
        cr_assert(d3max <= 1e-5 * big, "trend %d: third differences up to %g (trend up to %g)", b,
                  d3max, big);
    }
    ntg_session_destroy(s);
    ntg_plan_destroy(p);
}

/* The gradient through the fixed basis, against a computation from the op's definition: the
 * last block's theta bias (seasonality, 2 x 190) gets dL/dtheta_f[k] = sum over the batch and
 * t of dL/dy * F[k, t], with dL/dy = sign(y - t) / (batch h) for the graph's MAE loss and F
 * the cos / sin rows of 2 pi (t / h) f, f = 0, 1, 1.5, ..., 47.5; its backcast coefficients
 * feed nothing (0). */
Test(graphs, nbeats_i_gradient_through_the_seasonality_basis)
{
    ntg_plan *p = compile_zoo("graphs/nbeats_i.yaml", NULL);
    cr_assert_str_eq(ntg_plan_meta(p, "train.loss"), "mae");
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "cpu";
    so.flags = NTG_SESSION_TRAINABLE;
    ntg_session *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg_session_create(p, &so, &s, &err), NTG_OK, "%s", err.message);
    tu_rng r = {23};
    static float x[2 * 480], t[2 * 96], y[2 * 96], g[380];
    tu_fill(&r, x, 2 * 480, -1, 1);
    tu_fill(&r, t, 2 * 96, -1, 1);
    cr_assert_eq(ntg_session_set_input(s, "x", x, 2 * 480, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_set_input(s, "t", t, 2 * 96, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_run_program(s, "infer", 2, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "y", y, 2 * 96, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_run_program(s, "grad", 2, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_session_get_output(s, "grad.blocks.1.layers.7.bias", g, 380, &err), NTG_OK,
                 "%s", err.message);
    const double pi = 3.14159265358979323846;
    double big = 0;
    for (int k = 0; k < 190; k++) {
        cr_assert_eq(g[k], 0.0f, "backcast coefficient %d: %g", k, (double)g[k]);
        int fk = k % 95;
        double f = fk ? 1.0 + (fk - 1) / 2.0 : 0.0, want = 0;
        for (int b = 0; b < 2; b++)
            for (int q = 0; q < 96; q++) {
                double d = (double)y[b * 96 + q] - (double)t[b * 96 + q];
                double sg = d > 0 ? 1.0 : d < 0 ? -1.0 : 0.0;
                double ang = 2 * pi * q * f / 96;
                want += sg / (2 * 96) * (k < 95 ? cos(ang) : sin(ang));
            }
        big = fmax(big, fabs(want));
        cr_assert(fabs((double)g[190 + k] - want) <= 1e-5,
                  "forecast coefficient %d: %.8g, want %.8g", k, (double)g[190 + k], want);
    }
    cr_assert(big > 1e-2, "a gradient that is zero everywhere checks nothing");
    ntg_session_destroy(s);
    ntg_plan_destroy(p);
}
