// unary_fwd.comp — relu, gelu (exact erf form), tanh, sigmoid and scale.
//
// y = f(x) for relu, gelu (exact erf form), tanh, sigmoid and scale.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"

void main()
{
    Ref x = R(UN_X), y = R(UN_Y);
    uint n = P(UN_N), mode = P(UN_MODE);
    float f = PF(UN_FACTOR);
    for (uint i = gid1(); i < n; i += gstride()) {
        float v = ld(x, i), r;
        if (mode == UN_RELU)
            r = v < 0.0 ? 0.0 : v; // NaN passes, as torch.relu
        else if (mode == UN_GELU)
            r = ntg_gelu(v);
        else if (mode == UN_TANH)
            r = ntg_tanh(v);
        else if (mode == UN_SIGMOID)
            r = ntg_sigmoid(v);
        else
            r = v * f;
        sv(y, i, r);
    }
}
