/* vk_ops_win.c — Vulkan emitters of param (on the identity shader), avgpool1d, conv1d, unfold,
 * dropout, batchnorm (+ batchnorm_stats) and the distribution losses (loss_normal,
 * loss_studentt). */
#include "op_attrs.h"
#include "vk_int.h"

/* param: the parameter copied to its output, its gradient copied back (identity's layout:
 * in = [weight], out = [y]; backward in = [weight, y, dy], out = [dweight]). */
ntg_status ntg__vk_fwd_param(ntg__vk_ctx *e)
{
    return ntg__vk_fwd_identity(e);
}
ntg_status ntg__vk_bwd_param(ntg__vk_ctx *e)
{
    return ntg__vk_bwd_identity(e);
}

/* The gradient of forward output j of a backward op (NULL when absent). */
static const ntg__vk_opnd *bwd_dy(const ntg__vk_ctx *e, int j)
{
    int nfi = e->n_out, nfo = (e->n_in - e->n_out) / 2;
    const ntg__vk_opnd *o = &e->in[nfi + nfo + j];
    return o->present ? o : NULL;
}

static ntg_status too_large(ntg__vk_ctx *e, uint64_t n)
{
    if (n <= UINT32_MAX) return NTG_OK;
    return ntg__vk_fail(e, NTG_ERR_UNSUPPORTED, "a tensor too large for 32-bit indices");
}

/* ---------------------------------------------------------------- avgpool1d */

/* Words of avgpool1d_fwd / _bwd: x rows of len -> y rows of nout; n the work items. */
static uint32_t *avg_words(ntg__vk_ctx *e, int pipe, const ntg_tdesc *x, const ntg_tdesc *y,
                           uint64_t n)
{
    uint32_t *p = ntg__vk_dispatch(e, pipe, AP_WORDS, ntg__vk_groups1d(n), 1, 1);
    if (!p) return NULL;
    int64_t len = x->dims[x->rank - 1], k = ntg__attr_i(e->attr, NTG_AVGPOOL_KERNEL);
    int64_t s = ntg__attr_i(e->attr, NTG_AVGPOOL_STRIDE);
    p[AP_ROWS] = (uint32_t)(len > 0 ? ntg__tdesc_numel(x) / len : 0);
    p[AP_LEN] = (uint32_t)len;
    p[AP_NOUT] = (uint32_t)y->dims[y->rank - 1];
    p[AP_K] = (uint32_t)k;
    p[AP_S] = (uint32_t)(s == 0 ? k : s);
    p[AP_PAD] = (uint32_t)ntg__attr_i(e->attr, NTG_AVGPOOL_PAD);
    p[AP_REP] = ntg__attr_i(e->attr, NTG_AVGPOOL_MODE) == NTG_PAD_REPLICATE;
    return p;
}

ntg_status ntg__vk_fwd_avgpool1d(ntg__vk_ctx *e)
{
    if (too_large(e, ntg__vk_numel(&e->in[0]))) return e->status;
    uint32_t *p = avg_words(e, NTG_VK_PIPE_avgpool1d_fwd, &e->in[0].d, &e->out[0].d,
                            ntg__vk_numel(&e->out[0]));
    if (!p) return e->status;
    ntg__vk_ref(e, p + AP_X, &e->in[0], 0);
    ntg__vk_ref(e, p + AP_Y, &e->out[0], 0);
    ntg__vk_read(e, &e->in[0]);
    ntg__vk_write(e, &e->out[0]);
    return e->status;
}

/* in = [x, y, dy], out = [dx] */
ntg_status ntg__vk_bwd_avgpool1d(ntg__vk_ctx *e)
{
    const ntg__vk_opnd *dy = bwd_dy(e, 0);
    if (!e->out[0].present) return NTG_OK;
    if (!dy) return ntg__vk_fill(e, &e->out[0], 0.0f);
    if (too_large(e, ntg__vk_numel(&e->in[0]))) return e->status;
    uint32_t *p =
        avg_words(e, NTG_VK_PIPE_avgpool1d_bwd, &e->in[0].d, &e->in[1].d, ntg__vk_numel(&e->in[0]));
    if (!p) return e->status;
    ntg__vk_ref(e, p + AP_DY, dy, 0);
    ntg__vk_ref(e, p + AP_DX, &e->out[0], 0);
    ntg__vk_read(e, dy);
    ntg__vk_write(e, &e->out[0]);
    return e->status;
}

