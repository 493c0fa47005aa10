/* vk_emit.c — the emitter API (dispatches, ranges, scratch) and the shared building blocks. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vk_int.h"

ntg_status ntg__vk_fail(ntg__vk_ctx *e, ntg_status st, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const ntg_op_info *info = ntg__op_info(e->op->code);
    e->status = ntg__fail(e->err, st, "vulkan: %s %s: %s", info ? info->cls->name : "?",
                          e->op->dir ? "backward" : "forward", msg);
    return e->status;
}

uint32_t *ntg__vk_dispatch(ntg__vk_ctx *e, int pipe, uint32_t words, uint32_t gx, uint32_t gy,
                           uint32_t gz)
{
    if (e->status) return NULL;
    if (e->planning) {
        const uint32_t *lim = ntg__vk_max_groups(e->b);
        if (gx > lim[0] || gy > lim[1] || gz > lim[2]) {
            ntg__vk_fail(e, NTG_ERR_UNSUPPORTED,
                         "%u x %u x %u workgroups exceed the device's %u x %u x %u", gx, gy, gz,
                         lim[0], lim[1], lim[2]);
            return NULL;
        }
        ntg__vk_disp d;
        memset(&d, 0, sizeof d);
        d.pipe = (uint32_t)pipe;
        d.words = words;
        d.op = e->op_index;
        d.r0 = UINT32_MAX; /* set by the first range */
        d.gmax[0] = gx;
        d.gmax[1] = gy;
        d.gmax[2] = gz;
        e->status = ntg__vk_plan_push(e->b, &d, e->err);
        uint32_t *w = e->status ? NULL : ntg__vk_plan_sink(e->b, words, e->err);
        if (!w && !e->status) e->status = NTG_ERR_NOMEM;
        return w;
    }
    const ntg__vk_disp *d = ntg__vk_disp_at(e->b, e->cursor);
    if (e->cursor >= e->end || !d || d->pipe != (uint32_t)pipe || d->words != words) {
        ntg__vk_fail(e, NTG_ERR_INTERNAL,
                     "the dispatches at batch %d differ from the prepared ones", e->batch);
        return NULL;
    }
    uint32_t *g = ntg__vk_groups_at(e->b, e->cursor);
    g[0] = gx;
    g[1] = gy;
    g[2] = gz;
    uint32_t *w = ntg__vk_words_at(e->b, e->cursor);
    e->cursor++;
    /* words the emitter leaves unset are zero, as when planning */
    memset(w, 0, (size_t)words * sizeof *w);
    return w;
}

static void use(ntg__vk_ctx *e, const ntg__vk_opnd *o, int write)
{
    if (!e->planning || e->status) return;
    if (!o->present) {
        ntg__vk_fail(e, NTG_ERR_INTERNAL, "a dispatch uses an absent operand");
        return;
    }
    if (!write && !o->has_value) {
        /* the planner may have given its memory to another tensor */
        ntg__vk_fail(e, NTG_ERR_INTERNAL, "a dispatch reads an operand that is not saved");
        return;
    }
    ntg__vk_range r;
    r.sto = (uint8_t)o->sto;
    r.write = (uint8_t)write;
    r.lo = (uint64_t)o->off * 4;
    r.hi = r.lo + o->max_bytes;
    e->status = ntg__vk_plan_range(e->b, &r, e->err);
}

void ntg__vk_read(ntg__vk_ctx *e, const ntg__vk_opnd *o)
{
    use(e, o, 0);
}

void ntg__vk_write(ntg__vk_ctx *e, const ntg__vk_opnd *o)
{
    use(e, o, 1);
}

