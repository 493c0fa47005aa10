// unary_fwd.comp — relu, gelu, tanh, sigmoid, scale, exp, log, abs, sqrt, softplus, identity.
//
// y = f(x) for relu, gelu (exact erf form), tanh, sigmoid, scale, exp, log, abs, sqrt,
// softplus and identity.  log and sqrt outside their domain are IEEE's (as torch), spelled out
// because GLSL leaves them undefined there.
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
        else if (mode == UN_EXP)
            r = exp(v);
        else if (mode == UN_LOG)
            r = v > 0.0    ? log(v)
                : v == 0.0 ? -uintBitsToFloat(0x7f800000u) // -inf
                           : uintBitsToFloat(0x7fc00000u); // NaN (and NaN in)
        else if (mode == UN_ABS)
            r = abs(v);
        else if (mode == UN_SQRT)
            r = v > 0.0 ? sqrt(v) : v == 0.0 ? v : uintBitsToFloat(0x7fc00000u); // sqrt(-0) = -0
        else if (mode == UN_SOFTPLUS)
            r = ntg_softplus(v);
        else if (mode == UN_IDENTITY)
            r = v;
        else
            r = v * f;
        sv(y, i, r);
    }
}