/* ------------------------------------------------------------------- conv1d */

/* The geometry words of conv1d_fwd / _bwd (x [.., cin, len] -> y [.., co, lout]). */
static void conv_geom_words(const ntg__vk_ctx *e, const ntg_tdesc *x, const ntg_tdesc *y,
                            uint32_t *p)
{
    int64_t cin = x->dims[x->rank - 2], len = x->dims[x->rank - 1];
    int64_t co = y->dims[y->rank - 2], groups = ntg__attr_i(e->attr, NTG_CONV_GROUPS);
    if (groups < 1) groups = 1;
    p[CV_N] = (uint32_t)(cin * len > 0 ? ntg__tdesc_numel(x) / (cin * len) : 0);
    p[CV_CIN] = (uint32_t)cin;
    p[CV_LEN] = (uint32_t)len;
    p[CV_CO] = (uint32_t)co;
    p[CV_LOUT] = (uint32_t)y->dims[y->rank - 1];
    p[CV_K] = (uint32_t)ntg__attr_i(e->attr, NTG_CONV_KERNEL);
    p[CV_S] = (uint32_t)ntg__attr_i(e->attr, NTG_CONV_STRIDE);
    p[CV_PAD] = (uint32_t)ntg__attr_i(e->attr, NTG_CONV_PAD);
    p[CV_DIL] = (uint32_t)ntg__attr_i(e->attr, NTG_CONV_DILATION);
    p[CV_CG] = (uint32_t)(cin / groups);
    p[CV_COG] = (uint32_t)(co / groups);
    p[CV_REP] = ntg__attr_i(e->attr, NTG_CONV_MODE) == NTG_PAD_REPLICATE;
}

/* in = [x, weight, (bias)], out = [y] */
ntg_status ntg__vk_fwd_conv1d(ntg__vk_ctx *e)
{
    const ntg__vk_opnd *x = &e->in[0], *w = &e->in[1], *y = &e->out[0];
    const ntg__vk_opnd *b = e->n_in > 2 && e->in[2].present ? &e->in[2] : NULL;
    if (too_large(e, ntg__vk_numel(x)) || too_large(e, ntg__vk_numel(y))) return e->status;
    uint32_t *p = ntg__vk_dispatch(e, NTG_VK_PIPE_conv1d_fwd, CV_WORDS,
                                   ntg__vk_groups1d(ntg__vk_numel(y)), 1, 1);
    if (!p) return e->status;
    conv_geom_words(e, &x->d, &y->d, p);
    ntg__vk_ref(e, p + CV_X, x, 0);
    ntg__vk_ref(e, p + CV_W, w, 0);
    ntg__vk_ref(e, p + CV_OUT, y, 0);
    ntg__vk_read(e, x);
    ntg__vk_read(e, w);
    if (b) {
        ntg__vk_ref(e, p + CV_B, b, 0);
        p[CV_HAS_B] = 1;
        ntg__vk_read(e, b);
    }
    ntg__vk_write(e, y);
    return e->status;
}

/* in = [x, weight, (bias), y, dy], out = [dx, dweight, (dbias)]: one dispatch per wanted
 * gradient (independent: no barrier between them). */
