// loss_partial.comp — partial sums of m l and m, one chunk per workgroup.
//
// per workgroup, sum m l and sum m over one chunk of the loss's elements.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"
#include "reduce.glsl"
#include "loss.glsl"

void main()
{
    Ref y = R(LS_Y), t = R(LS_T), m = R(LS_M), part = R(LS_PART);
    bool has_m = P(LS_HAS_M) != 0u;
    uint kind = P(LS_KIND), n = P(LS_OUTER) * P(LS_INNER), g = gl_WorkGroupID.x;
    uint lo = g * LS_CHUNK, hi = min(lo + LS_CHUNK, n);
    float s = 0.0, w = 0.0;
    for (uint it = lo + gl_LocalInvocationIndex; it < hi; it += gl_WorkGroupSize.x) {
        float mi = has_m ? ld(m, it) : 1.0;
        s += mi * elem_sum(y, t, kind, it);
        w += mi;
    }
    s = wg_sum(s);
    w = wg_sum(w);
    if (gl_LocalInvocationIndex == 0u) {
        sv(part, 2u * g, s);
        sv(part, 2u * g + 1u, w);
    }
}