ntg__vk_opnd ntg__vk_scratch(ntg__vk_ctx *e, uint64_t floats)
{
    ntg__vk_opnd o;
    memset(&o, 0, sizeof o);
    o.present = o.has_value = 1;
    o.sto = 0;
    /* 16-float alignment keeps regions on 64-byte boundaries, as arena tensors are */
    o.off = (uint32_t)e->scratch_top;
    o.max_bytes = floats * 4;
    o.d.dtype = NTG_DTYPE_F32;
    o.d.rank = 1;
    o.d.dims[0] = (int64_t)floats;
    e->scratch_top += (floats + 15) & ~(uint64_t)15;
    if (floats > e->scratch_region) e->scratch_region = floats;
    return o;
}

uint32_t ntg__vk_groups1d(uint64_t n)
{
    uint64_t g = (n + NTG_VK_WG - 1) / NTG_VK_WG;
    return (uint32_t)(g > 4096 ? 4096 : g);
}

uint32_t ntg__vk_line_groups(const ntg__vk_ctx *e, uint64_t lines)
{
    if (ntg__vk_serial(e->b)) {
        uint64_t g = (lines + NTG_VK_WG_LINE - 1) / NTG_VK_WG_LINE;
        return (uint32_t)(g > 4096 ? 4096 : g);
    }
    return (uint32_t)(lines < 65535 ? lines : 65535);
}

void ntg__vk_ref(const ntg__vk_ctx *e, uint32_t *w, const ntg__vk_opnd *o, uint64_t extra)
{
    if (!o->present) {
        w[REF_STO] = w[REF_OFF] = 0;
        return;
    }
    /* the descriptor (window) of its storage that holds the whole operand, and the offset
     * in it; while planning, words are thrown away and windows not yet known */
    uint32_t slot = o->sto;
    uint64_t start = 0;
    if (!e->planning) ntg__vk_window(e->b, o->sto, (uint64_t)o->off * 4, &slot, &start);
    w[REF_STO] = slot;
    w[REF_OFF] = (uint32_t)(o->off + extra - start / 4);
}