ntg_status ntg__vk_bwd_conv1d(ntg__vk_ctx *e)
{
    int nfi = e->n_out;
    const ntg__vk_opnd *x = &e->in[0], *w = &e->in[1], *y = &e->in[nfi];
    const ntg__vk_opnd *dy = bwd_dy(e, 0);
    if (!dy) {
        for (int i = 0; i < nfi; i++)
            if (e->out[i].present && ntg__vk_fill(e, &e->out[i], 0.0f)) return e->status;
        return e->status;
    }
    if (too_large(e, ntg__vk_numel(x)) || too_large(e, ntg__vk_numel(dy))) return e->status;
    for (int part = 0; part < nfi; part++) {
        const ntg__vk_opnd *o = &e->out[part];
        if (!o->present) continue;
        uint32_t *p = ntg__vk_dispatch(e, NTG_VK_PIPE_conv1d_bwd, CV_WORDS,
                                       ntg__vk_groups1d(ntg__vk_numel(o)), 1, 1);
        if (!p) return e->status;
        conv_geom_words(e, &x->d, &y->d, p);
        p[CV_PART] = (uint32_t)part; /* CV_PART_DX, _DW, _DB: the outputs' order */
        ntg__vk_ref(e, p + CV_OUT, o, 0);
        ntg__vk_ref(e, p + CV_DY, dy, 0);
        ntg__vk_read(e, dy);
        if (part == CV_PART_DX) {
            ntg__vk_ref(e, p + CV_W, w, 0);
            ntg__vk_read(e, w);
        } else if (part == CV_PART_DW) {
            ntg__vk_ref(e, p + CV_X, x, 0);
            ntg__vk_read(e, x);
        }
        ntg__vk_write(e, o);
    }
    return e->status;
}

/* ------------------------------------------------------------------- unfold */

static uint32_t *unfold_words(ntg__vk_ctx *e, int pipe, const ntg_tdesc *x, const ntg_tdesc *y,
                              uint64_t n)
{
    uint32_t *p = ntg__vk_dispatch(e, pipe, UF_WORDS, ntg__vk_groups1d(n), 1, 1);
    if (!p) return NULL;
    int64_t len = x->dims[x->rank - 1];
    p[UF_ROWS] = (uint32_t)(len > 0 ? ntg__tdesc_numel(x) / len : 0);
    p[UF_LEN] = (uint32_t)len;
    p[UF_NP] = (uint32_t)y->dims[y->rank - 2];
    p[UF_SIZE] = (uint32_t)y->dims[y->rank - 1];
    p[UF_STEP] = (uint32_t)ntg__attr_i(e->attr, NTG_UNFOLD_STEP);
    return p;
}

ntg_status ntg__vk_fwd_unfold(ntg__vk_ctx *e)
{
    if (too_large(e, ntg__vk_numel(&e->out[0]))) return e->status;
    uint32_t *p = unfold_words(e, NTG_VK_PIPE_unfold_fwd, &e->in[0].d, &e->out[0].d,
                               ntg__vk_numel(&e->out[0]));
    if (!p) return e->status;
    ntg__vk_ref(e, p + UF_X, &e->in[0], 0);
    ntg__vk_ref(e, p + UF_Y, &e->out[0], 0);
    ntg__vk_read(e, &e->in[0]);
    ntg__vk_write(e, &e->out[0]);
    return e->status;
}

/* in = [x, y, dy], out = [dx] */
ntg_status ntg__vk_bwd_unfold(ntg__vk_ctx *e)
{
    const ntg__vk_opnd *dy = bwd_dy(e, 0);
    if (!e->out[0].present) return NTG_OK;
    if (!dy) return ntg__vk_fill(e, &e->out[0], 0.0f);
    if (too_large(e, ntg__vk_numel(dy))) return e->status;
    uint32_t *p =
        unfold_words(e, NTG_VK_PIPE_unfold_bwd, &e->in[0].d, &e->in[1].d, ntg__vk_numel(&e->in[0]));
    if (!p) return e->status;
    ntg__vk_ref(e, p + UF_DY, dy, 0);
    ntg__vk_ref(e, p + UF_DX, &e->out[0], 0);
    ntg__vk_read(e, dy);
    ntg__vk_write(e, &e->out[0]);
    return e->status;
}

/* ------------------------------------------------------------------ dropout */

_Static_assert(NTG_RNG_W_SEED0 == NTG_RNG_SEED0 && NTG_RNG_W_SEED1 == NTG_RNG_SEED1 &&
                   NTG_RNG_W_SEED2 == NTG_RNG_SEED2 && NTG_RNG_W_STEP == NTG_RNG_STEP &&
                   NTG_RNG_W_ROW0 == NTG_RNG_ROW0,
               "vk_abi.h's train.rng words are op_attrs.h's");

