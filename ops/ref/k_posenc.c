/* k_posenc.c — reference kernel of posenc, the sinusoidal positional encoding. */
#include <math.h>

#include "ref_kernels.h"
#include "op_attrs.h"

/*
 * pe[t, 2i] = sin(t / 10000^(2i/d)), pe[t, 2i+1] = cos(same), evaluated exactly as the
 * PyTorch reference builds it (float64 throughout: t, the exponent 2i / d as
 * arange(0, d, 2) / d, pow(10000, .), the quotient, sin and cos) and rounded to float once,
 * so the table equals torch's float64-then-float32 result.
 */
void ntg__cpu_fwd_posenc(const ntg_kctx *c)
{
    float *pe = c->out[0].data;
    int64_t len = c->out[0].d.dims[0], d = c->out[0].d.dims[1];
    for (int64_t i2 = 0; i2 < d; i2 += 2) {
        double div = pow(10000.0, (double)i2 / (double)d);
        for (int64_t t = 0; t < len; t++) {
            double angle = (double)t / div;
            pe[t * d + i2] = (float)sin(angle);
            pe[t * d + i2 + 1] = (float)cos(angle);
        }
    }
}
