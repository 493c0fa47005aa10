// loss_final.comp — the loss from the partial sums, and [L, sum m] for the backward.
//
// one workgroup: the parts summed in order; L = s / (nq w), 0 when w == 0.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"
#include "reduce.glsl"

void main()
{
    Ref part = R(LS_PART), out_ = R(LS_OUT), stats = R(LS_STATS);
    uint np = P(LS_NPART);
    float s = 0.0, w = 0.0;
    for (uint g = gl_LocalInvocationIndex; g < np; g += gl_WorkGroupSize.x) {
        s += ld(part, 2u * g);
        w += ld(part, 2u * g + 1u);
    }
    s = wg_sum(s);
    w = wg_sum(w);
    if (gl_LocalInvocationIndex == 0u) {
        float l = w == 0.0 ? 0.0 : s / (float(P(LS_NQ)) * w);
        if (P(LS_HAS_OUT) != 0u) sv(out_, 0u, l);
        sv(stats, 0u, l);
        sv(stats, 1u, w);
    }
}
