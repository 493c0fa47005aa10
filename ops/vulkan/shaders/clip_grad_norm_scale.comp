// clip_grad_norm_scale.comp — the gradients times the clipping factor when it is below 1.
//
// every input times the factor when it is below 1 (or NaN).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"
#include "clip.glsl"

void main()
{
    float coef = ld(R(CL_STATS), 0u);
    // a factor of 1 changes nothing; a NaN norm still makes every gradient NaN, as torch
    if (coef >= 1.0) return;
    uint g = gl_WorkGroupID.x, e = clip_entry(g);
    Ref x = Ref(P(e + CL_TAB_STO), P(e + CL_TAB_OFF));
    uint n = P(e + CL_TAB_N), lo = (g - P(e + CL_TAB_FIRST)) * CL_CHUNK;
    uint hi = min(lo + CL_CHUNK, n);
    for (uint i = lo + gl_LocalInvocationIndex; i < hi; i += gl_WorkGroupSize.x)
        sv(x, i, ld(x, i) * coef);
}
