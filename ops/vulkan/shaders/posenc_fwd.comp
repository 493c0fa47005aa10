// posenc_fwd.comp — the sinusoidal positional encoding, in float.
//
// the sinusoidal positional encoding in float (the compiler folds posenc into a constant, so plans
// never run it; this is for completeness and the conformance test).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"

void main()
{
    Ref y = R(PE_Y);
    uint len = P(PE_LEN), d = P(PE_D);
    for (uint e = gid1(); e < len * d; e += gstride()) {
        uint t = e / d, i = e % d, i2 = i - i % 2u;
        // 10000^(i2/d) = exp(i2/d ln 10000)
        float angle = float(t) / exp(float(i2) / float(d) * 9.21034037197618);
        sv(y, e, i % 2u == 1u ? cos(angle) : sin(angle));
    }
}
