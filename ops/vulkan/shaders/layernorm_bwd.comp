// layernorm_bwd.comp — layer norm backward per row; dy * xhat for the weight gradient.
//
// per row from the saved x: dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy weight; dy xhat
// goes to scratch for the dweight column sums.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG_LINE) in;
#include "common.glsl"
#include "reduce.glsl"

void main()
{
    Ref x = R(LN_X), w = R(LN_W), dy = R(LN_DY), dx = R(LN_DX), xh = R(LN_XH);
    uint rows = P(LN_ROWS), d = P(LN_D);
    bool affine = P(LN_AFFINE) != 0u, has_dx = P(LN_HAS_DX) != 0u, has_xh = P(LN_HAS_XH) != 0u;
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
        float sg = 0.0, sgx = 0.0;
        for (uint j = l0; j < d; j += nl) {
            float gy = ld(dy, base + j), h = (ld(x, base + j) - mean) * rstd;
            float g = affine ? gy * ld(w, j) : gy;
            sg += g;
            sgx += g * h;
            if (has_xh) sv(xh, base + j, gy * h);
        }
        sg = wg_sum(sg) / fd;
        sgx = wg_sum(sgx) / fd;
        if (has_dx)
            for (uint j = l0; j < d; j += nl) {
                float gy = ld(dy, base + j), h = (ld(x, base + j) - mean) * rstd;
                float g = affine ? gy * ld(w, j) : gy;
                sv(dx, base + j, rstd * (g - sg - h * sgx));
            }
    }
}
