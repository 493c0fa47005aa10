// reduce_bwd.comp — gradients of reduce_sum, reduce_mean and reduce_max.
//
// sum/mean: dy spread along the axis (divided by its length for the mean); max: dy to the first
// position holding the maximum (one invocation per line).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"

void main()
{
    Ref x = R(RD_X), y = R(RD_Y), dy = R(RD_DY), dx = R(RD_DX);
    uint outer = P(RD_OUTER), len = P(RD_LEN), inner = P(RD_INNER), mode = P(RD_MODE);
    if (mode != RD_MAX) {
        float fl = float(len);
        for (uint e = gid1(); e < outer * len * inner; e += gstride()) {
            uint i = e % inner, o = e / (len * inner);
            float g = ld(dy, o * inner + i);
            sv(dx, e, mode == RD_MEAN ? g / fl : g);
        }
        return;
    }
    for (uint line = gid1(); line < outer * inner; line += gstride()) {
        uint o = line / inner, i = line % inner, base = o * len * inner + i;
        float m = ld(y, line), g = ld(dy, line);
        bool done = false;
        for (uint l = 0u; l < len; l++) {
            float v = ld(x, base + l * inner);
            bool hit = !done && (v == m || (isnan(v) && isnan(m)));
            sv(dx, base + l * inner, hit ? g : 0.0);
            done = done || hit;
        }
    }
}