/* out = in * mask / (1 - p), the mask from the train.rng tensor rng on the device; x the
 * forward's input (whose batching decides the windows). */
static ntg_status dropout_mask(ntg__vk_ctx *e, const ntg__vk_opnd *x, const ntg__vk_opnd *rng,
                               const ntg__vk_opnd *in, const ntg__vk_opnd *out)
{
    uint64_t n = ntg__vk_numel(x);
    if (too_large(e, n)) return e->status;
    uint32_t *p = ntg__vk_dispatch(e, NTG_VK_PIPE_dropout_fwd, DR_WORDS, ntg__vk_groups1d(n), 1, 1);
    if (!p) return e->status;
    double prob = ntg__attr_f(e->attr, NTG_DROPOUT_P);
    uint64_t rows = x->d.batched ? (uint64_t)x->d.dims[0] : 1;
    uint64_t stream = (uint64_t)ntg__attr_i(e->attr, NTG_DROPOUT_STREAM);
    uint64_t thr = ntg__dropout_thr(prob);
    double scale = prob < 1 ? 1.0 / (1.0 - prob) : 0.0;
    p[DR_ROWS] = (uint32_t)rows;
    p[DR_INNER] = (uint32_t)(rows > 0 ? n / rows : 0);
    p[DR_BATCHED] = x->d.batched != 0;
    p[DR_STREAM] = (uint32_t)stream;
    p[DR_STREAM + 1] = (uint32_t)(stream >> 32);
    p[DR_THR] = (uint32_t)thr;
    p[DR_THR + 1] = (uint32_t)(thr >> 32);
    p[DR_SCALE_F] = ntg__vk_fbits(scale);
    ntg__vk_dbits(p + DR_SCALE_D, scale);
    ntg__vk_ref(e, p + DR_X, in, 0);
    ntg__vk_ref(e, p + DR_Y, out, 0);
    ntg__vk_ref(e, p + DR_RNG, rng, 0);
    ntg__vk_read(e, in);
    ntg__vk_read(e, rng);
    ntg__vk_write(e, out);
    return e->status;
}

static int same_tensor(const ntg__vk_opnd *a, const ntg__vk_opnd *b)
{
    return a->sto == b->sto && a->off == b->off;
}

/* in = [x, (train.rng)], out = [y]: the identity without train.rng (forecasts, eval) */
ntg_status ntg__vk_fwd_dropout(ntg__vk_ctx *e)
{
    const ntg__vk_opnd *x = &e->in[0], *y = &e->out[0];
    if (e->n_in < 2 || !e->in[1].present) {
        if (same_tensor(x, y)) return NTG_OK;
        return ntg__vk_unary(e, 0, UN_IDENTITY, 0, x, y, NULL, NULL, ntg__vk_numel(y));
    }
    return dropout_mask(e, x, &e->in[1], x, y);
}

/* in = [x, (rng), y, dy], out = [dx, (drng)]: dx = dy * mask / (1 - p), the same mask drawn
 * again (drng, a buffer's gradient, is never written: as the reference) */
ntg_status ntg__vk_bwd_dropout(ntg__vk_ctx *e)
{
    int nfi = e->n_out;
    const ntg__vk_opnd *dx = &e->out[0], *dy = bwd_dy(e, 0);
    if (!dx->present) return NTG_OK;
    if (!dy) return ntg__vk_fill(e, dx, 0.0f);
    if (nfi < 2 || !e->in[1].present) {
        if (same_tensor(dy, dx)) return NTG_OK;
        return ntg__vk_unary(e, 0, UN_IDENTITY, 0, dy, dx, NULL, NULL, ntg__vk_numel(dx));
    }
    return dropout_mask(e, &e->in[0], &e->in[1], dy, dx);
}

/* ---------------------------------------------------------------- batchnorm */

