/* cpu_scratch.c — scratch space each reference kernel needs, sized at the maximum batch. */
#include "cpu_kernels.h"
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
    return 0;
}
