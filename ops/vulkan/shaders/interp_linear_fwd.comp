// interp_linear_fwd.comp — linear resampling of the last axis (F.interpolate, linear).
//
// linear resampling of the last axis, index math in float as ATen's CPU kernel.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"

// Source indices and weight of output t ('precise': no contraction, the CPU's roundings).
void interp_src(uint t, out uint i0, out uint i1, out float w1)
{
    uint in_len = P(IP_IN), size = P(IP_SIZE);
    if (in_len == size) {
        i0 = t;
        i1 = t;
        w1 = 0.0;
        return;
    }
    precise float scale = PF(IP_SCALE), src;
    if (P(IP_ALIGN) != 0u) {
        src = scale * float(t);
    } else {
        precise float tf = float(t) + 0.5;
        src = scale * tf - 0.5;
        if (src < 0.0) src = 0.0;
    }
    uint i = uint(floor(src));
    if (i > in_len - 1u) i = in_len - 1u;
    precise float w = src - float(i);
    w = clamp(w, 0.0, 1.0);
    i0 = i;
    i1 = i < in_len - 1u ? i + 1u : i;
    w1 = w;
}

void main()
{
    Ref x = R(IP_X), y = R(IP_Y);
    uint rows = P(IP_ROWS), in_len = P(IP_IN), size = P(IP_SIZE);
    for (uint e = gid1(); e < rows * size; e += gstride()) {
        uint r = e / size, t = e % size, i0, i1;
        float w1;
        interp_src(t, i0, i1, w1);
        precise float v = (1.0 - w1) * ld(x, r * in_len + i0) + w1 * ld(x, r * in_len + i1);
        sv(y, e, v);
    }
}
