// clip_grad_norm_partial.comp — sums of squares of the gradients, one chunk per workgroup.
//
// per workgroup, the sum of squares of one chunk of one input.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"
#include "reduce.glsl"
#include "clip.glsl"

void main()
{
    uint g = gl_WorkGroupID.x, e = clip_entry(g);
    Ref x = Ref(P(e + CL_TAB_STO), P(e + CL_TAB_OFF));
    uint n = P(e + CL_TAB_N), lo = (g - P(e + CL_TAB_FIRST)) * CL_CHUNK;
    uint hi = min(lo + CL_CHUNK, n);
    float s = 0.0;
    for (uint i = lo + gl_LocalInvocationIndex; i < hi; i += gl_WorkGroupSize.x) {
        float v = ld(x, i);
        s += v * v;
    }
    s = wg_sum(s);
    if (gl_LocalInvocationIndex == 0u) sv(R(CL_PART), g, s);
}
