// layernorm_fwd.comp — layer norm over rows (torch.nn.LayerNorm), two-pass variance.
//
// torch.nn.LayerNorm over rows: two passes (mean, then the biased variance).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG_LINE) in;
#include "common.glsl"
#include "reduce.glsl"

void main()
{
    Ref x = R(LN_X), w = R(LN_W), b = R(LN_B), y = R(LN_Y);
    uint rows = P(LN_ROWS), d = P(LN_D);
    bool affine = P(LN_AFFINE) != 0u;
    float eps = PF(LN_EPS), fd = float(d);
    uint l0 = LANE, nl = LANES;
    for (uint r = LINE0; r < rows; r += LINE_STEP) {
        uint base = r * d;
        float s = 0.0;
        for (uint j = l0; j < d; j += nl) s += ld(x, base + j);
        float mean = wg_sum(s) / fd;
        float v = 0.0;
        for (uint j = l0; j < d; j += nl) {
            float e = ld(x, base + j) - mean;
            v += e * e;
        }
        float rstd = inversesqrt(wg_sum(v) / fd + eps);
        for (uint j = l0; j < d; j += nl) {
            float h = (ld(x, base + j) - mean) * rstd;
            sv(y, base + j, affine ? h * ld(w, j) + ld(b, j) : h);
        }
    }
}