static uint32_t *bn_words(ntg__vk_ctx *e, int pipe, int train)
{
    const ntg_tdesc *x = &e->in[0].d;
    int64_t c = x->dims[1];
    uint32_t *p = ntg__vk_dispatch(e, pipe, BN_WORDS, ntg__vk_groups1d((uint64_t)c), 1, 1);
    if (!p) return NULL;
    double eps = ntg__attr_f(e->attr, NTG_BATCHNORM_EPS);
    p[BN_TRAIN] = (uint32_t)train;
    p[BN_NB] = (uint32_t)x->dims[0];
    p[BN_C] = (uint32_t)c;
    p[BN_L] = (uint32_t)(x->rank == 3 ? x->dims[2] : 1);
    p[BN_EPS_F] = ntg__vk_fbits(eps);
    ntg__vk_dbits(p + BN_EPS_D, eps);
    return p;
}

/* in = [x, weight, bias, running_mean, running_var], out = [y, (saved)] */
ntg_status ntg__vk_fwd_batchnorm(ntg__vk_ctx *e)
{
    const ntg__vk_opnd *saved = e->n_out > 1 && e->out[1].present ? &e->out[1] : NULL;
    if (too_large(e, ntg__vk_numel(&e->in[0]))) return e->status;
    uint32_t *p = bn_words(e, NTG_VK_PIPE_batchnorm_fwd, saved != NULL);
    if (!p) return e->status;
    ntg__vk_ref(e, p + BN_X, &e->in[0], 0);
    ntg__vk_ref(e, p + BN_W, &e->in[1], 0);
    ntg__vk_ref(e, p + BN_BIAS, &e->in[2], 0);
    ntg__vk_ref(e, p + BN_Y, &e->out[0], 0);
    for (int i = 0; i < 3; i++) ntg__vk_read(e, &e->in[i]);
    if (saved) {
        ntg__vk_ref(e, p + BN_SAVED, saved, 0);
        ntg__vk_write(e, saved);
    } else {
        ntg__vk_ref(e, p + BN_RM, &e->in[3], 0);
        ntg__vk_ref(e, p + BN_RV, &e->in[4], 0);
        ntg__vk_read(e, &e->in[3]);
        ntg__vk_read(e, &e->in[4]);
    }
    ntg__vk_write(e, &e->out[0]);
    return e->status;
}

/* in = [x, w, b, rm, rv, y, (saved), dy, (dsaved)], out = [dx, dw, db, drm, drv] */
ntg_status ntg__vk_bwd_batchnorm(ntg__vk_ctx *e)
{
    int nfo = (e->n_in - e->n_out) / 2;
    const ntg__vk_opnd *saved = nfo > 1 && e->in[6].present ? &e->in[6] : NULL;
    const ntg__vk_opnd *dy = bwd_dy(e, 0);
    /* the running statistics are buffers: never wanted, zero if asked (as the reference) */
    for (int k = 3; k < 5; k++)
        if (e->out[k].present && ntg__vk_fill(e, &e->out[k], 0.0f)) return e->status;
    if (!dy) {
        for (int k = 0; k < 3; k++)
            if (e->out[k].present && ntg__vk_fill(e, &e->out[k], 0.0f)) return e->status;
        return e->status;
    }
    if (!e->out[0].present && !e->out[1].present && !e->out[2].present) return e->status;
    if (too_large(e, ntg__vk_numel(&e->in[0]))) return e->status;
    uint32_t *p = bn_words(e, NTG_VK_PIPE_batchnorm_bwd, saved != NULL);
    if (!p) return e->status;
    ntg__vk_ref(e, p + BN_X, &e->in[0], 0);
    ntg__vk_ref(e, p + BN_DY, dy, 0);
    ntg__vk_read(e, &e->in[0]);
    ntg__vk_read(e, dy);
    if (saved) {
        ntg__vk_ref(e, p + BN_SAVED, saved, 0);
        ntg__vk_read(e, saved);
    } else {
        ntg__vk_ref(e, p + BN_RM, &e->in[3], 0);
        ntg__vk_ref(e, p + BN_RV, &e->in[4], 0);
        ntg__vk_read(e, &e->in[3]);
        ntg__vk_read(e, &e->in[4]);
    }
    if (e->out[0].present) {
        ntg__vk_ref(e, p + BN_W, &e->in[1], 0);
        ntg__vk_read(e, &e->in[1]);
        ntg__vk_ref(e, p + BN_Y, &e->out[0], 0);
        p[BN_HAS_DX] = 1;
        ntg__vk_write(e, &e->out[0]);
    }
    if (e->out[1].present) {
        ntg__vk_ref(e, p + BN_DW, &e->out[1], 0);
        p[BN_HAS_DW] = 1;
        ntg__vk_write(e, &e->out[1]);
    }
    if (e->out[2].present) {
        ntg__vk_ref(e, p + BN_DB, &e->out[2], 0);
        p[BN_HAS_DB] = 1;
        ntg__vk_write(e, &e->out[2]);
    }
    return e->status;
}