uint32_t ntg__vk_fbits(double v)
{
    float f = (float)v;
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

void ntg__vk_dbits(uint32_t *w, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    w[0] = (uint32_t)u;
    w[1] = (uint32_t)(u >> 32);
}

uint64_t ntg__vk_numel(const ntg__vk_opnd *o)
{
    return (uint64_t)ntg__tdesc_numel(&o->d);
}

/* ------------------------------------------------------ building blocks */

ntg_status ntg__vk_fill(ntg__vk_ctx *e, const ntg__vk_opnd *dst, float value)
{
    uint64_t n = ntg__vk_numel(dst);
    uint32_t *p = ntg__vk_dispatch(e, NTG_VK_PIPE_fill, FILL_WORDS, ntg__vk_groups1d(n), 1, 1);
    if (!p) return e->status;
    ntg__vk_ref(e, p + FILL_DST, dst, 0);
    p[FILL_N] = (uint32_t)n;
    p[FILL_VALUE] = ntg__vk_fbits(value);
    ntg__vk_write(e, dst);
    return e->status;
}

ntg_status ntg__vk_copy(ntg__vk_ctx *e, const ntg__vk_opnd *src, int64_t src_extra,
                        const ntg__vk_opnd *dst, int64_t dst_extra, int rank, const int64_t *dims,
                        const int64_t *src_st, const int64_t *dst_st)
{
    int64_t d[NTG_MAX_RANK], ss[NTG_MAX_RANK], ds[NTG_MAX_RANK];
    int r = 0;
    uint64_t n = 1;
    for (int i = 0; i < rank; i++) {
        n *= (uint64_t)dims[i];
        if (dims[i] == 1) continue;
        if (r > 0 && ss[r - 1] == src_st[i] * dims[i] && ds[r - 1] == dst_st[i] * dims[i]) {
            /* axis r-1 steps over whole runs of axis i on both sides: one axis */
            d[r - 1] *= dims[i];
            ss[r - 1] = src_st[i];
            ds[r - 1] = dst_st[i];
            continue;
        }
        d[r] = dims[i];
        ss[r] = src_st[i];
        ds[r] = dst_st[i];
        r++;
    }
    if (r == 0) {
        d[0] = 1;
        ss[0] = ds[0] = 0;
        r = 1;
    }
    uint32_t *p = ntg__vk_dispatch(e, NTG_VK_PIPE_copy, COPY_WORDS, ntg__vk_groups1d(n), 1, 1);
    if (!p) return e->status;
    ntg__vk_ref(e, p + COPY_SRC, src, (uint64_t)src_extra);
    ntg__vk_ref(e, p + COPY_DST, dst, (uint64_t)dst_extra);
    p[COPY_N] = (uint32_t)n;
    p[COPY_RANK] = (uint32_t)r;
    for (int i = 0; i < r; i++) {
        p[COPY_DIMS + i] = (uint32_t)d[i];
        p[COPY_SST + i] = (uint32_t)(int32_t)ss[i];
        p[COPY_DST_ST + i] = (uint32_t)(int32_t)ds[i];
    }
    ntg__vk_read(e, src);
    ntg__vk_write(e, dst);
    return e->status;
}

ntg_status ntg__vk_unary(ntg__vk_ctx *e, int bwd, uint32_t mode, float factor,
                         const ntg__vk_opnd *x, const ntg__vk_opnd *y, const ntg__vk_opnd *dy,
                         const ntg__vk_opnd *dx, uint64_t n)
{
    uint32_t *p = ntg__vk_dispatch(e, bwd ? NTG_VK_PIPE_unary_bwd : NTG_VK_PIPE_unary_fwd, UN_WORDS,
                                   ntg__vk_groups1d(n), 1, 1);
    if (!p) return e->status;
    p[UN_N] = (uint32_t)n;
    p[UN_MODE] = mode;
    p[UN_FACTOR] = ntg__vk_fbits(factor);
    if (!bwd) {
        ntg__vk_ref(e, p + UN_X, x, 0);
        ntg__vk_ref(e, p + UN_Y, y, 0);
        ntg__vk_read(e, x);
        ntg__vk_write(e, y);
        return e->status;
    }
    /* the backward reads x for gelu, log, abs and softplus, y for relu, tanh, sigmoid, exp
     * and sqrt, neither for scale and identity (the op classes' bwd_saves) */
    if (mode == UN_GELU || mode == UN_LOG || mode == UN_ABS || mode == UN_SOFTPLUS) {
        ntg__vk_ref(e, p + UN_X, x, 0);
        ntg__vk_read(e, x);
    } else if (mode != UN_SCALE && mode != UN_IDENTITY) {
        ntg__vk_ref(e, p + UN_Y, y, 0);
        ntg__vk_read(e, y);
    }
    ntg__vk_ref(e, p + UN_DY, dy, 0);
    ntg__vk_ref(e, p + UN_DX, dx, 0);
    ntg__vk_read(e, dy);
    ntg__vk_write(e, dx);
    return e->status;
}

ntg_status ntg__vk_colsum(ntg__vk_ctx *e, const ntg__vk_opnd *x, uint64_t rows, uint64_t cols,
                          uint64_t ldx, const ntg__vk_opnd *y, const ntg__vk_opnd *y2)
{
    uint32_t *p = ntg__vk_dispatch(e, NTG_VK_PIPE_colsum, CS_WORDS, ntg__vk_groups1d(cols), 1, 1);
    if (!p) return e->status;
    ntg__vk_ref(e, p + CS_X, x, 0);
    ntg__vk_ref(e, p + CS_Y, y, 0);
    p[CS_ROWS] = (uint32_t)rows;
    p[CS_COLS] = (uint32_t)cols;
    p[CS_LDX] = (uint32_t)ldx;
    ntg__vk_read(e, x);
    ntg__vk_write(e, y);
    if (y2) {
        ntg__vk_ref(e, p + CS_Y2, y2, 0);
        p[CS_HAS_Y2] = 1;
        ntg__vk_write(e, y2);
    }
    return e->status;
}

ntg_status ntg__vk_gemm(ntg__vk_ctx *e, const ntg__vk_gemm_args *g)
{
    uint64_t q = 1;
    for (int i = 0; i < g->qn; i++) q *= g->qdims[i];
    if (g->m > UINT32_MAX || g->n > UINT32_MAX || g->k > UINT32_MAX || q > UINT32_MAX)
        return ntg__vk_fail(e, NTG_ERR_UNSUPPORTED,
                            "a matrix product too large for 32-bit indices");
    /* fewer than 8 rows of A B^T: the reference's dot products (gemm_direct has them).  The
     * choice is made at the maximum batch and kept: a pipeline cannot change with the batch
     * (gemm_direct takes the dot products at any batch where they apply; the tiled gemm then
     * sums in blocks, which differs from the reference by rounding only). */
    int direct;
    if (e->planning) {
        direct = ntg__vk_direct_gemm(e->b) || (g->m < 8 && !g->a.trans && g->b.trans);
    } else {
        const ntg__vk_disp *d = ntg__vk_disp_at(e->b, e->cursor);
        direct = d && d->pipe == NTG_VK_PIPE_gemm_direct;
    }
    uint64_t tn = direct ? GEMM_TILE_DIRECT : GEMM_TILE, tm = direct ? GEMM_DIRECT_ROWS : GEMM_TILE;
    uint32_t gx = (uint32_t)((g->n + tn - 1) / tn), gy = (uint32_t)((g->m + tm - 1) / tm);
    uint32_t *p = ntg__vk_dispatch(e, direct ? NTG_VK_PIPE_gemm_direct : NTG_VK_PIPE_gemm,
                                   GEMM_WORDS, gx, gy, (uint32_t)q);
    if (!p) return e->status;
    p[GEMM_M] = (uint32_t)g->m;
    p[GEMM_N] = (uint32_t)g->n;
    p[GEMM_K] = (uint32_t)g->k;
    ntg__vk_ref(e, p + GEMM_A, g->a.o, g->a.extra);
    p[GEMM_LDA] = (uint32_t)g->a.ld;
    p[GEMM_TA] = (uint32_t)(g->a.trans != 0);
    ntg__vk_ref(e, p + GEMM_B, g->b.o, g->b.extra);
    p[GEMM_LDB] = (uint32_t)g->b.ld;
    p[GEMM_TB] = (uint32_t)(g->b.trans != 0);
    ntg__vk_ref(e, p + GEMM_C, g->c.o, g->c.extra);
    p[GEMM_LDC] = (uint32_t)g->c.ld;
    p[GEMM_ACC] = (uint32_t)(g->acc != 0);
    p[GEMM_ALPHA] = ntg__vk_fbits(g->alpha);
    if (g->bias) {
        ntg__vk_ref(e, p + GEMM_BIAS, g->bias, 0);
        p[GEMM_BIAS_MODE] = GEMM_BIAS_COL;
    }
    p[GEMM_ACT] = (uint32_t)g->act;
    p[GEMM_QN] = (uint32_t)g->qn;
    for (int i = 0; i < g->qn; i++) {
        p[GEMM_QDIMS + i] = (uint32_t)g->qdims[i];
        p[GEMM_QSA + i] = (uint32_t)g->qsa[i];
        p[GEMM_QSB + i] = (uint32_t)g->qsb[i];
        p[GEMM_QSC + i] = (uint32_t)g->qsc[i];
    }
    p[GEMM_RN] = (uint32_t)g->rn;
    for (int i = 0; i < g->rn; i++) {
        p[GEMM_RDIMS + i] = (uint32_t)g->rdims[i];
        p[GEMM_RSA + i] = (uint32_t)g->rsa[i];
        p[GEMM_RSB + i] = (uint32_t)g->rsb[i];
    }
    ntg__vk_read(e, g->a.o);
    ntg__vk_read(e, g->b.o);
    if (g->bias) ntg__vk_read(e, g->bias);
    if (g->acc) ntg__vk_read(e, g->c.o);
    ntg__vk_write(e, g->c.o);
    return e->status;
}
