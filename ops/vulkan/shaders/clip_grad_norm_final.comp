// clip_grad_norm_final.comp — the global gradient norm and the clipping factor.
//
// one workgroup: the norm from the parts in order, and the factor max_norm / (norm + 1e-6)
// (torch.nn.utils.clip_grad_norm_).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"
#include "reduce.glsl"

void main()
{
    Ref part = R(CL_PART);
    uint np = P(CL_NPART);
    float s = 0.0;
    for (uint g = gl_LocalInvocationIndex; g < np; g += gl_WorkGroupSize.x) s += ld(part, g);
    s = wg_sum(s);
    if (gl_LocalInvocationIndex == 0u) {
        float total = sqrt(s);
        sv(R(CL_OUT), 0u, total);
        sv(R(CL_STATS), 0u, PF(CL_MAXNORM) / (total + 1e-6));
    }
}
