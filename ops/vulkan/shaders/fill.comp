// fill.comp — a region set to one value (absent gradients, cleared outputs).
//
// dst[0..n) = value: zero gradients, cleared accumulators.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"

void main()
{
    Ref d = R(FILL_DST);
    uint n = P(FILL_N);
    float v = PF(FILL_VALUE);
    for (uint i = gid1(); i < n; i += gstride()) sv(d, i, v);
}