/* in place: in = [running_mean, running_var, saved] */
ntg_status ntg__vk_fwd_batchnorm_stats(ntg__vk_ctx *e)
{
    uint64_t c = ntg__vk_numel(&e->in[0]);
    uint32_t *p =
        ntg__vk_dispatch(e, NTG_VK_PIPE_batchnorm_stats_fwd, BS_WORDS, ntg__vk_groups1d(c), 1, 1);
    if (!p) return e->status;
    double m = ntg__attr_f(e->attr, NTG_BNSTATS_MOMENTUM);
    p[BS_C] = (uint32_t)c;
    p[BS_M_F] = ntg__vk_fbits(m);
    ntg__vk_dbits(p + BS_M_D, m);
    ntg__vk_ref(e, p + BS_RM, &e->in[0], 0);
    ntg__vk_ref(e, p + BS_RV, &e->in[1], 0);
    ntg__vk_ref(e, p + BS_SAVED, &e->in[2], 0);
    for (int i = 0; i < 3; i++) ntg__vk_read(e, &e->in[i]);
    ntg__vk_write(e, &e->in[0]);
    ntg__vk_write(e, &e->in[1]);
    return e->status;
}
/* ------------------------------------------------------ distribution losses */

/* The words loss_dist_fwd and _bwd share: y [outer, np, inner] around the attribute's axis,
 * t, the mask (NULL: none). */
static void dist_common(ntg__vk_ctx *e, uint32_t *p, uint32_t np, const ntg__vk_opnd *m)
{
    const ntg_tdesc *y = &e->in[0].d;
    int ax = ntg__axis(ntg__attr_i(e->attr, np ? NTG_DIST_AXIS : NTG_XENT_AXIS), y->rank);
    if (!np) np = (uint32_t)y->dims[ax]; /* loss_xent: the class count */
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < ax; d++) outer *= y->dims[d];
    for (int d = ax + 1; d < y->rank; d++) inner *= y->dims[d];
    p[DS_NP] = np;
    p[DS_OUTER] = (uint32_t)outer;
    p[DS_INNER] = (uint32_t)inner;
    ntg__vk_ref(e, p + DS_Y, &e->in[0], 0);
    ntg__vk_ref(e, p + DS_T, &e->in[1], 0);
    ntg__vk_read(e, &e->in[0]);
    ntg__vk_read(e, &e->in[1]);
    if (m) {
        ntg__vk_ref(e, p + DS_M, m, 0);
        p[DS_HAS_M] = 1;
        ntg__vk_read(e, m);
    }
}

/* in = [y, t, (mask)], out = [loss]: one invocation sums the masked NLL */
static ntg_status dist_fwd(ntg__vk_ctx *e, uint32_t np, int pipe)
{
    const ntg__vk_opnd *m = e->n_in > 2 && e->in[2].present ? &e->in[2] : NULL;
    if (too_large(e, ntg__vk_numel(&e->in[0]))) return e->status;
    uint32_t *p = ntg__vk_dispatch(e, pipe, DS_WORDS, 1, 1, 1);
    if (!p) return e->status;
    dist_common(e, p, np, m);
    ntg__vk_ref(e, p + DS_OUT, &e->out[0], 0);
    ntg__vk_write(e, &e->out[0]);
    return e->status;
}

