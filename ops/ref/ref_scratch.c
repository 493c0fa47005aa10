/* ref_scratch.c — scratch space each reference kernel needs, sized at the maximum batch. */
#include "ref_kernels.h"
#include "op_attrs.h"

size_t ntg__cpu_scratch_bytes(uint32_t code, int dir, const ntg_kctx *c)
{
    /* dense's backward keeps dZ = dY * act'(.) (rows x units) unless the activation is
     * none, where dZ is dY itself; operands are [x, W, (b), y, dy]. */
    if (code == NTG_OP_dense && dir == NTG_DIR_BWD &&
        ntg__attr_i(c->attr, NTG_DENSE_ACT) != NTG_ACT_NONE) {
        int64_t in = c->in[1].d.dims[1], units = c->in[1].d.dims[0];
        int64_t rows = in > 0 ? ntg__tdesc_numel(&c->in[0].d) / in : 0;
        return (size_t)(rows * units) * sizeof(float);
    }
    /* layernorm's backward sums dweight and dbias over the rows in double: 2 * d doubles */
    if (code == NTG_OP_layernorm && dir == NTG_DIR_BWD &&
        ntg__attr_i(c->attr, NTG_LAYERNORM_AFFINE)) {
        const ntg_tdesc *x = &c->in[0].d;
        return 2 * (size_t)x->dims[x->rank - 1] * sizeof(double);
    }
    /* lstm (k_lstm.c): forward, the layer's gates [B, T, 4H] and the cell [B, H]; backward,
     * the dc carry [B, H] in double, then dgates [B, T, 4H], a sequence [B, T, H] and the
     * recurrent dh [B, H] */
    if (code == NTG_OP_lstm) {
        const ntg_tdesc *x = &c->in[0].d;
        size_t b = (size_t)x->dims[0], rows = b * (size_t)x->dims[1];
        size_t h = (size_t)ntg__attr_i(c->attr, NTG_LSTM_HIDDEN);
        if (dir == NTG_DIR_FWD) return (rows * 4 * h + b * h) * sizeof(float);
        return b * h * sizeof(double) + (rows * 5 * h + b * h) * sizeof(float);
    }
    return 0;
}