/* in = [y, t, (mask), loss, dloss], out = [dy, dt, (dmask)]: the mask's sum and the loss
 * again into scratch, then the gradients element by element */
static ntg_status dist_bwd(ntg__vk_ctx *e, uint32_t np, int pipe_fwd, int pipe_bwd)
{
    int nfi = e->n_out;
    const ntg__vk_opnd *m = nfi > 2 && e->in[2].present ? &e->in[2] : NULL;
    const ntg__vk_opnd *dl = bwd_dy(e, 0);
    const ntg__vk_opnd *dm = nfi > 2 && e->out[2].present ? &e->out[2] : NULL;
    if (!dl) {
        for (int i = 0; i < nfi; i++)
            if (e->out[i].present && ntg__vk_fill(e, &e->out[i], 0.0f)) return e->status;
        return e->status;
    }
    if (!e->out[0].present && !e->out[1].present && !dm) return e->status;
    if (too_large(e, ntg__vk_numel(&e->in[0]))) return e->status;
    ntg__vk_opnd stats = ntg__vk_scratch(e, 2);
    uint32_t *p = ntg__vk_dispatch(e, pipe_fwd, DS_WORDS, 1, 1, 1);
    if (!p) return e->status;
    dist_common(e, p, np, m);
    p[DS_BWD] = 1;
    ntg__vk_ref(e, p + DS_OUT, &stats, 0);
    ntg__vk_write(e, &stats);
    p = ntg__vk_dispatch(e, pipe_bwd, DS_WORDS, ntg__vk_groups1d(ntg__vk_numel(&e->in[1])), 1, 1);
    if (!p) return e->status;
    dist_common(e, p, np, m);
    ntg__vk_ref(e, p + DS_STATS, &stats, 0);
    ntg__vk_ref(e, p + DS_DL, dl, 0);
    ntg__vk_read(e, &stats);
    ntg__vk_read(e, dl);
    const ntg__vk_opnd *outs[3] = {&e->out[0], &e->out[1], dm};
    for (int k = 0; k < 3; k++) {
        if (!outs[k] || !outs[k]->present) continue;
        ntg__vk_ref(e, p + DS_DY + 2 * k, outs[k], 0);
        p[DS_HAS_DY + k] = 1;
        ntg__vk_write(e, outs[k]);
    }
    return e->status;
}

ntg_status ntg__vk_fwd_loss_normal(ntg__vk_ctx *e)
{
    return dist_fwd(e, 2, NTG_VK_PIPE_loss_dist_fwd);
}
ntg_status ntg__vk_bwd_loss_normal(ntg__vk_ctx *e)
{
    return dist_bwd(e, 2, NTG_VK_PIPE_loss_dist_fwd, NTG_VK_PIPE_loss_dist_bwd);
}
ntg_status ntg__vk_fwd_loss_studentt(ntg__vk_ctx *e)
{
    return dist_fwd(e, 3, NTG_VK_PIPE_loss_dist_fwd);
}
ntg_status ntg__vk_bwd_loss_studentt(ntg__vk_ctx *e)
{
    return dist_bwd(e, 3, NTG_VK_PIPE_loss_dist_fwd, NTG_VK_PIPE_loss_dist_bwd);
}
/* loss_xent: the same words and passes as the distribution losses, NP the class count. */
_Static_assert(NTG_VK_XENT_MAX_CLASSES == NTG_XENT_MAX_CLASSES, "loss_xent's class cap");

ntg_status ntg__vk_fwd_loss_xent(ntg__vk_ctx *e)
{
    return dist_fwd(e, 0, NTG_VK_PIPE_loss_xent_fwd);
}
ntg_status ntg__vk_bwd_loss_xent(ntg__vk_ctx *e)
{
    return dist_bwd(e, 0, NTG_VK_PIPE_loss_xent_fwd, NTG_VK_PIPE_loss_xent_bwd);
}
